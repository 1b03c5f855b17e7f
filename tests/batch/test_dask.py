"""The Dask engine against the local one, on one 2-worker cluster for the whole module.

Tolerance: the records of the two engines are identical once the timing keys
(``TIMING_KEYS``: ``elapsed_sec``, ``seconds``, ``worker``, ``cached``, and a whole
evaluation's per-stage ``timings`` dict) are dropped: every
score, feature and message is equal to the last digit (both engines run the same code with
fixed thread counts; LightGBM's prediction does not depend on its thread count).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pianoeval.batch import EvaluateTask, run_batch, strip_timings
from pianoeval.errors import MidiError, ParameterError

from ._tasks import SizeTask

distributed = pytest.importorskip("distributed", reason="pip install 'pianoeval[distributed]'")


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def test_dask_gives_the_local_results(midi_set: list[Path], scheduler: str) -> None:
    local = run_batch(midi_set, EvaluateTask(), progress=False)
    streamed: list[int] = []
    dask = run_batch(
        midi_set,
        EvaluateTask(),
        engine="dask",
        scheduler=scheduler,
        progress=False,
        on_result=lambda r: streamed.append(r["index"]),
    )
    assert sorted(streamed) == list(range(len(midi_set)))
    assert dask.engine == "dask"
    assert dask.n_workers == 2
    assert strip_timings(dask.records) == strip_timings(local.records)
    assert json.dumps(strip_timings(dask.records), sort_keys=True) == json.dumps(
        strip_timings(local.records), sort_keys=True
    )
    assert [r["ok"] for r in dask.records].count(False) == 1
    # models loaded once per worker: every worker set the task up at most once, and a
    # second batch with the same task reuses them
    assert set(dask.setups.values()) <= {0, 1}
    assert sum(dask.setups.values()) >= 1
    again = run_batch(midi_set, EvaluateTask(), engine="dask", scheduler=scheduler,
                      progress=False)  # fmt: skip
    assert set(again.setups.values()) <= {0, 1}
    assert strip_timings(again.records) == strip_timings(local.records)


def test_setups_are_counted_per_worker(tmp_path: Path, scheduler: str) -> None:
    files = []
    for i in range(8):
        f = tmp_path / f"f{i}.txt"
        f.write_text("x" * i)
        files.append(f)
    report = run_batch(files, SizeTask(tag="count-dask"), engine="dask", scheduler=scheduler,
                       progress=False)  # fmt: skip
    assert [r["result"]["bytes"] for r in report.records] == list(range(8))
    workers = {r["worker"] for r in report.records}
    assert sum(report.setups.values()) == len(workers)  # one setup per worker used
    assert set(report.setups.values()) <= {0, 1}


def test_global_problems_from_a_worker_are_raised_as_themselves(
    midi_set: list[Path], scheduler: str, tmp_path: Path
) -> None:
    with pytest.raises(ParameterError, match="nope"):
        run_batch(midi_set, EvaluateTask(backend="nope"), engine="dask", scheduler=scheduler,
                  progress=False)  # fmt: skip
    with pytest.raises(MidiError, match="file does not exist") as info:
        run_batch(midi_set, EvaluateTask(score=str(tmp_path / "none.mid")), engine="dask",
                  scheduler=scheduler, progress=False)  # fmt: skip
    assert info.value.path == str(tmp_path / "none.mid")


def test_analyze_cli_on_the_cluster(midi_set: list[Path], scheduler: str, tmp_path: Path) -> None:
    from pianoeval.cli import app

    out = tmp_path / "r.jsonl"
    folder = midi_set[0].parent
    args = ["analyze", str(folder / "*.mid"), "--engine", "dask", "--scheduler", scheduler,
            "--jsonl", str(out), "--jsonl-sorted", "--format", "json", "--no-progress"]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1, r.output  # the broken file
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == len(midi_set)
    assert [x["path"] for x in lines] == sorted(str(p) for p in midi_set)
    report = json.loads(r.stdout)
    assert len(report["ratings"]) == 6
    assert report["failures"][0]["path"].endswith("broken.mid")
    local = CliRunner().invoke(app, ["analyze", str(folder), "--format", "json"])
    assert local.exit_code == 1
    assert json.loads(local.stdout) == report


def test_embed_cli_on_the_cluster_equals_local(
    scheduler: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    import soundfile as sf

    from pianoeval.cli import app
    from pianoeval.encoders import load_embeddings

    sr = 22050
    t = np.arange(2 * sr) / sr
    rows = []
    for i, f0 in enumerate((196.0, 262.0, 392.0)):
        sf.write(tmp_path / f"t{i}.wav", 0.2 * np.sin(2 * np.pi * f0 * t), sr)
        rows.append({"segment_id": f"s{i}", "dataset": "user", "audio_uri": f"t{i}.wav",
                     "t0": 0.0, "t1": 2.0, "provenance": {"license": "MIT"}})  # fmt: skip
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = ["embed", str(manifest), "-e", "mel_stats", "--no-cache", "--no-progress"]
    local = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "l.npz"), "-j", "1"])
    assert local.exit_code == 0, local.output
    dask = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "d.npz"), "--engine", "dask",
                                    "--scheduler", scheduler])  # fmt: skip
    assert dask.exit_code == 0, dask.output
    ids_l, x_l, _ = load_embeddings(tmp_path / "l.npz")
    ids_d, x_d, _ = load_embeddings(tmp_path / "d.npz")
    assert ids_d == ids_l
    np.testing.assert_array_equal(x_d, x_l)


def test_whole_evaluation_on_the_cluster_equals_local(
    midi_set: list[Path], scheduler: str, tmp_path: Path
) -> None:
    import shutil

    from pianoeval.examples import example_midi_path, example_score_path

    example = tmp_path / "example.mid"
    shutil.copy(example_midi_path(), example)
    items = [*midi_set[:3], example]  # ok, ok, broken, the example (its score matches)
    task = EvaluateTask(whole=True, score=str(example_score_path()))
    local = run_batch(items, task, progress=False)
    dask = run_batch(items, EvaluateTask(whole=True, score=str(example_score_path())),
                     engine="dask", scheduler=scheduler, progress=False)  # fmt: skip
    assert [r["ok"] for r in local.records] == [True, True, False, True]
    # identical except the timing keys, which include the rating's per-stage ``timings``
    assert all(r["result"]["timings"]["total"] > 0 for r in dask.records if r["ok"])
    assert strip_timings(dask.records) == strip_timings(local.records)
    whole = local.records[3]["result"]
    assert whole["schema_version"] == 3
    assert whole["score"]["used"] is True
    assert len(whole["bars"]) == 16
    assert whole["windows"]
    assert local.records[0]["result"]["score"]["used"] is False  # not this piece's score


def test_evaluate_cli_on_the_cluster_equals_local(
    midi_set: list[Path], scheduler: str, tmp_path: Path
) -> None:
    from pianoeval.cli import app

    out = tmp_path / "e.jsonl"
    folder = midi_set[0].parent
    args = ["evaluate", str(folder / "*.mid"), "--engine", "dask", "--scheduler", scheduler,
            "--jsonl", str(out), "--jsonl-sorted", "--format", "json", "--no-progress"]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1, r.output  # the broken file
    assert "broken.mid" in r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["path"] for x in lines] == sorted(str(p) for p in midi_set)
    assert sum(not x["ok"] for x in lines) == 1
    local = CliRunner().invoke(app, ["evaluate", str(folder), "--format", "json"])
    assert local.exit_code == 1
    assert strip_timings(json.loads(r.stdout)) == strip_timings(json.loads(local.stdout))
