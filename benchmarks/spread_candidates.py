"""Which spread of the MIDI rater follows its error: candidates on the excerpt-split CV.

For each candidate sigma, the mean over the 19 dimensions of Spearman(sigma, |error|) on
the out-of-fold predictions of the excerpt split's 4 fold models (the rater's default
recipe, LightGBM 1 thread), with score and without (the fallback's features). Error-model
candidates are themselves out of fold: grouped 5-fold by excerpt over the out-of-fold rows.
The test segments are never used (docs/calibration.md, "Spread of the tree raters").

    .venv/bin/python benchmarks/spread_candidates.py            # --data-root DIR
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

from pianoeval.data.percepiano_table import percepiano_table
from pianoeval.data.root import find_data_root
from pianoeval.data.splits import group_of, load_split
from pianoeval.model.spread import SpreadModel
from pianoeval.model.symbolic import DEFAULT_WEIGHTS, SymbolicRater
from pianoeval.symbolic.rater_inputs import performance_only_columns

MEMBERS = ("gbdt", "extra_trees", "ridge")


def oof_members(x: pd.DataFrame, y: pd.DataFrame) -> dict[str, Any]:
    """Out-of-fold member predictions and blend of the excerpt split's fold models."""
    split = load_split("excerpt")
    have = set(x.index)
    ids: list[str] = []
    parts: dict[str, list[np.ndarray]] = {m: [] for m in (*MEMBERS, "blend")}
    for f in range(split.n_folds):
        tr, va = split.fold(f)
        tr = [i for i in tr if i in have]
        va = [i for i in va if i in have]
        r = SymbolicRater(dims=list(y.columns), n_threads=1).fit(x.loc[tr], y.loc[tr])
        m = r.predict_members(x.loc[va])
        for k in MEMBERS:
            parts[k].append(m[k])
        parts["blend"].append(r.predict(x.loc[va]))
        ids += va
        print(f"fold {f + 1}/{split.n_folds}", flush=True)
    return {"ids": ids, **{k: np.concatenate(v) for k, v in parts.items()}}


def rho(err: np.ndarray, s: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(np.nanmean([spearmanr(s[:, j], err[:, j])[0] for j in range(err.shape[1])]))


def candidates(z: dict[str, Any], x: pd.DataFrame, y: pd.DataFrame) -> dict[str, float]:
    import lightgbm as lgb
    from scipy.stats import norm
    from sklearn.model_selection import GroupKFold

    ids = z["ids"]
    w = np.array([DEFAULT_WEIGHTS[m] for m in MEMBERS])
    w = w / w.sum()
    stack = np.stack([z[m] for m in MEMBERS])
    mean = np.tensordot(w, stack, 1)
    wsd = np.sqrt(np.tensordot(w, (stack - mean) ** 2, 1))
    g, e, r = z["gbdt"], z["extra_trees"], z["ridge"]
    err = np.abs(y.loc[ids].to_numpy() - z["blend"])
    rk = x.rank(pct=True).clip(0.005, 0.995)
    ood = pd.Series(np.abs(norm.ppf(rk)).mean(1), index=x.index).loc[ids].to_numpy()
    out = {
        "weighted member SD": rho(err, wsd),
        "unweighted member SD": rho(err, stack.std(0)),
        "member range": rho(err, stack.max(0) - stack.min(0)),
        "|gbdt - extra_trees|": rho(err, np.abs(g - e)),
        "|ridge - trees|": rho(err, np.abs(r - (g + e) / 2)),
        "feature outlyingness": rho(err, np.repeat(ood[:, None], err.shape[1], 1)),
        "-|blend - label mean|": rho(err, -np.abs(z["blend"] - y.loc[ids].mean().to_numpy())),
    }
    groups = np.array([group_of(i, "excerpt") for i in ids])
    feats = x.loc[ids].to_numpy()
    folds = list(GroupKFold(5).split(feats, groups=groups))

    def model(
        inputs: Callable[[int], np.ndarray],
        target: Callable[[np.ndarray], np.ndarray],
        params: dict[str, Any],
        rounds: int,
    ) -> float:
        pred = np.zeros_like(err)
        for j in range(err.shape[1]):
            f = inputs(j)
            for tr, te in folds:
                data = lgb.Dataset(f[tr], target(err[tr, j]))
                b = lgb.train({"verbose": -1, "num_threads": 1, **params}, data, rounds)
                pred[te, j] = b.predict(f[te])
        return rho(err, pred)

    def members_only(j: int) -> np.ndarray:
        return np.column_stack([stack[:, :, j].T, wsd[:, j]])

    def full(j: int) -> np.ndarray:
        return np.column_stack([stack[:, :, j].T, wsd[:, j], feats])

    def ident(a: np.ndarray) -> np.ndarray:
        return a

    l1 = {"objective": "regression_l1", "num_leaves": 7, "learning_rate": 0.05,
          "min_data_in_leaf": 30, "feature_fraction": 0.5}  # fmt: skip
    l2 = {**l1, "objective": "regression"}
    out["error model L1, features only"] = model(lambda j: feats, ident, l1, 100)
    out["error model L1, members only"] = model(members_only, ident, l1, 100)
    out["error model L1"] = model(full, ident, l1, 100)
    out["error model L2 on log(|err| + 0.01)"] = model(full, lambda a: np.log(a + 0.01), l2, 100)
    out["error model L2, 15 leaves"] = model(full, ident, {**l2, "num_leaves": 15}, 100)
    out["error model L2, 7 leaves"] = model(full, ident, l2, 100)
    # the shipped error model itself: features, score and member spread as inputs
    shipped = np.zeros_like(err)
    for tr, te in folds:
        sm = SpreadModel(list(y.columns), n_threads=1)
        sm.fit(feats[tr], z["blend"][tr], wsd[tr], err[tr])
        shipped[te] = sm.predict(feats[te], z["blend"][te], wsd[te])
    out["SpreadModel (SPREAD_PARAMS)"] = rho(err, shipped)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args()
    root = find_data_root(args.data_root, dataset="percepiano")
    t0 = time.perf_counter()
    x, y = percepiano_table(root, jobs=1, progress=False)
    x0, _ = percepiano_table(root, with_scores=False, jobs=1, progress=False)
    x0 = x0[performance_only_columns(x0.columns)]
    results: dict[str, dict[str, float]] = {}
    for name, table in (("with_score", x), ("no_score", x0)):
        results[name] = candidates(oof_members(table, y), table, y)
        for k, v in results[name].items():
            print(f"{name:10s} {k:45s} {v:.3f}", flush=True)
    out = write_result(
        "spread_candidates",
        {
            "metric": "mean over dimensions of Spearman(sigma, |error|), excerpt-split CV",
            "results": results,
            "work_sec": round(time.perf_counter() - t0, 1),
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
