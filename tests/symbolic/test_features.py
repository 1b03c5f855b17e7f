"""Symbolic performance features: analytic answers on synthetic MIDIs, and the registry
contract run over every family."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from pianoeval.errors import ParameterError, SchemaError
from pianoeval.examples import example_metadata, example_midi_path, example_score_path
from pianoeval.symbolic import load_midi
from pianoeval.symbolic.align import align, score_from_notes
from pianoeval.symbolic.align.chord_dtw import isotonic
from pianoeval.symbolic.features import (
    FEATURE_FAMILIES,
    FeatureCache,
    FeatureFamily,
    extract_bar_features,
    extract_features,
    feature_columns,
    features_table,
    get_feature_family,
    make_context,
    validate_family_output,
)
from pianoeval.symbolic.midi import NOTE_DTYPE, PEDAL_DTYPE, PerformanceMidi

Note = tuple[float, float, int, int]  # onset_sec, offset_sec, pitch, velocity


def write_midi(
    path: Path,
    notes: Sequence[Note],
    *,
    sustain: Sequence[tuple[float, int]] = (),
    bpm: float = 120.0,
) -> Path:
    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    inst = pretty_midi.Instrument(program=0)
    for on, off, pitch, vel in notes:
        inst.notes.append(pretty_midi.Note(velocity=vel, pitch=pitch, start=on, end=off))
    for t, v in sustain:
        inst.control_changes.append(pretty_midi.ControlChange(number=64, value=v, time=t))
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def scale_notes(onsets: Sequence[float], dur: float | Sequence[float], vel: int = 64) -> list[Note]:
    pitches = [60, 62, 64, 65, 67, 69, 71, 72]
    durs = [dur] * len(onsets) if isinstance(dur, float) else list(dur)
    return [
        (float(t), float(t) + d, pitches[k % len(pitches)], vel)
        for k, (t, d) in enumerate(zip(onsets, durs, strict=True))
    ]


@pytest.fixture
def metronome(tmp_path: Path) -> Path:
    onsets = np.arange(32) * 0.5
    return write_midi(tmp_path / "metronome.mid", scale_notes(onsets, 0.4))


@pytest.fixture
def ritardando(tmp_path: Path) -> Path:
    iois = 0.4 * 1.03 ** np.arange(31)  # every beat 3 % longer than the one before
    onsets = np.concatenate([[0.0], np.cumsum(iois)])
    return write_midi(tmp_path / "rit.mid", scale_notes(onsets, 0.3))


@pytest.fixture
def one_note(tmp_path: Path) -> Path:
    return write_midi(tmp_path / "one.mid", [(0.0, 0.5, 60, 80)])


# --------------------------------------------------------------------------- analytic


def test_steady_metronome_has_no_tempo_variability(metronome: Path) -> None:
    f = extract_features(metronome)
    assert f["timing.tempo_var"] == pytest.approx(0.0, abs=1e-9)
    assert f["timing.drift"] == pytest.approx(0.0, abs=1e-9)
    assert f["timing.ioi_log_std"] == pytest.approx(0.0, abs=1e-6)
    assert f["timing.ioi_median_sec"] == pytest.approx(0.5, abs=1e-3)


def test_ritardando_increases_drift(metronome: Path, ritardando: Path) -> None:
    steady, rit = extract_features(metronome), extract_features(ritardando)
    assert rit["timing.drift"] > steady["timing.drift"] + 0.5
    assert rit["timing.drift_late"] > 0.2
    # against the metronome as its score: slower than notated, slowing down
    aligned = extract_features(ritardando, score=metronome)
    assert aligned["score.match_frac_score"] == 1.0
    assert aligned["timing.tempo_drift"] > 0.5
    assert aligned["pace.end_ritard"] > 0.1
    assert aligned["pace.tempo_ratio_log"] > 0.0
    same = extract_features(metronome, score=metronome)
    assert same["timing.tempo_std"] == pytest.approx(0.0, abs=1e-9)
    assert same["pace.tempo_ratio_log"] == pytest.approx(0.0, abs=1e-9)
    assert same["timing.onset_dev_local_ms"] == pytest.approx(0.0, abs=1e-6)


def test_pedal_on_fraction_is_exact(tmp_path: Path) -> None:
    notes = [(float(t), float(t) + 1.0, 60 + t, 64) for t in range(10)]  # 0 s to 10 s
    path = write_midi(
        tmp_path / "pedal.mid", notes, sustain=[(2.0, 127), (5.0, 0), (6.0, 60), (8.0, 0)]
    )
    f = extract_features(path, families=["pedal"])
    assert f["pedal.on_frac"] == pytest.approx(0.3)
    assert f["pedal.half_frac"] == pytest.approx(0.2)  # 60 lies in the half-pedal band
    assert f["pedal.touched_frac"] == pytest.approx(0.5)
    assert f["pedal.presses_per_sec"] == pytest.approx(0.1)
    assert f["pedal.press_mean_sec"] == pytest.approx(3.0)


def test_pedal_held_across_harmony_changes(tmp_path: Path) -> None:
    c_major, f_major = (60, 64, 67), (65, 69, 72)
    notes = [(float(t), float(t) + 0.9, p, 64) for t in range(8) for p in (c_major, f_major)[t % 2]]
    blurred = write_midi(tmp_path / "blur.mid", notes, sustain=[(0.0, 127), (8.5, 0)])
    clean_events = [(0.0, 127)]
    for t in range(1, 8):  # lift at each new chord, press again 0.1 s later
        clean_events += [(float(t), 0), (t + 0.1, 127)]
    clean = write_midi(tmp_path / "clean.mid", notes, sustain=[*clean_events, (8.5, 0)])
    fb, fc = extract_features(blurred), extract_features(clean)
    assert fb["pedal.held_across_harmony"] == pytest.approx(1.0)
    assert fc["pedal.held_across_harmony"] == pytest.approx(0.0)
    assert fb["pedal.blur_pc_log"] > fc["pedal.blur_pc_log"]


def test_legato_and_staccato_fractions(tmp_path: Path) -> None:
    onsets = np.arange(16) * 0.5
    legato = extract_features(write_midi(tmp_path / "leg.mid", scale_notes(onsets, 0.55)))
    staccato = extract_features(write_midi(tmp_path / "stac.mid", scale_notes(onsets, 0.15)))
    assert legato["articulation.legato_frac"] == 1.0
    assert legato["articulation.staccato_frac"] == 0.0
    assert staccato["articulation.legato_frac"] == 0.0
    assert staccato["articulation.staccato_frac"] == 1.0
    assert legato["articulation.duty_median"] == pytest.approx(1.1)
    assert staccato["articulation.duty_median"] == pytest.approx(0.3)
    assert legato["articulation.kor_top_mean"] == pytest.approx(0.1)


def test_louder_melody_gives_positive_voicing(tmp_path: Path) -> None:
    def chords(top_vel: int, rest_vel: int) -> list[Note]:
        return [
            (t * 0.5, t * 0.5 + 0.4, p, top_vel if p == 72 else rest_vel)
            for t in range(12)
            for p in (48, 60, 64, 72)
        ]

    loud_top = extract_features(write_midi(tmp_path / "a.mid", chords(90, 50)))
    soft_top = extract_features(write_midi(tmp_path / "b.mid", chords(40, 70)))
    assert loud_top["voicing.top_minus_rest_vel"] == pytest.approx(40.0)
    assert loud_top["voicing.top_loudest_frac"] == 1.0
    assert soft_top["voicing.top_minus_rest_vel"] == pytest.approx(-30.0)
    assert loud_top["voicing.high_minus_low_vel"] > 0 > soft_top["voicing.high_minus_low_vel"]


def test_dynamics_range_and_crescendo(tmp_path: Path) -> None:
    onsets = np.arange(32) * 0.5
    notes = [(t, t + 0.4, 60, int(30 + 2 * k)) for k, t in enumerate(onsets)]
    f = extract_features(write_midi(tmp_path / "cresc.mid", notes))
    assert f["dynamics.vel_p05"] < 40
    assert f["dynamics.vel_range"] == pytest.approx(0.9 * 62, abs=1.0)
    assert f["dynamics.cresc_slope_max"] > 0
    assert f["dynamics.vel_trend"] > 0


def _notes(onsets: np.ndarray, pitches: np.ndarray, dur: float = 0.3) -> np.ndarray:
    arr = np.zeros(len(onsets), dtype=NOTE_DTYPE)
    arr["onset_sec"], arr["offset_sec"] = onsets, onsets + dur
    arr["pitch"], arr["velocity"] = pitches, 64
    return arr


def _perf(notes: np.ndarray) -> PerformanceMidi:
    empty = np.zeros(0, dtype=PEDAL_DTYPE)
    end = float(notes["offset_sec"].max())
    return PerformanceMidi("perf.mid", notes, empty, empty.copy(), empty.copy(), end)


def test_alignment_recovers_a_tempo_change() -> None:
    s_on = np.arange(16) * 0.5
    pitch = np.tile([60.0, 64.0, 67.0, 72.0], 4)
    score = score_from_notes(_notes(s_on, pitch))
    a = align(_perf(_notes(s_on * 1.5 + 0.2, pitch)), score, backend="chord_dtw")
    assert a.n_matched == 16
    np.testing.assert_allclose(a.score_to_perf(np.array([1.0, 2.0])), [1.7, 3.2])
    # an extra note in the performance stays unmatched
    p_on = np.append(s_on, 3.3)
    p_pitch = np.append(pitch, 90.0)
    order = np.argsort(p_on, kind="stable")
    b = align(_perf(_notes(p_on[order], p_pitch[order])), score, backend="chord_dtw")
    assert b.n_matched == 16
    assert b.extra.tolist() == [int(np.flatnonzero(order == 16)[0])]


def test_isotonic_is_monotone() -> None:
    y = np.array([1.0, 3.0, 2.0, 4.0, 0.0])
    fit = isotonic(y)
    assert np.all(np.diff(fit) >= 0)
    assert fit.sum() == pytest.approx(y.sum())


# --------------------------------------------------------------------------- contract


def _contexts(metronome: Path, one_note: Path) -> dict[str, object]:
    ctx = make_context(example_midi_path(), score=example_score_path())
    return {
        "one_note": make_context(one_note),
        "one_note_scored": make_context(one_note, score=metronome),
        "metronome": make_context(metronome),
        "example_scored": ctx,
        "example_bare": make_context(example_midi_path()),
        "bar": ctx.window(ctx.t_start + 2.0, ctx.t_start + 4.0),
        "empty_window": ctx.window(-10.0, -5.0),
    }


@pytest.mark.parametrize("name", FEATURE_FAMILIES.names())
def test_every_family_keeps_its_contract(name: str, metronome: Path, one_note: Path) -> None:
    family = get_feature_family(name)
    assert family.name == name
    assert len(set(family.columns)) == len(family.columns)
    assert set(family.score_columns) <= set(family.columns)
    for label, ctx in _contexts(metronome, one_note).items():
        out = family.compute(ctx)  # type: ignore[arg-type]
        assert list(out) == family.prefixed_columns, label
        assert all(k.startswith(f"{name}.") for k in out)
        assert all(math.isfinite(v) for v in out.values()), (label, out)


def test_extract_features_same_columns_for_any_input(metronome: Path, one_note: Path) -> None:
    expected = feature_columns()
    for args in (
        (one_note, None),
        (one_note, metronome),
        (metronome, None),
        (example_midi_path(), example_score_path()),
        (load_midi(example_midi_path()), load_midi(example_score_path())),
    ):
        f = extract_features(args[0], score=args[1])
        assert list(f) == expected
        assert all(math.isfinite(v) for v in f.values())
    bare = extract_features(one_note)
    family_of_score = get_feature_family("score")
    assert all(bare[c] == 0.0 for c in family_of_score.prefixed_columns)


def test_score_columns_are_neutral_without_a_score() -> None:
    f = extract_features(example_midi_path())
    for name in FEATURE_FAMILIES:
        fam = get_feature_family(name)
        for c in fam.score_columns:
            assert f[f"{name}.{c}"] == 0.0, c


def test_validation_rejects_bad_family_output() -> None:
    fam = FeatureFamily("toy", ("a", "b"), lambda ctx: {"a": 1.0, "b": 2.0})
    assert validate_family_output(fam, {"a": 1.0, "b": 2.0}) == {"toy.a": 1.0, "toy.b": 2.0}
    with pytest.raises(SchemaError, match="missing"):
        validate_family_output(fam, {"a": 1.0})
    with pytest.raises(SchemaError, match="undeclared"):
        validate_family_output(fam, {"a": 1.0, "b": 2.0, "c": 3.0})
    with pytest.raises(SchemaError, match="finite"):
        validate_family_output(fam, {"a": 1.0, "b": float("nan")})
    with pytest.raises(ParameterError):
        FeatureFamily("toy", ("a",), lambda ctx: {"a": 1.0}, score_columns=("z",))
    with pytest.raises(ParameterError):
        extract_features(example_midi_path(), families=["no_such_family"])


def test_bar_features(metronome: Path) -> None:
    meta = example_metadata()
    bars = extract_bar_features(
        example_midi_path(), meta["downbeats_sec"], score=example_score_path()
    )
    assert len(bars) == len(meta["downbeats_sec"])
    assert all(list(b) == feature_columns() for b in bars)
    assert all(math.isfinite(v) for b in bars for v in b.values())
    steady = extract_bar_features(metronome, [0.0, 2.0, 4.0], families=["timing", "pedal"])
    assert [b["timing.notes_per_sec"] > 0 for b in steady] == [True, True, True]
    with pytest.raises(ParameterError):
        extract_bar_features(metronome, [2.0, 1.0])


def test_features_table_caches_by_content(
    tmp_path: Path, metronome: Path, ritardando: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pianoeval.symbolic.features as feats

    cache = FeatureCache(tmp_path / "cache")
    first = features_table(
        [metronome, ritardando], scores=[None, metronome], cache=cache, progress=False, jobs=1
    )
    assert list(first.index) == ["metronome", "rit"]
    assert list(first.columns) == feature_columns()
    files = list((tmp_path / "cache").rglob("*.json"))
    assert len(files) == 2
    assert json.loads(files[0].read_text())["schema_version"] == 1

    def boom(args: object) -> dict[str, float]:
        raise AssertionError("cache miss")

    monkeypatch.setattr(feats, "_compute_task", boom)
    renamed = tmp_path / "renamed.mid"
    renamed.write_bytes(metronome.read_bytes())
    again = features_table(
        [renamed, ritardando], scores=[None, metronome], cache=cache, progress=False, jobs=2
    )
    np.testing.assert_array_equal(again.to_numpy(), first.to_numpy())
    assert list(again.index) == ["renamed", "rit"]


def test_features_table_parallel_matches_serial(metronome: Path, ritardando: Path) -> None:
    serial = features_table([metronome, ritardando], cache=False, progress=False, jobs=1)
    parallel = features_table([metronome, ritardando], cache=False, progress=False, jobs=2)
    np.testing.assert_array_equal(serial.to_numpy(), parallel.to_numpy())
    with pytest.raises(ParameterError):
        features_table([metronome], scores=[None, None], cache=False)


def test_features_table_accepts_loaded_inputs(tmp_path: Path, metronome: Path) -> None:
    from pianoeval.symbolic.features import score_notes

    cache = FeatureCache(tmp_path / "c")
    perf = load_midi(metronome)
    for score in (score_notes(metronome), load_midi(metronome)):
        df = features_table([perf], scores=[score], cache=cache, progress=False, jobs=1)
        assert list(df.index) == ["perf0"]
        assert df.loc["perf0", "score.available"] == 1.0
        assert df.loc["perf0", "pace.tempo_ratio_log"] == pytest.approx(0.0, abs=1e-9)
    assert len(list((tmp_path / "c").rglob("*.json"))) == 2
