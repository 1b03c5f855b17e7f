"""Time transkun transcription alone against transcription + embedding (one pass) on a 20 s clip.

The clip is the bundled example recording cut to its first 20 s (written to a temporary
FLAC, so decoding is timed too). In one warm process (model loaded and one untimed run of
each), with ``--threads`` torch threads (2: the reference machine's cores), the script
times ``--repeats`` rounds of, alternately:

- ``transcribe``: read the file as ``transcribe()`` does, then
  ``TranskunBackend.transcribe_array`` (the MIDI path's transcription);
- ``transcribe_and_embed``: read the file the same way, then
  :func:`pianoeval.encoders.transkun.transcribe_and_embed` (the same notes, and the pooled
  backbone context, from one forward pass).

It reports the median and minimum wall seconds and process CPU seconds of each, the
one-minute load average before and after (the host may be shared), and writes
``benchmarks/results/transkun_embed_speed/<date>_<sha>.json``.

Usage::

    .venv/bin/python benchmarks/transkun_embed_speed.py [--seconds 20] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from _common import write_result


def _time(fn: Any) -> tuple[float, float, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="clip length (s)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds of each")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    from pianoeval.audio import load_audio
    from pianoeval.encoders.transkun import transcribe_and_embed
    from pianoeval.examples import example_audio_path
    from pianoeval.symbolic.transcribe.transkun import BACKEND

    y, sr = load_audio(example_audio_path(), sr=None, t1=args.seconds, silence_dbfs=None)
    audio_sec = len(y) / sr
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.flac"
        sf.write(path, y, sr)

        def read() -> tuple[np.ndarray, int]:
            return load_audio(path, sr=None, mono=False, silence_dbfs=None)

        def transcribe_only() -> Any:
            return BACKEND.transcribe_array(*read(), threads=args.threads)

        def both() -> Any:
            return transcribe_and_embed(*read(), threads=args.threads)

        load_avg_before = os.getloadavg()[0]
        t_load, _, _ = _time(lambda: BACKEND.prepare(threads=args.threads))
        transcribe_only(), both()  # warm-up, untimed
        runs: dict[str, list[tuple[float, float]]] = {"transcribe": [], "transcribe_and_embed": []}
        same_notes = True
        for _ in range(args.repeats):
            wall, cpu, ref = _time(transcribe_only)
            runs["transcribe"].append((wall, cpu))
            wall, cpu, (out, emb) = _time(both)
            runs["transcribe_and_embed"].append((wall, cpu))
            same_notes &= bool(np.array_equal(out.notes, ref.notes))
        load_avg_after = os.getloadavg()[0]

    summary = {
        name: {
            "wall_sec_median": statistics.median(w for w, _ in rows),
            "wall_sec_min": min(w for w, _ in rows),
            "cpu_sec_median": statistics.median(c for _, c in rows),
            "wall_sec_all": [round(w, 4) for w, _ in rows],
        }
        for name, rows in runs.items()
    }
    overhead = (
        summary["transcribe_and_embed"]["wall_sec_median"]
        - summary["transcribe"]["wall_sec_median"]
    )
    payload = {
        "clip": f"example_performance.flac, first {audio_sec:.2f} s",
        "audio_sec": audio_sec,
        "threads": args.threads,
        "repeats": args.repeats,
        "model_load_sec": t_load,
        "settings": BACKEND.resolve_settings(),
        "embedding_dim": int(emb.shape[0]),
        "n_notes": len(ref.notes),
        "same_notes": same_notes,
        "load_average_1min_before": load_avg_before,
        "load_average_1min_after": load_avg_after,
        "target_end_to_end_sec": 6.0,
        "embedding_overhead_sec_median": overhead,
        **summary,
    }
    for name in runs:
        s = summary[name]
        print(
            f"{name:22s} median {s['wall_sec_median']:.2f} s (min {s['wall_sec_min']:.2f}), "
            f"CPU {s['cpu_sec_median']:.2f} s, for {audio_sec:.1f} s of audio"
        )
    print(f"same notes: {same_notes}; load average {load_avg_before:.1f} -> {load_avg_after:.1f}")
    if not args.no_write:
        print(write_result("transkun_embed_speed", payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
