from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
from typer.testing import CliRunner

from pianoeval.cli import app
from pianoeval.examples import example_midi_path
from pianoeval.rater import RESULT_SCHEMA_VERSION

runner = CliRunner()


def test_analyze_example_json_is_one_versioned_report() -> None:
    r = runner.invoke(app, ["analyze", "--example", "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["kind"] == "analysis"
    assert out["schema_version"] == RESULT_SCHEMA_VERSION
    assert out["failures"] == []
    (res,) = out["ratings"]
    assert res["input"]["path"] == str(example_midi_path())
    assert res["input"]["kind"] == "midi"
    assert res["input"]["n_notes"] == 137
    assert len(res["scores"]) == 19
    assert all(1 / 7 - 1e-9 <= s["value"] <= 1.0 for s in res["scores"])
    timing = next(s for s in res["scores"] if s["name"] == "timing")
    assert timing["low"] == "stable"
    assert res["features"]["score.match_frac_score"] > 0.9  # aligned to its own score
    assert res["score"]["used"] is True


def test_analyze_table_and_usage_errors(tmp_path: Path) -> None:
    r = runner.invoke(app, ["analyze", "--example"])
    assert r.exit_code == 0
    assert "pianoeval-symbolic-v1" in r.stdout
    assert "pedal_clarity" in r.stdout
    assert "MIDI, 31.0 s" in r.stdout  # the header shows the length
    assert runner.invoke(app, ["analyze"]).exit_code == 2
    bad_backend = runner.invoke(app, ["analyze", "--example", "--backend", "nope"])
    assert bad_backend.exit_code == 2
    assert "unknown backend" in bad_backend.output
    assert runner.invoke(app, ["analyze", "--example", "--format", "xml"]).exit_code == 2


def test_without_a_score_the_table_says_so(tmp_path: Path) -> None:
    r = runner.invoke(app, ["analyze", str(example_midi_path())])
    assert r.exit_code == 0, r.output
    assert "no score" in r.stdout
    assert "tempo (bpm, estimated without a score)" in r.stdout


def test_one_bad_file_does_not_lose_the_others(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd nonsense")
    r = runner.invoke(app, ["analyze", str(bad), str(example_midi_path()), "--format", "json"])
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert [x["input"]["path"] for x in out["ratings"]] == [str(example_midi_path())]
    assert out["failures"][0]["path"] == str(bad)
    assert f"error: {bad}: corrupt or unreadable MIDI" in r.stderr


def test_a_folder_is_walked(tmp_path: Path) -> None:
    import shutil

    shutil.copy(example_midi_path(), tmp_path / "a.mid")
    (tmp_path / "sub").mkdir()
    shutil.copy(example_midi_path(), tmp_path / "sub" / "b.mid")
    (tmp_path / "readme.txt").write_text("hello")
    r = runner.invoke(app, ["analyze", str(tmp_path), "--format", "json"])
    assert r.exit_code == 0, r.output
    paths = [x["input"]["path"] for x in json.loads(r.stdout)["ratings"]]
    assert paths == [str(tmp_path / "a.mid"), str(tmp_path / "sub" / "b.mid")]
    (tmp_path / "empty").mkdir()
    r = runner.invoke(app, ["analyze", str(tmp_path / "empty")])
    assert r.exit_code == 1
    assert f"error: {tmp_path / 'empty'}: folder holds no file" in r.stderr


def test_a_midi_with_a_pedal_that_never_comes_up_is_rated(tmp_path: Path) -> None:
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(70, 60 + i % 12, i * 0.4, i * 0.4 + 0.3) for i in range(40)]
    inst.control_changes = [pretty_midi.ControlChange(64, 127, 0.1)]
    pm.instruments.append(inst)
    pm.write(str(tmp_path / "pedal.mid"))
    r = runner.invoke(app, ["analyze", str(tmp_path / "pedal.mid")])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    ("name", "signal"),
    [
        ("silence", np.zeros(3 * 22050)),
        ("white_noise", 0.3 * np.random.default_rng(0).standard_normal(3 * 22050)),
        ("dc", np.full(3 * 22050, 0.5)),
        ("clip", 0.3 * np.sin(2 * np.pi * 440 * np.arange(2205) / 22050)),
        ("one_sample", np.array([0.1])),
    ],
)
def test_audio_without_music_gets_no_rating(tmp_path: Path, name: str, signal: np.ndarray) -> None:
    path = tmp_path / f"{name}.wav"
    sf.write(path, signal, 22050)
    r = runner.invoke(app, ["analyze", str(path), "--backend", "basic_pitch"])
    assert r.exit_code == 1, r.output
    assert f"{path}: too little music to rate" in r.stderr
    assert "first rater" not in r.stdout
    assert "pedal_clarity" not in r.stdout


def test_silence_is_refused_with_the_default_backend_too(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(2 * 22050), 22050)
    r = runner.invoke(app, ["analyze", str(path)])
    assert r.exit_code == 1
    assert "transcription (transkun) found 0 notes" in r.stderr


def test_analyze_audio_is_transcribed_and_carries_the_caution() -> None:
    from pianoeval.examples import example_audio_path
    from pianoeval.rater import AUDIO_CAUTION

    audio = example_audio_path()
    r = runner.invoke(app, ["analyze", str(audio), "--backend", "basic_pitch", "--format", "json"])
    assert r.exit_code == 0, r.output
    (res,) = json.loads(r.stdout)["ratings"]
    assert res["input"]["kind"] == "audio"
    assert res["input"]["transcription"]["backend"] == "basic_pitch"
    assert res["caution"] == AUDIO_CAUTION
    assert res["input"]["n_notes"] > 50  # the example has 137 notes
    assert 30 < res["input"]["duration_sec"] < 35  # the recording's length
    assert len(res["scores"]) == 19
    table = runner.invoke(app, ["analyze", str(audio), "--backend", "basic_pitch"])
    assert table.exit_code == 0
    assert "caution: scores of transcribed audio are not reliable yet" in table.stdout
    assert "audio, 3" in table.stdout
    assert "transcribed with basic_pitch" in table.stdout
