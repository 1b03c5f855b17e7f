from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pianoeval.batch import (
    BATCH_SCHEMA_VERSION,
    EvaluateTask,
    JsonlWriter,
    read_jsonl,
    run_batch,
    strip_timings,
    write_jsonl,
)
from pianoeval.errors import BackendUnavailableError, MidiError, ParameterError

from ._tasks import SizeTask


def test_a_bad_file_in_the_middle_is_reported_and_the_rest_rated(midi_set: list[Path]) -> None:
    seen: list[dict[str, Any]] = []
    report = run_batch(midi_set, EvaluateTask(), progress=False, on_result=seen.append)
    assert [r["index"] for r in report.records] == list(range(len(midi_set)))
    assert [r["path"] for r in report.records] == [str(p) for p in midi_set]
    assert [r["ok"] for r in report.records] == [True, True, False, True, True, True, True]
    (bad,) = report.failures
    assert bad["path"] == str(midi_set[2])
    assert bad["error"].startswith(f"{midi_set[2]}: corrupt or unreadable MIDI")
    assert bad["error_type"] == "MidiError"
    assert len(seen) == len(midi_set)
    assert report.setups == {"local": 1}
    first = report.records[0]
    assert first["schema_version"] == BATCH_SCHEMA_VERSION
    assert first["task"] == "evaluate"
    assert len(first["result"]["scores"]) == 19
    assert first["result"]["input"]["path"] == str(midi_set[0])
    # the ratings of different performances differ (the files are not all the same)
    values = {tuple(s["value"] for s in r["scores"]) for r in report.results()}
    assert len(values) == 6
    summary = report.summary()
    assert summary["n_items"] == 7
    assert summary["n_failed"] == 1
    assert summary["engine"] == "local"


def test_the_task_is_set_up_once_per_process() -> None:
    task = SizeTask(tag="once-local")
    files = [Path(__file__), Path(__file__).with_name("conftest.py")]
    assert run_batch(files, task, progress=False).setups == {"local": 1}
    again = run_batch(files, SizeTask(tag="once-local"), progress=False)
    assert again.setups == {"local": 1}  # same identity: models kept, not reloaded
    assert run_batch(files, SizeTask(tag="other"), progress=False).setups == {"local": 1}


def test_a_global_problem_stops_the_batch(midi_set: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="nope"):
        run_batch(midi_set, EvaluateTask(backend="nope"), progress=False)
    with pytest.raises(MidiError, match=r"missing\.mid"):  # a bad score: every input would fail
        run_batch(midi_set, EvaluateTask(score=str(tmp_path / "missing.mid")), progress=False)
    files = [tmp_path / n for n in ("a.txt", "b.txt", "c.txt")]
    for f in files:
        f.write_text("x")
    done: list[str] = []
    with pytest.raises(BackendUnavailableError, match="pip install size"):
        run_batch(files, SizeTask(tag="g", fail_on="b.txt"), progress=False,
                  on_result=lambda r: done.append(r["path"]))  # fmt: skip
    assert done == [str(files[0])]


def test_bad_options_are_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="engine must be one of local, dask"):
        run_batch([], SizeTask(), engine="spark")
    with pytest.raises(ParameterError, match="dask engine only"):
        run_batch([], SizeTask(), scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ParameterError, match="n_workers must be an integer >= 1"):
        run_batch([], SizeTask(), engine="dask", n_workers=0)


def test_jsonl_is_one_valid_line_per_input(midi_set: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "res" / "ratings.jsonl"
    with JsonlWriter(out) as writer:
        report = run_batch(midi_set, EvaluateTask(), progress=False, on_result=writer)
    lines = out.read_text().splitlines()
    assert len(lines) == len(midi_set)
    records = [json.loads(line) for line in lines]
    assert {r["path"] for r in records} == {str(p) for p in midi_set}
    assert all(r["schema_version"] == BATCH_SCHEMA_VERSION for r in records)
    assert [r["ok"] for r in records].count(False) == 1
    assert all(("result" in r) == r["ok"] and ("error" in r) != r["ok"] for r in records)
    sorted_out = tmp_path / "sorted.jsonl"
    assert write_jsonl(sorted_out, report.records) == len(midi_set)
    assert [r["index"] for r in read_jsonl(sorted_out)] == list(range(len(midi_set)))
    assert strip_timings(read_jsonl(sorted_out)) == strip_timings(report.records)


def test_items_may_be_mappings_with_a_path(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("hello")
    bad = tmp_path / "x.bad"
    bad.write_text("x")
    report = run_batch([{"path": f, "t0": 0.0}, {"path": bad}], SizeTask(tag="map"),
                       progress=False)  # fmt: skip
    assert report.records[0]["result"] == {"name": "a.txt", "bytes": 5}
    assert report.records[1]["error"] == f"{bad}: a bad file"


def test_whole_evaluation_takes_a_musicxml_score(tmp_path: Path) -> None:
    import partitura as pt

    from pianoeval.examples import example_midi_path, example_score_path

    xml = tmp_path / "example.musicxml"
    pt.save_musicxml(pt.load_score_midi(str(example_score_path())), str(xml))
    report = run_batch([example_midi_path()], EvaluateTask(whole=True, score=str(xml)),
                       progress=False)  # fmt: skip
    (record,) = report.records
    assert record["ok"], record
    rating = record["result"]
    assert rating["score"] == {**rating["score"], "path": str(xml), "used": True}
    assert len(rating["bars"]) > 0
    assert rating["advice"] is not None
    assert {"read_score", "align", "total"} <= set(rating["timings"])
    plain = run_batch([example_midi_path()], EvaluateTask(), progress=False)
    assert "bars" not in plain.records[0]["result"] or not plain.records[0]["result"]["bars"]
    with pytest.raises(MidiError):  # a score the one-segment rating cannot read (not MIDI)
        run_batch([example_midi_path()], EvaluateTask(score=str(xml)), progress=False)
