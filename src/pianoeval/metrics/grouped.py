"""Correlations within groups: how well scores order the items of each group.

A group is a set of items that share everything a rater could recognise without judging the
playing, e.g. the performances of one PercePiano excerpt (same passage, several
performers). Correlating inside each group and averaging removes the piece: a rater, or a
pseudo-label proxy, cannot pass by recognising the composition.

Definition (:func:`within_group_spearman`): per group with at least ``min_group_size``
finite (label, score) pairs, the Spearman correlation (average ranks for ties) of the
pairs; a group whose labels or scores are constant is left out. The summary is the mean
of the per-group correlations weighted by their number of pairs, with a percentile
bootstrap interval over groups (groups resampled with replacement, the same weights).
Unlike :func:`~pianoeval.metrics.regression.spearman_per_dim`, pairs with a NaN are
dropped rather than refused: proxies are undefined on some segments by design.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pianoeval.errors import ParameterError
from pianoeval.metrics.regression import spearman_per_dim

__all__ = ["GroupedCorrelation", "within_group_spearman"]


@dataclass(frozen=True)
class GroupedCorrelation:
    """A correlation averaged over groups.

    Attributes
    ----------
    rho : float
        Mean of the per-group correlations weighted by their pairs (NaN if no group counts).
    n_groups : int
        Groups that entered the mean.
    n_items : int
        Their pairs, in all.
    ci95 : tuple of float
        2.5th and 97.5th percentiles of the bootstrap over groups (NaN without a bootstrap
        or with fewer than three groups).
    """

    rho: float
    n_groups: int
    n_items: int
    ci95: tuple[float, float] = (math.nan, math.nan)


def within_group_spearman(
    ref: npt.ArrayLike,
    est: npt.ArrayLike,
    groups: Sequence[object] | npt.ArrayLike,
    *,
    min_group_size: int = 4,
    n_boot: int = 1000,
    seed: int = 0,
) -> GroupedCorrelation:
    """Average the Spearman correlation of labels and scores within each group.

    Parameters
    ----------
    ref : array-like, shape=(n_items,)
        Human labels (NaN allowed: the pair is dropped).
    est : array-like, shape=(n_items,)
        Scores (NaN allowed: the pair is dropped).
    groups : sequence, shape=(n_items,)
        The group of each item (e.g. its excerpt).
    min_group_size : int
        Groups with fewer finite pairs are left out.
    n_boot : int
        Bootstrap resamples of the groups for ``ci95`` (0: none).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    GroupedCorrelation

    Raises
    ------
    ParameterError
        If the three inputs differ in length or ``min_group_size`` is below 2.

    Examples
    --------
    >>> r = within_group_spearman([1, 2, 3, 4, 1, 2, 3, 4], [1, 2, 3, 4, 4, 3, 2, 1],
    ...                           ["a"] * 4 + ["b"] * 4, n_boot=0)
    >>> r.rho, r.n_groups
    (0.0, 2)
    """
    r = np.asarray(ref, dtype=np.float64).ravel()
    e = np.asarray(est, dtype=np.float64).ravel()
    g = np.asarray(groups)
    if not (r.shape == e.shape == g.shape):
        raise ParameterError(
            f"ref, est and groups must have one entry per item, got {r.shape}, {e.shape} and "
            f"{g.shape}"
        )
    if min_group_size < 2:
        raise ParameterError(f"min_group_size must be >= 2, got {min_group_size}")
    rhos: list[float] = []
    sizes: list[int] = []
    finite = np.isfinite(r) & np.isfinite(e)
    for group in np.unique(g):
        sel = (g == group) & finite
        n = int(sel.sum())
        if n < min_group_size:
            continue
        rho = float(spearman_per_dim(r[sel], e[sel])[0])
        if math.isfinite(rho):
            rhos.append(rho)
            sizes.append(n)
    if not rhos:
        return GroupedCorrelation(math.nan, 0, 0)
    rho_a, n_a = np.array(rhos), np.array(sizes, dtype=np.float64)
    mean = float(np.average(rho_a, weights=n_a))
    ci = (math.nan, math.nan)
    if n_boot > 0 and rho_a.size >= 3:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, rho_a.size, size=(n_boot, rho_a.size))
        boots = (rho_a[idx] * n_a[idx]).sum(axis=1) / n_a[idx].sum(axis=1)
        ci = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5)))
    return GroupedCorrelation(mean, len(rhos), int(n_a.sum()), ci)
