"""Agreement of a rater's scores with human labels, per dimension and over dimensions.

Conventions (after ``mir_eval``): every function takes the human labels first
(``ref_*``) and the model's scores second (``est_*``), as arrays of shape
``(n_items, n_dims)`` (a 1-d array is one dimension); rows are items, columns dimensions.

Definitions, used by every benchmark of the project:

- **R2** of a dimension: ``1 - SS_res / SS_tot`` on the pooled predictions (all items of
  all folds together, not a mean of per-fold R2s), with ``SS_tot`` about the mean of the
  labels being evaluated. **Mean R2** is the unweighted mean over dimensions. It can be
  negative (worse than predicting the mean) and is undefined (NaN) for a constant label.
- **MAE**, **Pearson r** and **Spearman rho** per dimension, on the same pooled items.
- **Pairwise accuracy** of a dimension: over every pair of items of the same group (e.g.
  performances of the same excerpt) whose labels differ by more than ``min_diff``, the
  share the scores order the same way; a tie in the scores counts half. Pairs of different
  groups are never compared, so a rater cannot score by recognising the piece. The summary
  is the unweighted mean over dimensions (dimensions without any pair are left out).

These differ from PercePiano's reported figures, which average R2 over folds; pooled R2
is lower when folds differ in label range, and is the project's one definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pianoeval.errors import ParameterError

#: Label pairs closer than this are not compared by :func:`pairwise_accuracy`.
DEFAULT_MIN_DIFF = 0.05


def validate(
    ref: npt.ArrayLike, est: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Check labels and scores and return them as float64 arrays of shape (n, n_dims).

    Raises
    ------
    ParameterError
        If the shapes differ, there are fewer than two items, or a value is not finite.

    Examples
    --------
    >>> r, e = validate([1.0, 2.0], [1.5, 2.5])
    >>> r.shape
    (2, 1)
    """
    ref_a = np.asarray(ref, dtype=np.float64)
    est_a = np.asarray(est, dtype=np.float64)
    if ref_a.ndim == 1:
        ref_a = ref_a[:, None]
    if est_a.ndim == 1:
        est_a = est_a[:, None]
    if ref_a.ndim != 2 or ref_a.shape != est_a.shape:
        raise ParameterError(
            f"ref and est must have the same (n_items, n_dims) shape, got "
            f"{np.shape(ref)} and {np.shape(est)}"
        )
    if ref_a.shape[0] < 2:
        raise ParameterError(f"need at least 2 items, got {ref_a.shape[0]}")
    if not np.all(np.isfinite(ref_a)):
        raise ParameterError("ref contains NaN or infinite values")
    if not np.all(np.isfinite(est_a)):
        raise ParameterError("est contains NaN or infinite values")
    return ref_a, est_a


