"""The rating pipeline: what is rated, what is refused, and what the result says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from pianoeval.constants import MIN_MUSIC_SEC, MIN_NOTES_TO_RATE
from pianoeval.errors import MidiError, NotRatableError
from pianoeval.examples import example_midi_path, example_score_path
from pianoeval.rater import (
    RESULT_SCHEMA_VERSION,
    AnalysisReport,
    Rating,
    default_rater,
    evaluate,
    evaluate_many,
)
from pianoeval.rater.evaluate import music_span_sec
from pianoeval.symbolic.midi import load_midi


def write_midi(path: Path, notes: list[tuple[float, float, int, int]]) -> Path:
    """Write (onset, offset, pitch, velocity) notes as a one-track piano MIDI."""
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(velocity=v, pitch=p, start=s, end=e) for s, e, p, v in notes]
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def scale_notes(n: int, *, step: float, start: float = 0.0) -> list[tuple[float, float, int, int]]:
    return [(start + i * step, start + i * step + 0.9 * step, 60 + i % 12, 70) for i in range(n)]


def test_example_with_its_score_is_rated_and_versioned() -> None:
    r = evaluate(example_midi_path(), score=example_score_path())
    assert isinstance(r, Rating)
    assert r.schema_version == RESULT_SCHEMA_VERSION
    assert r.taxonomy == "percepiano19"
    assert r.input.kind == "midi"
    assert r.input.n_notes == 137
    assert r.score is not None
    assert r.score.used
    assert r.score.match_frac_score > 0.9
    assert len(r.scores) == 19
    assert all(1 / 7 - 1e-9 <= s.value <= 1 for s in r.scores)
    # the same numbers as the model's own (calibrated, when its bundle has a calibration)
    rated = default_rater().predict_calibrated(example_midi_path(), score=example_score_path())
    direct = rated.value
    np.testing.assert_allclose([s.value for s in r.scores], direct, atol=1e-4)
    tempo = {s.key: s for s in r.summary}["pace.perf_tempo_bpm"]
    assert tempo.value is not None
    assert 80 < tempo.value < 110
    # the record round-trips through JSON
    again = Rating.model_validate_json(r.model_dump_json())
    assert again == r
    assert r.caution is None


def test_without_a_score_nothing_score_relative_is_shown_as_measured() -> None:
    r = evaluate(example_midi_path())
    assert r.score is None
    by_key = {s.key: s for s in r.summary}
    for key in ("pace.perf_tempo_bpm", "timing.tempo_std", "score.match_frac_score"):
        assert by_key[key].value is None
        assert by_key[key].text == "no score"
    est = by_key["pace.tempo_bpm_est"]
    assert est.value is not None
    assert 60 < est.value < 140


@pytest.mark.parametrize(
    ("n", "step"),
    [(0, 0.5), (1, 0.5), (MIN_NOTES_TO_RATE - 1, 0.5), (40, (MIN_MUSIC_SEC - 0.2) / 40)],
)
def test_too_little_music_is_refused_not_rated(tmp_path: Path, n: int, step: float) -> None:
    path = write_midi(tmp_path / "little.mid", scale_notes(n, step=step))
    with pytest.raises(NotRatableError, match="too little music to rate") as err:
        evaluate(path)
    assert str(path) in str(err.value)


def test_just_enough_music_is_rated_with_a_short_passage_warning(tmp_path: Path) -> None:
    path = write_midi(tmp_path / "short.mid", scale_notes(MIN_NOTES_TO_RATE, step=0.4))
    assert music_span_sec(load_midi(path)) >= MIN_MUSIC_SEC
    r = evaluate(path)
    assert len(r.scores) == 19
    assert any("shorter than the 10-20 s" in w for w in r.warnings)


def test_a_score_that_does_not_match_is_not_used(tmp_path: Path) -> None:
    other = write_midi(
        tmp_path / "other_score.mid",
        [(i * 0.3, i * 0.3 + 0.25, 30 + (7 * i) % 50, 64) for i in range(120)],
    )
    with_wrong = evaluate(example_midi_path(), score=other)
    bare = evaluate(example_midi_path())
    assert with_wrong.score is not None
    assert not with_wrong.score.used
    assert "does not match" in (with_wrong.score.reason or "")
    assert any("not used" in w for w in with_wrong.warnings)
    assert with_wrong.score_dict() == bare.score_dict()  # rated as if no score was given

    one_note = write_midi(tmp_path / "one_note.mid", [(0.0, 1.0, 60, 64)])
    r = evaluate(example_midi_path(), score=one_note)
    assert r.score is not None
    assert not r.score.used
    assert "1 note" in (r.score.reason or "")
    assert r.score_dict() == bare.score_dict()


def test_evaluate_many_rates_the_good_and_reports_the_bad(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd nonsense")
    little = write_midi(tmp_path / "little.mid", scale_notes(3, step=0.5))
    seen: list[str] = []
    report = evaluate_many(
        [example_midi_path(), bad, little, tmp_path / "missing.mid"],
        on_result=lambda item: seen.append(type(item).__name__),
    )
    assert isinstance(report, AnalysisReport)
    assert [r.input.path for r in report.ratings] == [str(example_midi_path())]
    assert [f.path for f in report.failures] == [
        str(bad),
        str(little),
        str(tmp_path / "missing.mid"),
    ]
    assert all(f.error.startswith(f.path) for f in report.failures)
    assert seen == ["Rating", "FailedInput", "FailedInput", "FailedInput"]
    json.loads(report.model_dump_json())


def test_a_bad_score_is_one_error_not_one_per_input(tmp_path: Path) -> None:
    bad = tmp_path / "score.mid"
    bad.write_bytes(b"")
    with pytest.raises(MidiError, match="empty"):
        evaluate_many([example_midi_path(), example_midi_path()], score=bad)


def test_truncated_audio_is_named_and_its_real_length_shown(tmp_path: Path) -> None:
    import soundfile as sf

    from pianoeval.examples import example_audio_path

    y, sr = sf.read(example_audio_path())
    whole = tmp_path / "whole.wav"
    sf.write(whole, y, sr, subtype="PCM_16")
    data = whole.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])  # the header still declares the whole length
    declared = len(y) / sr
    for _ in range(2):  # the second run reads the transcription cache: the same warning
        r = evaluate(cut, backend="basic_pitch")
        assert r.input.kind == "audio"
        assert abs(r.input.duration_sec - declared / 2) < 0.5
        (warning,) = [w for w in r.warnings if "truncated audio" in w]
        assert str(cut) in warning
        assert f"{declared:.3f} s" in warning


def test_a_cache_folder_that_is_a_file_is_found_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pianoeval.errors import CacheDirError
    from pianoeval.examples import example_audio_path

    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("x")
    monkeypatch.setenv("PIANOEVAL_CACHE", str(not_a_folder))
    with pytest.raises(CacheDirError, match="PIANOEVAL_CACHE"):
        evaluate(example_audio_path())  # would take seconds of transcription otherwise
