"""``pianoeval evaluate``: the whole-performance view on the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from pianoeval.cli import app
from pianoeval.examples import example_midi_path, example_score_path

runner = CliRunner()


def test_evaluate_example_json_has_bars_windows_and_timings() -> None:
    r = runner.invoke(app, ["evaluate", "--example", "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["kind"] == "rating"
    assert out["schema_version"] == 3
    assert out["score"]["used"] is True
    assert len(out["bars"]) == 16
    assert out["windows"]
    assert all(len(w["scores"]) == 19 for w in out["windows"])
    assert out["pooled"] is True
    assert out["input"]["sha256"]
    assert len(out["input"]["sha256"]) == 64
    assert {"read", "rate", "total"} <= set(out["timings"])
    assert out["model_card"]["training_data"]["dataset"] == "percepiano"
    assert all(s["learnt_from"] == "human labels" for s in out["scores"])


def test_evaluate_writes_one_self_contained_html_page(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    r = runner.invoke(app, ["evaluate", "--example", "--format", "html", "--out", str(page)])
    assert r.exit_code == 0, r.output
    text = page.read_text()
    assert text.startswith("<!doctype html>")
    body = text.split("<body>", 1)[1]
    assert "http" not in body  # nothing fetched from elsewhere
    assert body.count('aria-label="scores per dimension"') == 1
    assert 'aria-label="ratings over time"' in body
    assert 'aria-label="piano roll"' in body
    assert "<table>" in body  # the per-bar table
    assert "<script" not in body


def test_a_bad_file_is_reported_and_the_others_are_rated(tmp_path: Path) -> None:
    good = tmp_path / "good.mid"
    shutil.copy(example_midi_path(), good)
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd not really")
    out = tmp_path / "pages"
    r = runner.invoke(
        app,
        ["evaluate", str(good), str(bad), "--score", str(example_score_path()),
         "--format", "html", "--out", str(out)],
    )  # fmt: skip
    assert r.exit_code == 1
    assert "bad.mid" in r.stderr
    assert (out / "good.html").is_file()
    assert not (out / "bad.html").exists()


def test_evaluate_table_names_advice_and_usage_errors(tmp_path: Path) -> None:
    r = runner.invoke(app, ["evaluate", "--example"])
    assert r.exit_code == 0, r.output
    assert "over time" in r.stdout
    r = runner.invoke(app, ["evaluate"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["evaluate", "--example", "--score", str(tmp_path / "none.mid")])
    assert r.exit_code == 2
    assert "none.mid" in r.output
    r = runner.invoke(app, ["evaluate", str(tmp_path / "missing.mid")])
    assert r.exit_code == 1
