from __future__ import annotations

import json

from typer.testing import CliRunner

from pianoeval.cli import app
from pianoeval.examples import example_midi_path

runner = CliRunner()


def test_analyze_example_json_is_keyed_by_input() -> None:
    r = runner.invoke(app, ["analyze", "--example", "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert list(out) == [str(example_midi_path())]
    res = out[str(example_midi_path())]
    assert res["source"] == "midi"
    assert res["n_notes"] == 137
    assert len(res["scores"]) == 19
    assert all(1 / 7 - 1e-9 <= s["value"] <= 1.0 for s in res["scores"].values())
    assert res["scores"]["timing"]["low"] == "stable"
    assert res["features"]["score.match_frac_score"] > 0.9  # aligned to its own score


def test_analyze_table_and_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = runner.invoke(app, ["analyze", "--example"])
    assert r.exit_code == 0
    assert "first rater" in r.stdout
    assert "pedal_clarity" in r.stdout
    assert runner.invoke(app, ["analyze"]).exit_code == 2
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd nonsense")
    r = runner.invoke(app, ["analyze", str(bad)])
    assert r.exit_code == 1
    assert str(bad) in str(r.exception)


def test_analyze_audio_is_transcribed_and_carries_the_caution() -> None:
    from pianoeval.cli.analyze import AUDIO_CAUTION
    from pianoeval.examples import example_audio_path

    audio = example_audio_path()
    r = runner.invoke(app, ["analyze", str(audio), "--backend", "basic_pitch", "--format", "json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)[str(audio)]
    assert res["source"] == "audio transcribed with basic_pitch"
    assert res["caution"] == AUDIO_CAUTION
    assert res["n_notes"] > 50  # the example has 137 notes
    assert len(res["scores"]) == 19
    table = runner.invoke(app, ["analyze", str(audio), "--backend", "basic_pitch"])
    assert table.exit_code == 0
    assert "caution: scores of transcribed audio are not reliable yet" in table.stdout
    midi = json.loads(runner.invoke(app, ["analyze", "--example", "--format", "json"]).stdout)
    assert midi[str(example_midi_path())]["caution"] is None
