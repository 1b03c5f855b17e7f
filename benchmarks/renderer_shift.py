"""How much a piano changes a transcription's features: the same performances, two renderers.

For every pair of packed clean renderers, over the segments both have, each performance
feature of the transcriptions is compared: the shift of its mean (in standard deviations of
the first renderer), the ratio of spreads, and the correlation across segments (how well
one piano's value predicts the other's). Computed with velocities as transcribed (``raw``)
and standardised per performance (``z``, what the shipped audio rater reads). A rater that
learned a feature on one piano can use it on another only where the correlation is high and
the shift small.

    .venv/bin/python benchmarks/renderer_shift.py
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

from pianoeval.data.audio_corpus import CORPUS_DIR, load_condition
from pianoeval.data.audio_table import audio_table
from pianoeval.data.root import find_data_root

CLEAN = ("fluidr3_gm", "musescore_general", "timgm6mb", "csound_gm")


def shift_table(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Per feature: mean shift (SD of ``a``), spread ratio and correlation over shared rows."""
    ids = a.index.intersection(b.index)
    rows = []
    for col in a.columns:
        va = a.loc[ids, col].to_numpy(dtype=float)
        vb = b.loc[ids, col].to_numpy(dtype=float)
        sd = float(va.std())
        if sd == 0 or float(vb.std()) == 0:
            continue  # constant on one piano (a feature this corpus never exercises)
        rows.append(
            {
                "feature": col,
                "shift_sd": (vb.mean() - va.mean()) / sd,
                "spread_ratio": float(vb.std()) / sd,
                "corr": float(np.corrcoef(va, vb)[0, 1]),
            }
        )
    return pd.DataFrame(rows).set_index("feature")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--conditions", nargs="*", default=list(CLEAN))
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    root = find_data_root(args.data_root, dataset="percepiano")
    conds = [c for c in args.conditions if (CORPUS_DIR / f"{c}.npz").is_file()]
    corpora = {c: load_condition(c) for c in conds}
    out: dict[str, Any] = {}
    for vel in ("raw", "z"):
        tabs = {
            c: audio_table(root, corp, encoders=(), velocity=vel, jobs=args.jobs)
            for c, corp in corpora.items()
        }
        for a, b in itertools.combinations(conds, 2):
            t = shift_table(tabs[a], tabs[b])
            n = len(tabs[a].index.intersection(tabs[b].index))
            key = f"{vel}/{a}->{b}"
            worst = t.assign(abs_shift=t["shift_sd"].abs()).sort_values("abs_shift").tail(8)
            out[key] = {
                "n_segments": n,
                "median_corr": round(float(t["corr"].median()), 4),
                "features_corr_below_0.8": int((t["corr"] < 0.8).sum()),
                "features_abs_shift_above_1sd": int((t["shift_sd"].abs() > 1).sum()),
                "largest_shifts": {
                    f: {k: round(float(v), 3) for k, v in r.items() if k != "abs_shift"}
                    for f, r in worst.iloc[::-1].iterrows()
                },
                "per_feature": {
                    f: {k: round(float(v), 4) for k, v in r.items()} for f, r in t.iterrows()
                },
            }
            print(
                f"{key}: {n} segments, median corr {out[key]['median_corr']:.3f}, "
                f"{out[key]['features_corr_below_0.8']} features corr < 0.8, "
                f"{out[key]['features_abs_shift_above_1sd']} shifted > 1 SD",
                flush=True,
            )
            for f, r in list(out[key]["largest_shifts"].items())[:4]:
                print(f"    {f}: shift {r['shift_sd']:+.2f} SD, spread x{r['spread_ratio']:.2f}, "
                      f"corr {r['corr']:.2f}")  # fmt: skip
    path = write_result("renderer_shift", {"conditions": conds, "results": out})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
