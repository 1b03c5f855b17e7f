"""Tiny PercePiano-like tables and split for calibration tests (real ids, synthetic values)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pianoeval.data.splits import Split, load_split
from pianoeval.rater import SymbolicRater

DIMS = ["timing", "pace"]


def tiny_split() -> Split:
    """Real PercePiano ids (so excerpts parse), a few per fold: 4 x 30 + 30 test."""
    full = load_split("excerpt")
    return Split(
        name="excerpt",
        group_key="excerpt",
        test=full.test[::6][:30],
        folds=[f[::8][:30] for f in full.folds],
    )


def tiny_tables(split: Split) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ids = sorted(split.all_ids())
    rng = np.random.default_rng(3)
    n = len(ids)
    x = pd.DataFrame(rng.normal(size=(n, 3)), index=ids, columns=["a.x", "a.y", "b.z"])
    noise = 0.02 + 0.06 * (x["b.z"].to_numpy() > 0)  # heteroscedastic: b.z says how noisy
    y = pd.DataFrame(
        np.clip(
            np.column_stack([0.55 + 0.08 * x["a.x"], 0.5 - 0.05 * x["a.y"]])
            + noise[:, None] * rng.normal(size=(n, 2)),
            0.15,
            0.99,
        ),
        index=ids,
        columns=DIMS,
    )
    x = x.assign(**{"score.available": 1.0})
    x0 = x[["a.x", "b.z"]]
    return x, y, x0


def tiny_rater(x: pd.DataFrame, y: pd.DataFrame, x0: pd.DataFrame) -> SymbolicRater:
    kw = {"dims": DIMS, "n_rounds": 20, "extra_trees_rounds": 20, "n_threads": 1}
    rater = SymbolicRater(**kw).fit(x, y)  # type: ignore[arg-type]
    rater.no_score = SymbolicRater(**kw).fit(x0, y)  # type: ignore[arg-type]
    return rater