def r2_per_dim(ref: npt.ArrayLike, est: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Coefficient of determination of each dimension on pooled items.

    Parameters
    ----------
    ref : array-like, shape=(n_items, n_dims) or (n_items,)
        Human labels.
    est : array-like, same shape
        Model scores.

    Returns
    -------
    np.ndarray, shape=(n_dims,)
        NaN where the labels of a dimension are constant.

    Examples
    --------
    >>> r2_per_dim([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    array([0.5])
    """
    ref_a, est_a = validate(ref, est)
    ss_res = np.sum((ref_a - est_a) ** 2, axis=0)
    ss_tot = np.sum((ref_a - ref_a.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: npt.NDArray[np.float64] = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan)
    return out


def mean_r2(ref: npt.ArrayLike, est: npt.ArrayLike) -> float:
    """Mean over dimensions of the pooled R2 (:func:`r2_per_dim`), ignoring NaN dimensions.

    Examples
    --------
    >>> mean_r2([[1.0, 0.0], [2.0, 1.0], [3.0, 2.0]], [[1.0, 0.0], [2.0, 1.0], [4.0, 2.0]])
    0.75
    """
    r2 = r2_per_dim(ref, est)
    return float(np.nanmean(r2)) if np.any(np.isfinite(r2)) else float("nan")


def mae_per_dim(ref: npt.ArrayLike, est: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Mean absolute error of each dimension.

    Examples
    --------
    >>> mae_per_dim([1.0, 2.0], [1.5, 2.5])
    array([0.5])
    """
    ref_a, est_a = validate(ref, est)
    out: npt.NDArray[np.float64] = np.mean(np.abs(ref_a - est_a), axis=0)
    return out


def _pearson_cols(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    ac = a - a.mean(axis=0)
    bc = b - b.mean(axis=0)
    den = np.sqrt(np.sum(ac**2, axis=0) * np.sum(bc**2, axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        out: npt.NDArray[np.float64] = np.where(den > 0, np.sum(ac * bc, axis=0) / den, np.nan)
    return out


def pearson_per_dim(ref: npt.ArrayLike, est: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Pearson correlation of each dimension (NaN for a constant column).

    Examples
    --------
    >>> pearson_per_dim([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])
    array([1.])
    """
    ref_a, est_a = validate(ref, est)
    return _pearson_cols(ref_a, est_a)


def _ranks(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Average ranks of each column (ties share their mean rank)."""
    from scipy.stats import rankdata

    out: npt.NDArray[np.float64] = np.asarray(rankdata(x, axis=0), dtype=np.float64)
    return out


def spearman_per_dim(ref: npt.ArrayLike, est: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Spearman rank correlation of each dimension (ties get average ranks).

    Examples
    --------
    >>> spearman_per_dim([1.0, 2.0, 3.0], [1.0, 10.0, 100.0])
    array([1.])
    """
    ref_a, est_a = validate(ref, est)
    return _pearson_cols(_ranks(ref_a), _ranks(est_a))


@dataclass(frozen=True)
class PairwiseResult:
    """Pairwise ranking accuracy within groups.

    Attributes
    ----------
    accuracy : float
        Mean over dimensions that have pairs.
    per_dim : np.ndarray, shape=(n_dims,)
        NaN for a dimension without any pair.
    n_pairs : np.ndarray [int], shape=(n_dims,)
        Pairs compared per dimension.
    """

    accuracy: float
    per_dim: npt.NDArray[np.float64]
    n_pairs: npt.NDArray[np.int64]


def pairwise_accuracy(
    ref: npt.ArrayLike,
    est: npt.ArrayLike,
    groups: Sequence[object] | npt.ArrayLike,
    *,
    min_diff: float = DEFAULT_MIN_DIFF,
) -> PairwiseResult:
    """Share of same-group pairs the scores order like the labels.

    Parameters
    ----------
    ref : array-like, shape=(n_items, n_dims) or (n_items,)
        Human labels.
    est : array-like, same shape
        Model scores.
    groups : sequence, shape=(n_items,)
        Group of each item (e.g. its excerpt); only pairs within a group are compared.
    min_diff : float
        Pairs whose labels differ by ``min_diff`` or less are skipped.

    Returns
    -------
    PairwiseResult

    Raises
    ------
    ParameterError
        If ``groups`` does not have one entry per item or ``min_diff`` is negative.

    Examples
    --------
    >>> res = pairwise_accuracy([0.1, 0.5, 0.9, 0.2], [0.2, 0.1, 0.9, 0.3], ["a", "a", "a", "b"])
    >>> round(res.accuracy, 4), int(res.n_pairs[0])
    (0.6667, 3)
    """
    ref_a, est_a = validate(ref, est)
    g = np.asarray(groups)
    if g.shape != (ref_a.shape[0],):
        raise ParameterError(
            f"groups must have one entry per item ({ref_a.shape[0]}), got {g.shape}"
        )
    if min_diff < 0:
        raise ParameterError(f"min_diff must be >= 0, got {min_diff}")
    n_dims = ref_a.shape[1]
    score = np.zeros(n_dims)
    count = np.zeros(n_dims, dtype=np.int64)
    _, inv = np.unique(g, return_inverse=True)
    for k in range(int(inv.max()) + 1):
        idx = np.flatnonzero(inv == k)
        if len(idx) < 2:
            continue
        i, j = np.triu_indices(len(idx), k=1)
        dr = ref_a[idx[i]] - ref_a[idx[j]]
        de = est_a[idx[i]] - est_a[idx[j]]
        use = np.abs(dr) > min_diff
        agree = np.where(de == 0, 0.5, (np.sign(dr) == np.sign(de)).astype(np.float64))
        score += np.sum(agree * use, axis=0)
        count += np.sum(use, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_dim = np.where(count > 0, score / np.maximum(count, 1), np.nan)
    acc = float(np.nanmean(per_dim)) if np.any(count > 0) else float("nan")
    return PairwiseResult(accuracy=acc, per_dim=per_dim, n_pairs=count)


def regression_report(
    ref: npt.ArrayLike,
    est: npt.ArrayLike,
    *,
    dims: Sequence[str] | None = None,
    groups: Sequence[object] | npt.ArrayLike | None = None,
    min_diff: float = DEFAULT_MIN_DIFF,
) -> dict[str, object]:
    """All the figures at once, JSON-ready.

    Parameters
    ----------
    ref, est : array-like, shape=(n_items, n_dims)
    dims : sequence of str, optional
        Dimension names (default ``dim0``, ``dim1``...).
    groups : sequence, optional
        With groups, pairwise accuracy is added.
    min_diff : float

    Returns
    -------
    dict
        ``mean_r2``, ``per_dim`` (name → r2, mae, pearson, spearman[, pairwise, n_pairs])
        and ``pairwise_accuracy`` when groups are given. NaN becomes None.

    Examples
    --------
    >>> rep = regression_report([[1.0], [2.0], [3.0]], [[1.0], [2.0], [4.0]], dims=["x"])
    >>> rep["mean_r2"], rep["per_dim"]["x"]["r2"]
    (0.5, 0.5)
    """
    ref_a, est_a = validate(ref, est)
    names = list(dims) if dims is not None else [f"dim{i}" for i in range(ref_a.shape[1])]
    if len(names) != ref_a.shape[1]:
        raise ParameterError(f"{len(names)} dimension names for {ref_a.shape[1]} columns")

    def clean(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    r2 = r2_per_dim(ref_a, est_a)
    mae = mae_per_dim(ref_a, est_a)
    pr = pearson_per_dim(ref_a, est_a)
    sr = spearman_per_dim(ref_a, est_a)
    per_dim: dict[str, dict[str, float | int | None]] = {
        n: {"r2": clean(r2[k]), "mae": clean(mae[k]), "pearson": clean(pr[k]),
            "spearman": clean(sr[k])}
        for k, n in enumerate(names)
    }  # fmt: skip
    out: dict[str, object] = {"mean_r2": clean(mean_r2(ref_a, est_a)), "n_items": len(ref_a)}
    if groups is not None:
        pw = pairwise_accuracy(ref_a, est_a, groups, min_diff=min_diff)
        out["pairwise_accuracy"] = clean(pw.accuracy)
        for k, n in enumerate(names):
            per_dim[n]["pairwise"] = clean(pw.per_dim[k])
            per_dim[n]["n_pairs"] = int(pw.n_pairs[k])
    out["per_dim"] = per_dim
    return out


@dataclass
class BootstrapCI:
    """Percentile intervals of per-dimension R2 and of mean R2, resampling groups.

    Attributes
    ----------
    low, high : np.ndarray, shape=(n_dims,)
        Per-dimension interval bounds.
    mean_low, mean_high : float
        Interval of the mean over dimensions.
    level : float
    n_boot : int
    """

    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    mean_low: float
    mean_high: float
    level: float
    n_boot: int


def bootstrap_r2(
    ref: npt.ArrayLike,
    est: npt.ArrayLike,
    groups: Sequence[object] | npt.ArrayLike,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> BootstrapCI:
    """Confidence intervals of R2 by resampling whole groups (e.g. excerpts) with replacement.

    Items of one excerpt are not independent (they share the passage), so the excerpt,
    not the item, is the unit that is resampled.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=(60, 2)); est = ref + 0.5 * rng.normal(size=(60, 2))
    >>> ci = bootstrap_r2(ref, est, np.repeat(np.arange(12), 5), n_boot=200)
    >>> bool(ci.mean_low < mean_r2(ref, est) < ci.mean_high)
    True
    """
    ref_a, est_a = validate(ref, est)
    g = np.asarray(groups)
    if g.shape != (ref_a.shape[0],):
        raise ParameterError(
            f"groups must have one entry per item ({ref_a.shape[0]}), got {g.shape}"
        )
    if not 0 < level < 1 or n_boot < 10:
        raise ParameterError(f"need 0 < level < 1 and n_boot >= 10, got {level}, {n_boot}")
    _, inv = np.unique(g, return_inverse=True)
    members = [np.flatnonzero(inv == k) for k in range(int(inv.max()) + 1)]
    rng = np.random.default_rng(seed)
    stats = np.empty((n_boot, ref_a.shape[1]))
    for b in range(n_boot):
        pick = rng.integers(0, len(members), size=len(members))
        idx = np.concatenate([members[k] for k in pick])
        with np.errstate(divide="ignore", invalid="ignore"):
            stats[b] = r2_per_dim(ref_a[idx], est_a[idx])
    a = (1 - level) / 2
    lo, hi = np.nanquantile(stats, [a, 1 - a], axis=0)
    means = np.nanmean(stats, axis=1)
    m_lo, m_hi = np.nanquantile(means, [a, 1 - a])
    return BootstrapCI(lo, hi, float(m_lo), float(m_hi), level, n_boot)
