"""Does training on transcribed MIDI repair the audio path? Performer split, one run.

The first rater learns from recorded MIDI; fed transkun's transcription of rendered audio
its mean R2 falls below 0 (``benchmarks/first_rater.py``, docs/benchmarks.md "First
rater"), because transcribed velocities and pedal differ from the recorded ones. This
benchmark transcribes ``--n-train`` segments of the performer split's *training* side
(FluidR3_GM renders, transkun, both cached), adds them as extra training rows with the
labels of their segment (a fold trains on a transcribed row only when the segment is in
its training set), and compares, on the same 193 test segments:

- ``baseline``: the shipped recipe (recorded MIDI only);
- ``+ transcribed rows``: recorded and transcribed rows;
- ``+ transcribed rows, flagged``: the same with an ``input.transcribed`` column (0/1).

Each is scored on the recorded test MIDI and on transkun's transcriptions of the test
renders with FluidR3_GM (the SoundFont of the added rows) and MuseScore General (one the
added rows never saw). Figures as in the first-rater benchmark.

    .venv/bin/python benchmarks/audio_path_training.py     # --n-train 300 --seed 0
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from first_rater import audio_path_tables, figures

from pianoeval.data.percepiano_table import percepiano_table
from pianoeval.data.root import find_data_root
from pianoeval.data.splits import load_split
from pianoeval.train import cross_validate

FLAG = "input.transcribed"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--n-train", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/pianoeval_audio_path_training"))
    args = ap.parse_args()
    root = find_data_root(args.data_root, dataset="percepiano")

    t0 = time.perf_counter()
    x, y = percepiano_table(root, jobs=args.jobs, progress=False)
    split = load_split("performer")
    test = sorted(i for i in split.test if i in x.index)
    train = sorted(i for i in x.index if i not in set(split.test))
    added = sorted(random.Random(args.seed).sample(train, args.n_train))
    work, jobs = args.work, args.jobs
    aug = audio_path_tables(root, added, ["transkun"], ["fluidr3_gm"], work / "train", jobs)
    x_add = aug["transkun/fluidr3_gm"][0]
    soundfonts = ["fluidr3_gm", "musescore_general"]
    audio = audio_path_tables(root, test, ["transkun"], soundfonts, work / "test", jobs)
    t_inputs = time.perf_counter() - t0

    def flagged(frame: pd.DataFrame, value: float) -> pd.DataFrame:
        return frame.assign(**{FLAG: value})

    variants: dict[str, tuple[pd.DataFrame, pd.DataFrame | None, dict[str, pd.DataFrame]]] = {
        "baseline": (x, None, {k: v[0] for k, v in audio.items()}),
        "+ transcribed rows": (x, x_add, {k: v[0] for k, v in audio.items()}),
        "+ transcribed rows, flagged": (
            flagged(x, 0.0),
            flagged(x_add, 1.0),
            {k: flagged(v[0], 1.0) for k, v in audio.items()},
        ),
    }
    results: dict[str, Any] = {}
    for name, (xx, extra, others) in variants.items():
        t = time.perf_counter()
        cv = cross_validate(xx, y, split, extra_train=extra, also_predict=others)
        results[name] = {
            "cv": figures(y, cv.oof, pairwise=True),
            "test": figures(y, cv.test, pairwise=True),
            **{f"test_audio/{k}": figures(y, p, pairwise=True) for k, (_, p) in cv.extra.items()},
            "seconds": round(time.perf_counter() - t, 1),
        }
        print(name, {k: round(v["mean_r2"], 4) for k, v in results[name].items() if k != "seconds"},
              flush=True)  # fmt: skip

    payload = {
        "config": {
            "split": "performer",
            "added_rows": {
                "n": len(added),
                "seed": args.seed,
                "from": "performer split, training side (folds), sampled",
                "audio": "FluidR3_GM render (pianoeval.render defaults)",
                "backend": "transkun (pianoeval defaults)",
            },
            "test_inputs": [f"transkun/{sf}" for sf in soundfonts],
            "rater": "pianoeval.rater.SymbolicRater defaults",
        },
        "added_ids": added,
        "results": results,
        "seconds": {"inputs": round(t_inputs, 1)},
    }
    out = write_result("audio_path_training", payload)
    print(f"wrote {out}")
    print(markdown(payload))


def markdown(payload: dict[str, Any]) -> str:
    """The table of docs/benchmarks.md from a result payload."""
    res = payload["results"]
    keys = ["test", *sorted(k for k in next(iter(res.values())) if k.startswith("test_audio/"))]
    head = ["recorded MIDI" if k == "test" else "transcribed: " + k.split("/", 1)[1] for k in keys]
    lines = [
        "| training rows | performer CV | " + " | ".join(f"test, {h}" for h in head) + " |",
        "| --- | --- | " + " | ".join("---" for _ in keys) + " |",
    ]
    for name, r in res.items():
        cells = " | ".join(f"{r[k]['mean_r2']:.3f}" for k in keys)
        lines.append(f"| {name} | {r['cv']['mean_r2']:.3f} | {cells} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--markdown":
        import json

        print(markdown(json.loads(Path(sys.argv[2]).read_text())))
    else:
        main()
