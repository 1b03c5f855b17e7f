"""End-to-end time to rate a 20 s recording with the audio rater, in a warm process.

The clip is the bundled example recording cut to its first ``--seconds`` (a FLAC written to
a temporary folder). Every timed call rates a *fresh* copy of it (a silent sample changed,
so no cache can answer) with :func:`pianoeval.rater.evaluate`: decode, transkun (notes and
pooled context from one pass), mel statistics, features, the audio rater. The process is
warmed first (raters loaded, transkun loaded and run once). The script reports the median
and minimum wall seconds, the load average (the host may be shared), and writes
``benchmarks/results/audio_rater_speed/<date>_<sha>.json``.

    .venv/bin/python benchmarks/audio_rater_speed.py [--seconds 20] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from _common import write_result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--bundle", type=Path, default=None, help="audio rater (default: shipped)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PIANOEVAL_CACHE"] = str(Path(tmp) / "cache")
        from pianoeval.audio import load_audio
        from pianoeval.examples import example_audio_path
        from pianoeval.model.audio import AudioRater
        from pianoeval.rater import default_rater, evaluate
        from pianoeval.rater.audio import default_audio_rater

        audio = AudioRater.load(args.bundle) if args.bundle else default_audio_rater()
        if audio is None:
            raise SystemExit("no audio rater installed: build it or pass --bundle")
        rater = default_rater()
        y, sr = load_audio(example_audio_path(), sr=None, t1=args.seconds, silence_dbfs=None)
        y = np.asarray(y, dtype=np.float32)

        def clip(k: int) -> Path:
            z = y.copy()
            z[0] = 1e-4 * (k + 1)  # a different file each time: no cache hit
            p = Path(tmp) / f"clip{k}.flac"
            sf.write(p, z, sr)
            return p

        evaluate(clip(999), rater=rater, audio_rater=audio)  # warm: transkun loaded and run
        load_before = os.getloadavg()[0]
        walls = []
        for k in range(args.repeats):
            path = clip(k)
            t0 = time.perf_counter()
            r = evaluate(path, rater=rater, audio_rater=audio)
            walls.append(time.perf_counter() - t0)
            assert r.model_id == audio.model_id
            assert r.input.transcription is not None
            assert not r.input.transcription.cached
        load_after = os.getloadavg()[0]
    payload = {
        "config": {
            "seconds": args.seconds,
            "repeats": args.repeats,
            "bundle": str(args.bundle or "shipped"),
            "model_id": audio.model_id,
            "torch_threads": "default (all cores)",
        },
        "audio_sec": round(len(y) / sr, 3),
        "wall_sec": {
            "median": round(statistics.median(walls), 3),
            "min": round(min(walls), 3),
            "all": [round(w, 3) for w in walls],
        },
        "loadavg_1min": {"before": load_before, "after": load_after},
        "target_sec": 6.0,
    }
    print(payload)
    if not args.no_write:
        print("wrote", write_result("audio_rater_speed", payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
