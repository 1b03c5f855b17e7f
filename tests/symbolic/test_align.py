"""Score alignment: a synthetic score and performance with known errors, then real data."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from pianoeval.errors import AlignmentError, ParameterError
from pianoeval.symbolic.align import (
    ALIGN_BACKENDS,
    Alignment,
    align,
    alignment_features,
    anchors_from_downbeats,
    load_score,
    note_accuracy,
    score_from_notes,
)
from pianoeval.symbolic.align.parangonar import OnsetDTW
from pianoeval.symbolic.midi import NOTE_DTYPE, PEDAL_DTYPE, PerformanceMidi, load_midi

SPQ = 0.5  # 120 quarters a minute
STRETCH = 1.1  # the performance is 10 % slower
MELODY = [72, 74, 76, 77, 79, 77, 76, 74, 72, 76, 79, 84, 83, 81, 79, 77]  # 16 quarters
BASS = [48, 43, 45, 41, 48, 43, 45, 41]  # 8 half notes
WRONG, DROPPED = 5, 10  # melody notes: played a semitone high / left out
EXTRA_AT_Q, EXTRA_PITCH = 6.5, 60  # an extra note between beats, far from the missing ones


def _write(path: Path, notes: list[tuple[float, float, int, int]], ts: bool = True) -> Path:
    pm = pretty_midi.PrettyMIDI(initial_tempo=60 / SPQ)
    if ts:
        pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(v, p, s, e) for s, e, p, v in notes]
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def _score_notes() -> list[tuple[float, float, int, int]]:
    mel = [(q * SPQ, (q + 1) * SPQ, p, 64) for q, p in enumerate(MELODY)]
    bass = [(2 * q * SPQ, 2 * (q + 1) * SPQ, p, 64) for q, p in enumerate(BASS)]
    return sorted(mel + bass)


@pytest.fixture
def pair(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, Path]:
    score = _write(tmp_path / "score.mid", _score_notes())
    perf = []
    for q, p in enumerate(MELODY):
        if q == DROPPED:
            continue
        jitter = float(rng.uniform(-0.004, 0.004))
        on = q * SPQ * STRETCH + 0.3 + jitter
        perf.append((on, on + 0.9 * SPQ * STRETCH, p + (q == WRONG), 70))
    for q, p in enumerate(BASS):
        on = 2 * q * SPQ * STRETCH + 0.3
        perf.append((on, on + 1.8 * SPQ * STRETCH, p, 55))
    on = EXTRA_AT_Q * SPQ * STRETCH + 0.3
    perf.append((on, on + 0.2, EXTRA_PITCH, 40))
    return score, _write(tmp_path / "perf.mid", sorted(perf), ts=False)


def test_alignment_finds_the_wrong_missed_and_extra_notes(pair: tuple[Path, Path]) -> None:
    score_path, perf_path = pair
    score, perf = load_score(score_path), load_midi(perf_path)
    al = align(perf, score)
    assert (al.n_matched, al.n_missing, al.n_extra) == (22, 2, 2)
    missing = score.notes[al.missing]
    assert sorted(missing["pitch"].tolist()) == sorted([MELODY[WRONG], MELODY[DROPPED]])
    assert sorted(missing["onset_quarter"].tolist()) == [WRONG, DROPPED]
    extra = perf.notes[al.extra]
    assert sorted(extra["pitch"].tolist()) == sorted([MELODY[WRONG] + 1, EXTRA_PITCH])
    acc = note_accuracy(al)
    assert acc["n_wrong_pitch"] == 1
    assert acc["match_rate"] == pytest.approx(22 / 24)
    assert acc["extra_rate"] == pytest.approx(2 / 24)
    assert acc["wrong_pitch_rate"] == pytest.approx(1 / 24)
    # every matched pair plays the right pitch
    m = al.matched()
    assert np.all(m["pitch"] == score.notes["pitch"][m["score_index"]])


def test_bars_come_from_the_measures_or_the_downbeats(pair: tuple[Path, Path]) -> None:
    score_path, perf_path = pair
    score = load_score(score_path)
    assert (score.time_source, score.bar_source) == ("midi_tempo", "measures")
    expected = (score.notes["onset_quarter"] // 4).astype(int) + 1
    assert np.array_equal(score.notes["bar"], expected)
    al = align(perf_path, score)
    assert al.bars() == (1, 4)
    # downbeats in score seconds: a pickup of one bar, so every bar number drops by one
    al_db = align(perf_path, score, downbeats_sec=[2.0, 4.0, 6.0])
    assert al_db.bar_source == "downbeats"
    assert np.array_equal(al_db.score_notes["bar"], expected - 1)


def test_tempo_ratio_and_articulation(pair: tuple[Path, Path]) -> None:
    score_path, perf_path = pair
    perf = load_midi(perf_path)
    feats = alignment_features(perf, align(perf, score_path))
    assert all(k.startswith("alignment.") for k in feats)
    assert feats["alignment.tempo_ratio"] == pytest.approx(STRETCH, abs=0.01)
    assert feats["alignment.tempo_variability"] < 0.02
    assert abs(feats["alignment.onset_dev_mean_ms"]) < 3
    assert feats["alignment.onset_dev_abs_ms"] < 6
    # melody held 90 %, bass 90 % of their notated values
    assert feats["alignment.duration_ratio_mean"] == pytest.approx(0.9, abs=0.03)
    assert feats["alignment.staccato_share"] == 0.0
    assert feats["alignment.final_bar_slowdown"] == pytest.approx(1.0, abs=0.05)
    assert feats["alignment.match_rate"] == pytest.approx(22 / 24)


def test_final_bar_slowdown_sees_a_ritardando(tmp_path: Path) -> None:
    score = _write(
        tmp_path / "s.mid", [(q * SPQ, (q + 1) * SPQ, 60 + q % 5, 64) for q in range(16)]
    )
    times, t = [], 0.0
    for q in range(16):
        times.append(t)
        t += SPQ * (1.5 if q >= 11 else 1.0)  # the last bar is played 1.5 times slower
    perf = _write(tmp_path / "p.mid", [(s, s + 0.4, 60 + q % 5, 64) for q, s in enumerate(times)])
    p = load_midi(perf)
    feats = alignment_features(p, align(p, score))
    assert feats["alignment.final_bar_slowdown"] == pytest.approx(1.5, abs=0.1)


def test_fast_onset_dtw_takes_parangonar_s_path(rng: np.random.Generator) -> None:
    from parangonar.match.matchers import OnsetMatcherDTW

    for _ in range(5):
        n_s = int(rng.integers(20, 60))
        score = np.zeros(n_s, dtype=[("onset_beat", "f8"), ("pitch", "i4")])
        score["onset_beat"] = np.sort(rng.integers(0, n_s // 2, n_s)).astype(float)
        score["pitch"] = rng.integers(55, 70, n_s)
        perf = np.zeros(int(rng.integers(20, 60)), dtype=[("onset_sec", "f8"), ("pitch", "i4")])
        perf["pitch"] = rng.integers(55, 70, perf.size)
        for flip in (False, True):
            ref, _ = OnsetMatcherDTW()(score, perf, flip=flip)
            ours, _ = OnsetDTW()(score, perf, flip=flip)
            assert np.array_equal(np.asarray(ref), ours)


def test_anchored_alignment_matches_the_whole_one(pair: tuple[Path, Path]) -> None:
    score_path, perf_path = pair
    whole = align(perf_path, score_path)
    anchors = anchors_from_downbeats(
        0.3 + np.array([0.0, 2.0, 4.0, 6.0]) * STRETCH, [0.0, 2.0, 4.0, 6.0], every=2
    )
    assert anchors.shape == (2, 2)
    pieces = align(perf_path, score_path, anchors=anchors, margin_sec=0.5)
    assert np.array_equal(whole.perf_index, pieces.perf_index)
    assert np.array_equal(whole.score_index, pieces.score_index)
    with pytest.raises(ParameterError, match="same bars"):
        anchors_from_downbeats([0, 1, 2], [0, 1])


def test_window_and_dict_round_trip(pair: tuple[Path, Path]) -> None:
    score_path, perf_path = pair
    al = align(perf_path, score_path)
    d = json.loads(json.dumps(al.to_dict()))
    back = Alignment.from_dict(d)
    assert np.array_equal(back.perf_index, al.perf_index)
    assert np.array_equal(back.missing, al.missing)
    assert np.array_equal(back.score_notes, al.score_notes)
    assert d["bars"] == [1, 4]
    # the second half of the performance: bars 3-4, the dropped note, no wrong note
    t0 = 0.3 + 8 * SPQ * STRETCH - 0.01
    win = al.window(t0, 100.0)
    assert win.bars() == (3, 4)
    assert (win.n_missing, win.n_extra) == (1, 0)
    assert len(win.perf_notes) == int(np.sum(al.perf_notes["onset_sec"] >= t0))


def test_alignment_errors_are_clear(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    score_path, _ = pair
    empty = tmp_path / "empty.mid"
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(0))
    pm.write(str(empty))
    with pytest.raises(AlignmentError, match="no notes"):
        load_score(empty)
    with pytest.raises(AlignmentError, match="does not exist"):
        load_score(tmp_path / "nope.mid")
    other = _write(tmp_path / "other.mid", [(q * 0.5, q * 0.5 + 0.4, 100, 64) for q in range(8)])
    with pytest.raises(AlignmentError, match="no performed note matches"):
        align(other, score_path)


@pytest.mark.data
def test_percepiano_segments_align_to_their_score(data_root: Path) -> None:
    from pianoeval.data.percepiano import percepiano_score_path

    midi = data_root / "percepiano" / "midi"
    names = [
        "Beethoven_WoO80_var27_8bars_3_15",
        "Schubert_D960_mv2_8bars_10_01",
        "Schubert_D935_no.3_4bars_2_1",
        "Schubert_D960_mv3_16bars_1_07",
    ]
    align(midi / f"{names[0]}.mid", percepiano_score_path(names[0], data_root))  # imports
    for name in names:
        path = next(midi.glob(f"*{name}.mid"))
        score = percepiano_score_path(path.name, data_root)
        assert score is not None, name
        t = time.perf_counter()
        al = align(path, score)
        elapsed = time.perf_counter() - t
        acc = note_accuracy(al)
        assert acc["match_rate"] > 0.85, (name, acc)
        assert acc["extra_rate"] < 0.2, (name, acc)
        assert elapsed < 1.0, (name, elapsed)
        perf = load_midi(path)
        feats = alignment_features(perf, al)
        # score MIDI tempos are nominal for some pieces (D960 mv. 2 is written at 120 qpm)
        assert 0.25 < feats["alignment.tempo_ratio"] < 4.0


@pytest.mark.data
def test_asap_performance_aligns_to_midi_score(data_root: Path) -> None:
    from pianoeval.data.asap import read_annotations

    folder = data_root / "asap" / "Bach" / "Fugue" / "bwv_846"
    score_db = read_annotations(folder / "midi_score_annotations.txt").downbeats_sec
    perf_db = read_annotations(folder / "Shi05M_annotations.txt").downbeats_sec
    score = load_score(folder / "midi_score.mid", downbeats_sec=score_db)
    al = align(
        folder / "Shi05M.mid", score, anchors=anchors_from_downbeats(perf_db, score_db, every=4)
    )
    acc = note_accuracy(al)
    assert acc["match_rate"] > 0.9, acc
    assert acc["precision"] > 0.9, acc
    assert al.bars() == (0, score_db.size)  # the fugue starts with a pickup


# --------------------------------------------------------------------------- backends


@pytest.mark.parametrize("backend", ALIGN_BACKENDS.names())
def test_every_backend_finds_the_known_errors(pair: tuple[Path, Path], backend: str) -> None:
    score_path, perf_path = pair
    score, perf = load_score(score_path), load_midi(perf_path)
    al = align(perf, score, backend=backend)
    assert type(al) is Alignment
    assert al.method == ("chord_dtw" if backend == "chord_dtw" else "parangonar.DualDTWNoteMatcher")
    assert (al.n_matched, al.n_missing, al.n_extra) == (22, 2, 2)
    missing = score.notes[al.missing]
    assert sorted(missing["onset_quarter"].tolist()) == [WRONG, DROPPED]
    extra = perf.notes[al.extra]
    assert sorted(extra["pitch"].tolist()) == sorted([MELODY[WRONG] + 1, EXTRA_PITCH])
    m = al.matched()
    assert np.all(m["pitch"] == score.notes["pitch"][m["score_index"]])
    # pairs in performance order whatever the backend
    assert np.all(np.diff(al.perf_index) > 0)
    # the time map: score seconds to the performance's (10 % slower, 0.3 s late)
    due = al.score_to_perf(np.array([1.0, 4.0, 7.0]))
    np.testing.assert_allclose(due, 0.3 + STRETCH * np.array([1.0, 4.0, 7.0]), atol=0.01)
    assert note_accuracy(al)["n_wrong_pitch"] == 1


def test_alignment_round_trips_with_its_time_map(pair: tuple[Path, Path]) -> None:
    score_path, perf_path = pair
    al = align(perf_path, score_path, backend="chord_dtw")
    d = json.loads(json.dumps(al.to_dict()))
    back = Alignment.from_dict(d)
    np.testing.assert_array_equal(back.anchor_score_sec, al.anchor_score_sec)
    np.testing.assert_array_equal(back.score_to_perf([2.0]), al.score_to_perf([2.0]))
    assert back.method == "chord_dtw"
    # a version-1 record (no time map) still reads
    d.pop("time_map")
    d["schema_version"] = 1
    assert Alignment.from_dict(d).anchor_score_sec.size == 0


def test_backend_choice_is_checked(pair: tuple[Path, Path]) -> None:
    score_path, perf_path = pair
    with pytest.raises(ParameterError, match="unknown alignment backend 'nope'"):
        align(perf_path, score_path, backend="nope")
    with pytest.raises(ParameterError, match="takes no anchors"):
        align(perf_path, score_path, backend="chord_dtw", anchors=[[0.3, 0.0], [2.5, 2.0]])


def _long_piece(rng: np.random.Generator, n_bars: int) -> tuple[np.ndarray, np.ndarray]:
    """Score and performance notes (NOTE_DTYPE) of a piece with rubato and mistakes."""
    rows = []
    for bar in range(n_bars):
        root = 48 + [0, 5, 7, 0, 9, 2, 7, 0][bar % 8]
        t = 2.0 * bar
        rows += [(t, t + 2.0, p) for p in (root, root + 4, root + 7)]
        rows += [
            (t + 0.25 * k, t + 0.25 * k + 0.25, 72 + int(rng.integers(0, 12))) for k in range(8)
        ]
    score = np.zeros(len(rows), dtype=NOTE_DTYPE)
    score["onset_sec"] = [r[0] for r in rows]
    score["offset_sec"] = [r[1] for r in rows]
    score["pitch"] = [r[2] for r in rows]
    score["velocity"] = 64
    score = score[np.lexsort((score["pitch"], score["onset_sec"]))]
    warp = score["onset_sec"] * (1.0 + 0.05 * np.sin(score["onset_sec"] / 5.0))
    perf = score.copy()
    perf["onset_sec"] = warp + rng.normal(0, 0.01, len(perf)) + 0.5
    perf["offset_sec"] = perf["onset_sec"] + 0.2
    perf = perf[rng.random(len(perf)) > 0.02]  # some missed notes
    perf = perf[np.lexsort((perf["pitch"], perf["onset_sec"]))]
    return score, perf


def _performance(notes: np.ndarray) -> PerformanceMidi:
    empty = np.zeros(0, dtype=PEDAL_DTYPE)
    end = float(notes["offset_sec"].max())
    return PerformanceMidi("perf.mid", notes, empty, empty.copy(), empty.copy(), end)


def test_banded_chord_dtw_finds_the_full_dtw_s_matches(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pianoeval.symbolic.align import chord_dtw

    score_notes, perf_notes = _long_piece(rng, 40)  # 440 notes, 320 chords a side
    score, perf = score_from_notes(score_notes), _performance(perf_notes)
    full = align(perf, score, backend="chord_dtw")
    calls: list[int] = []
    real = chord_dtw._banded_dtw_path

    def spy(n: int, m: int, lo: np.ndarray, hi: np.ndarray, row_cost: object) -> object:
        calls.append(int(np.sum(hi - lo)))
        return real(n, m, lo, hi, row_cost)  # type: ignore[arg-type]

    monkeypatch.setattr(chord_dtw, "FULL_DTW_CELLS", 400)  # three levels of coarsening
    monkeypatch.setattr(chord_dtw, "_banded_dtw_path", spy)
    banded = align(perf, score, backend="chord_dtw")
    assert len(calls) >= 3
    assert calls[-1] < 0.25 * 320 * 320  # the full-resolution DTW saw a band only
    np.testing.assert_array_equal(banded.perf_index, full.perf_index)
    np.testing.assert_array_equal(banded.score_index, full.score_index)
    assert full.n_matched == len(perf_notes)
