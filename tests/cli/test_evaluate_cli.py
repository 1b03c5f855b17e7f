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
    assert "no such score file" in " ".join(r.output.replace("│", " ").split())
    r = runner.invoke(app, ["evaluate", str(tmp_path / "missing.mid")])
    assert r.exit_code == 1


def _small_takes(folder: Path) -> list[Path]:
    """Three short seeded performances and, third of four, a corrupt MIDI file."""
    import numpy as np
    import pretty_midi

    paths = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        pm = pretty_midi.PrettyMIDI()
        inst = pretty_midi.Instrument(program=0)
        t = 0.0
        for _ in range(36):
            dur = float(rng.uniform(0.1, 0.5))
            inst.notes.append(pretty_midi.Note(int(rng.integers(40, 110)),
                                               int(rng.integers(48, 84)), t, t + dur))  # fmt: skip
            t += float(rng.uniform(0.12, 0.35))
        pm.instruments.append(inst)
        paths.append(folder / f"take_{seed}.mid")
        pm.write(str(paths[-1]))
    bad = folder / "corrupt.mid"
    bad.write_bytes(b"MThd nonsense")
    return [*paths[:2], bad, paths[2]]


def test_evaluate_through_the_batch_layer_writes_jsonl_and_reports_the_bad_file(
    tmp_path: Path,
) -> None:
    from pianoeval.batch import strip_timings

    takes = _small_takes(tmp_path)
    jsonl = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["evaluate", *map(str, takes), "--jsonl", str(jsonl),
                            "--jsonl-sorted", "--format", "json", "--no-progress"])  # fmt: skip
    assert r.exit_code == 1, r.output
    assert "corrupt.mid" in r.stderr
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == 4
    assert [x["ok"] for x in records] == [True, True, False, True]
    assert records[2]["path"].endswith("corrupt.mid")
    assert "corrupt.mid" in records[2]["error"]
    for x in (records[0], records[1], records[3]):
        assert x["task"] == "evaluate"
        assert x["result"]["schema_version"] == 3
        assert len(x["result"]["scores"]) == 19
        assert {"read", "rate", "total"} <= set(x["result"]["timings"])
    # the JSON printed from the records is what the plain (local) command prints
    batch = json.loads(r.stdout)
    plain = runner.invoke(app, ["evaluate", *map(str, takes), "--format", "json"])
    assert plain.exit_code == 1
    assert strip_timings(batch) == strip_timings(json.loads(plain.stdout))
    assert [x["input"]["path"] for x in batch["ratings"]] == [
        str(takes[0]),
        str(takes[1]),
        str(takes[3]),
    ]


def test_evaluate_jsonl_on_stdout_and_html_pages_from_the_records(tmp_path: Path) -> None:
    takes = _small_takes(tmp_path)
    pages = tmp_path / "pages"
    r = runner.invoke(app, ["evaluate", *map(str, takes), "--jsonl", "-", "--format", "html",
                            "--out", str(pages), "--no-progress"])  # fmt: skip
    assert r.exit_code == 1
    lines = [json.loads(line) for line in r.stdout.splitlines()]  # stdout is only the JSONL
    assert sorted(x["index"] for x in lines) == [0, 1, 2, 3]
    assert sum(not x["ok"] for x in lines) == 1
    assert "corrupt.mid" in r.stderr
    assert sorted(p.name for p in pages.iterdir()) == ["take_0.html", "take_1.html", "take_2.html"]
    assert "<svg" in (pages / "take_0.html").read_text()
    report = tmp_path / "report.json"
    r = runner.invoke(app, ["evaluate", *map(str, takes), "--jsonl", "-", "--format", "json",
                            "--out", str(report), "--no-progress"])  # fmt: skip
    assert r.exit_code == 1
    assert len([json.loads(line) for line in r.stdout.splitlines()]) == 4
    assert len(json.loads(report.read_text())["ratings"]) == 3


def test_threads_option_and_batch_option_errors(tmp_path: Path) -> None:
    (take,) = _small_takes(tmp_path)[:1]
    one = runner.invoke(app, ["evaluate", str(take), "--format", "json", "--threads", "1"])
    two = runner.invoke(app, ["evaluate", str(take), "--format", "json", "--threads", "2"])
    assert one.exit_code == two.exit_code == 0, one.output + two.output
    # LightGBM's prediction does not depend on its thread count
    assert json.loads(one.stdout)["scores"] == json.loads(two.stdout)["scores"]
    r = runner.invoke(app, ["evaluate", str(take), "--threads", "0"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["evaluate", str(take), "--scheduler", "tcp://127.0.0.1:1"])
    assert r.exit_code == 2
    assert "--engine dask" in r.output
    r = runner.invoke(app, ["analyze", str(take), "--threads", "2", "--format", "json"])
    assert r.exit_code == 0, r.output
