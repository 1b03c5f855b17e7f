"""The symbolic rater's inputs: every feature family of a performance plus *score deltas*.

A score delta is a performance-only feature minus the same feature of the score played as
written (``delta.<family>.<column>``), so "more rubato than the notation implies" is one
column. This module assembles those inputs for one performance, a feature table, or many
MIDI files; it knows no dataset and no model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pianoeval._typing import PathLike

if TYPE_CHECKING:
    import pandas as pd

    from pianoeval.symbolic.midi import PerformanceMidi

__all__ = [
    "DELTA_PREFIX",
    "performance_only_columns",
    "rater_features",
    "rater_inputs",
    "rater_table",
    "score_deltas",
]

#: Prefix of the score-delta columns: ``delta.<family>.<column>``.
DELTA_PREFIX = "delta."


def score_deltas(
    perf_features: Mapping[str, float], score_features: Mapping[str, float] | None
) -> dict[str, float]:
    """Performance-only features minus the same features of the score played as written.

    Parameters
    ----------
    perf_features : mapping
        :func:`~pianoeval.symbolic.features.extract_features` of the performance.
    score_features : mapping or None
        The same for the score aligned to itself (``extract_features(score, score=score)``);
        None gives zeros.

    Returns
    -------
    dict
        ``{"delta.<family>.<column>": value}`` for every performance-only column.

    Examples
    --------
    >>> d = score_deltas({"pedal.on_frac": 0.75}, {"pedal.on_frac": 0.25})
    >>> d["delta.pedal.on_frac"]
    0.5
    """
    from pianoeval.symbolic.features import FEATURE_FAMILIES, get_feature_family

    out: dict[str, float] = {}
    for name in FEATURE_FAMILIES:
        for col in get_feature_family(name).performance_columns:
            if col not in perf_features:
                continue
            ref = score_features.get(col) if score_features is not None else None
            out[DELTA_PREFIX + col] = (
                float(perf_features[col]) - float(ref) if ref is not None else 0.0
            )
    return out


def performance_only_columns(columns: Sequence[str]) -> list[str]:
    """Keep the columns computed from the performance alone (no score, no delta).

    Examples
    --------
    >>> performance_only_columns(["pedal.on_frac", "score.available", "delta.pedal.on_frac",
    ...                           "pace.tempo_ratio_log"])
    ['pedal.on_frac']
    """
    from pianoeval.symbolic.features import FEATURE_FAMILIES, get_feature_family

    allowed = {c for name in FEATURE_FAMILIES for c in get_feature_family(name).performance_columns}
    return [c for c in columns if c in allowed]


def rater_features(
    perf: PerformanceMidi | PathLike, *, score: PerformanceMidi | PathLike | None = None
) -> dict[str, float]:
    """Compute the rater's input for one performance: all feature families plus score deltas.

    Parameters
    ----------
    perf : PerformanceMidi or path-like
    score : PerformanceMidi, path-like or None
        The score (score MIDI or a score rendition of the same passage).

    Returns
    -------
    dict of str to float
    """
    from pianoeval.symbolic.features import extract_features

    feats = extract_features(perf, score=score)
    ref = extract_features(score, score=score) if score is not None else None
    return {**feats, **score_deltas(feats, ref)}


def rater_table(perf_table: pd.DataFrame, score_table: pd.DataFrame | None) -> pd.DataFrame:
    """Rater inputs for many rows: feature table plus score deltas.

    Parameters
    ----------
    perf_table : pandas.DataFrame
        Features of the performances (:func:`~pianoeval.symbolic.features.features_table`).
    score_table : pandas.DataFrame or None
        Features of each row's score played as written, same index (None: no scores).

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    from pianoeval.symbolic.features import FEATURE_FAMILIES, get_feature_family

    cols = [
        c
        for name in FEATURE_FAMILIES
        for c in get_feature_family(name).performance_columns
        if c in perf_table.columns
    ]
    if score_table is None:
        delta = np.zeros((len(perf_table), len(cols)))
    else:
        ref = score_table.reindex(perf_table.index)[cols].to_numpy(dtype=np.float64)
        delta = perf_table[cols].to_numpy(dtype=np.float64) - ref
        delta = np.where(np.isfinite(delta), delta, 0.0)
    d = pd.DataFrame(delta, index=perf_table.index, columns=[DELTA_PREFIX + c for c in cols])
    return pd.concat([perf_table, d], axis=1)


def rater_inputs(
    perfs: Sequence[PerformanceMidi | PathLike],
    scores: Sequence[PathLike | None] | None,
    *,
    ids: Sequence[str],
    jobs: int | None = 2,
    cache: bool | PathLike = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Rater inputs (features and score deltas) of performances.

    Parameters
    ----------
    perfs : sequence of path-like or PerformanceMidi
        Performance MIDI files (or loaded performances).
    scores : sequence of path-like or None, optional
        Each performance's score (None where it has none); None for no scores at all
        (performance-only features and zero deltas).
    ids : sequence of str
        Row labels.
    jobs, cache, progress
        As in :func:`~pianoeval.symbolic.features.features_table`.

    Returns
    -------
    pandas.DataFrame, shape=(n_perfs, n_features)
        Indexed by ``ids``; what :meth:`SymbolicRater.predict` takes.
    """
    import pandas as pd

    from pianoeval.symbolic.features import features_table

    if scores is None:
        perf_t = features_table(perfs, ids=ids, jobs=jobs, cache=cache, progress=progress)
        return rater_table(perf_t, None)
    perf_t = features_table(
        perfs, scores=scores, ids=ids, jobs=jobs, cache=cache, progress=progress
    )
    uniq = sorted({Path(p) for p in scores if p is not None})
    ref = features_table(
        uniq, scores=uniq, ids=[str(p) for p in uniq], jobs=jobs, cache=cache,
        progress=progress,
    )  # fmt: skip
    score_t = ref.reindex([str(Path(p)) if p is not None else "" for p in scores])
    score_t.index = pd.Index(list(ids), name="id")
    return rater_table(perf_t, score_t)
