"""Benchmark: batch evaluation, local engine vs a 2-worker Dask cluster, same 50 files.

    .venv/bin/python benchmarks/batch_engine.py [--data-root DIR] [--n-files 50]
        [--workers 2] [--threads-per-worker 1] [--no-write]

Rates ``--n-files`` PercePiano performance MIDI files (evenly spaced through the sorted
``<data_root>/percepiano/midi/*.mid``; the MIDI path of :func:`pianoeval.rater.evaluate`,
no score) with :class:`pianoeval.batch.EvaluateTask`:

1. ``local``: :func:`pianoeval.batch.run_batch` with ``engine="local"`` in this process,
   cold (the rater loaded and its libraries imported during the run), then warm (again);
2. ``dask``: a :class:`distributed.LocalCluster` of ``--workers`` processes with
   ``--threads-per-worker`` threads, its start timed apart, then the same batch cold (each
   worker imports pianoeval and loads the rater once) and warm (same cluster, models kept).

The records of every run must be identical once the timing keys are dropped
(:data:`pianoeval.batch.TIMING_KEYS`); the script exits 1 if they are not. Writes
``benchmarks/results/batch_engine/<YYYY-MM-DD>_<git short sha>.json`` (docs/batch.md).
The machine's load average is recorded before and after: on a shared 2-core machine
with background jobs, the speed-up of 2 workers is bounded by the cores left free.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from _common import sha256_files, write_result


def _files(data_root: Path | None, n: int) -> list[Path]:
    from pianoeval.data.root import find_data_root

    root = find_data_root(data_root, dataset="percepiano")
    files = sorted((root / "percepiano" / "midi").glob("*.mid"))
    if len(files) < n:
        raise SystemExit(f"only {len(files)} MIDI files under {root / 'percepiano' / 'midi'}")
    step = len(files) / n
    return [files[int(i * step)] for i in range(n)]


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _audio_part(midis: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    """Render ``midis`` (FluidR3, 22.05 kHz), then transcribe them locally and on Dask.

    Each engine writes into its own fresh transcription cache, so both transcribe; the
    model runs on 1 thread per file in both (``--threads-per-worker``).
    """
    import tempfile

    import soundfile as sf

    from pianoeval.batch import TranscribeTask, run_batch, strip_timings
    from pianoeval.render import render_midi

    threads = args.threads_per_worker
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = []
        for m in midis:
            y, sr = render_midi(m, soundfont="fluidr3_gm", sr=22050)
            clip = folder / "audio" / f"{m.stem}.wav"
            clip.parent.mkdir(exist_ok=True)
            sf.write(clip, y, sr)
            clips.append(clip)
        seconds = sum(sf.info(c).duration for c in clips)

        def task(name: str) -> TranscribeTask:
            return TranscribeTask(
                out_dir=str(folder / name), threads=threads, cache_dir=str(folder / f"c_{name}")
            )

        local, t_local = _timed(lambda: run_batch(clips, task("local"), progress=False))
        dask, t_dask = _timed(
            lambda: run_batch(
                clips,
                task("dask"),
                engine="dask",
                n_workers=args.workers,
                threads_per_worker=threads,
                progress=False,
            )
        )

        def comparable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out = strip_timings(records)
            for r in out:  # the output folders differ on purpose
                r["result"].pop("midi_path", None)
            return out

        same = comparable(local.records) == comparable(dask.records)
        notes = [r["result"]["n_notes"] for r in local.records if r["ok"]]
    return {
        "task": "transcribe (transkun)",
        "n_files": len(clips),
        "audio_sec": round(seconds, 2),
        "threads_per_file": threads,
        "wall_sec": {"local": round(t_local, 3), "dask_with_cluster_start": round(t_dask, 3)},
        "speedup": round(t_local / t_dask, 3),
        "notes": notes,
        "n_failed": len(local.failures) + len(dask.failures),
        "identical_except_timings": same,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--n-files", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument(
        "--audio",
        type=int,
        default=0,
        help="also transcribe this many renders (FluidR3) of the first files, local vs dask",
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not write JSON")
    args = parser.parse_args(argv)

    from pianoeval.batch import EvaluateTask, run_batch, strip_timings

    files = _files(args.data_root, args.n_files)
    load_before = os.getloadavg()
    task = EvaluateTask()
    runs: dict[str, Any] = {}
    local_cold, t_local_cold = _timed(lambda: run_batch(files, task, progress=False))
    local_warm, t_local_warm = _timed(lambda: run_batch(files, task, progress=False))
    runs["local_cold"] = t_local_cold
    runs["local_warm"] = t_local_warm

    import distributed

    threads = args.threads_per_worker
    pinned = {v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    cluster, t_start = _timed(
        lambda: distributed.LocalCluster(
            n_workers=args.workers,
            threads_per_worker=threads,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
            env={**pinned, "OPENBLAS_NUM_THREADS": str(threads)},
        )
    )
    try:

        def on_cluster() -> Any:
            return run_batch(
                files,
                EvaluateTask(),
                engine="dask",
                scheduler=cluster.scheduler_address,
                threads_per_worker=threads,
                progress=False,
            )

        dask_cold, t_dask_cold = _timed(on_cluster)
        dask_warm, t_dask_warm = _timed(on_cluster)
    finally:
        cluster.close()
    runs["dask_cluster_start"] = t_start
    runs["dask_cold"] = t_dask_cold
    runs["dask_warm"] = t_dask_warm
    runs["dask_cold_with_start"] = t_start + t_dask_cold
    audio = _audio_part(files[: args.audio], args) if args.audio else None
    load_after = os.getloadavg()

    reference = strip_timings(local_cold.records)
    others = {"local_warm": local_warm, "dask_cold": dask_cold, "dask_warm": dask_warm}
    identical = {name: strip_timings(r.records) == reference for name, r in others.items()}
    n_failed = len(local_cold.failures)
    payload = {
        "config": {
            "task": task.name,
            "task_config": task.config(),
            "n_files": len(files),
            "workers": args.workers,
            "threads_per_worker": threads,
            "selection": "evenly spaced through sorted percepiano/midi/*.mid; no score",
        },
        "data": {
            "files": [f.name for f in files],
            "sha256": sha256_files(files),
        },
        "machine_note": "2 cores shared with long background jobs; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after",
        "load_average_before": load_before,
        "load_average_after": load_after,
        "wall_sec": {k: round(v, 3) for k, v in runs.items()},
        "per_file_sec_warm": {
            "local": round(t_local_warm / len(files), 4),
            "dask": round(t_dask_warm / len(files), 4),
        },
        "speedup_warm": round(t_local_warm / t_dask_warm, 3),
        "speedup_cold_with_cluster_start": round(t_local_cold / (t_start + t_dask_cold), 3),
        "setups": {
            "local": local_cold.setups,
            "dask_cold": dask_cold.setups,
            "dask_warm": dask_warm.setups,
        },
        "n_failed": n_failed,
        "identical_except_timings": identical,
        "tolerance": "identical records after dropping TIMING_KEYS "
        "(elapsed_sec, seconds, worker, cached)",
    }
    if audio is not None:
        payload["audio"] = audio
        identical["audio_dask"] = audio["identical_except_timings"]
    print(json.dumps(payload["wall_sec"], indent=1))
    if audio is not None:
        print(json.dumps(audio["wall_sec"], indent=1))
    print("identical:", identical, "failed:", n_failed)
    if not args.no_write:
        print(write_result("batch_engine", payload))
    return 0 if all(identical.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
