"""How well predictions and intervals keep their promise: coverage, width, spread, dispersion.

Conventions as in :mod:`pianoeval.metrics.regression`: labels first (``ref``), then the
rater's values (``est``), arrays of shape ``(n_items, n_dims)``. Definitions:

- **Coverage** of an interval at nominal level ``c``: the share of items whose label lies in
  ``[low, high]``, per dimension; the pooled coverage is the share over all items and all
  dimensions (the mean of the per-dimension coverages, as every dimension has ``n`` items).
- **Coverage error**: the mean over the nominal levels ``0.1, 0.2, ..., 0.9``
  (:data:`COVERAGE_ERROR_LEVELS`) of ``|observed coverage - nominal|``; ``coverage_error``
  uses the pooled coverage, ``per_dim`` each dimension's own (their mean is larger: per-
  dimension misses do not cancel).
- **Mean interval width** per dimension, and the same divided by the standard deviation of
  the dimension's labels (``width_over_sd``; a band as wide as ``±1 SD`` gives 2).
- **Spread-error Spearman**: Spearman correlation of the spread ``sigma`` with the absolute
  error ``|ref - est|`` per dimension, and its mean over dimensions: do items the rater is
  unsure about have larger errors? NaN for a constant spread.
- **Dispersion ratio**: ``std(est) / std(ref)`` per dimension (population SD); below 1 the
  predictions are shrunk towards the mean, as regression models' out-of-fold predictions
  usually are.
- **MAE** and **R2** as in :mod:`pianoeval.metrics.regression` (pooled R2, its mean over
  dimensions), before and after calibration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pianoeval.calibration.conformal import check_level
from pianoeval.errors import ParameterError
from pianoeval.metrics.regression import mae_per_dim, r2_per_dim, spearman_per_dim, validate

if TYPE_CHECKING:
    from pianoeval.calibration.core import Calibration

__all__ = [
    "COVERAGE_ERROR_LEVELS",
    "REPORT_LEVELS",
    "calibration_report",
    "coverage_curve",
    "coverage_error",
    "dispersion_ratio",
    "interval_coverage",
    "interval_width",
    "sigma_error_spearman",
]

#: Nominal levels over which the coverage error is averaged.
COVERAGE_ERROR_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: Levels whose coverage and width :func:`calibration_report` lists.
REPORT_LEVELS = (0.5, 0.8, 0.95)

FloatArray = npt.NDArray[np.float64]
IntervalFn = Callable[[float], tuple[npt.ArrayLike, npt.ArrayLike]]


def _like(ref: FloatArray, x: npt.ArrayLike, name: str) -> FloatArray:
    """``x`` as float64 of the labels' shape (a 1-d array is one dimension)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.shape != ref.shape:
        raise ParameterError(f"{name} must have the labels' shape {ref.shape}, got {a.shape}")
    return a


def _bounds(
    ref: FloatArray, low: npt.ArrayLike, high: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    lo = _like(ref, low, "the interval's low bounds")
    hi = _like(ref, high, "the interval's high bounds")
    if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo > hi):
        raise ParameterError("interval bounds must not be NaN and need low <= high")
    return lo, hi


def interval_coverage(ref: npt.ArrayLike, low: npt.ArrayLike, high: npt.ArrayLike) -> FloatArray:
    """Share of items whose label lies in ``[low, high]``, per dimension.

    Examples
    --------
    >>> interval_coverage([1.0, 2.0, 3.0, 4.0], [0.5, 2.5, 2.0, 3.0], [1.5, 3.0, 4.0, 5.0])
    array([0.75])
    """
    ref_a, _ = validate(ref, ref)
    lo, hi = _bounds(ref_a, low, high)
    out: FloatArray = np.mean((ref_a >= lo) & (ref_a <= hi), axis=0)
    return out


def interval_width(low: npt.ArrayLike, high: npt.ArrayLike) -> FloatArray:
    """Mean width ``high - low`` per dimension (``inf`` for an unbounded interval).

    Examples
    --------
    >>> interval_width([[0.0], [1.0]], [[1.0], [3.0]])
    array([1.5])
    """
    lo = np.asarray(low, dtype=np.float64)
    hi = np.asarray(high, dtype=np.float64)
    if lo.shape != hi.shape:
        raise ParameterError(f"low and high differ in shape: {lo.shape} and {hi.shape}")
    if lo.ndim == 1:
        lo, hi = lo[:, None], hi[:, None]
    out: FloatArray = np.mean(hi - lo, axis=0)
    return out


def coverage_curve(
    ref: npt.ArrayLike, interval_fn: IntervalFn, levels: Sequence[float] = COVERAGE_ERROR_LEVELS
) -> FloatArray:
    """Observed coverage per nominal level and dimension, shape=(n_levels, n_dims).

    ``interval_fn(level)`` returns the ``(low, high)`` bounds of that level, e.g.
    ``lambda c: calibration.interval(est, sigma, level=c)``.
    """
    return np.stack([interval_coverage(ref, *interval_fn(check_level(c))) for c in levels])


def coverage_error(
    observed: npt.ArrayLike, levels: Sequence[float] = COVERAGE_ERROR_LEVELS
) -> FloatArray:
    """Mean over levels of ``|observed - nominal|``, per column of ``observed``.

    Parameters
    ----------
    observed : array-like, shape=(n_levels,) or (n_levels, n_dims)
        Observed coverage at each level (e.g. :func:`coverage_curve`).
    levels : sequence of float
        The nominal levels (default ``0.1 ... 0.9``).

    Examples
    --------
    >>> coverage_error([0.15, 0.5, 0.8], levels=[0.1, 0.5, 0.9])
    array([0.05])
    """
    obs = np.asarray(observed, dtype=np.float64)
    if obs.ndim == 1:
        obs = obs[:, None]
    nominal = np.asarray([check_level(c) for c in levels])
    if obs.shape[0] != nominal.size:
        raise ParameterError(f"{obs.shape[0]} observed coverages for {nominal.size} levels")
    out: FloatArray = np.mean(np.abs(obs - nominal[:, None]), axis=0)
    return out


def dispersion_ratio(ref: npt.ArrayLike, est: npt.ArrayLike) -> FloatArray:
    """``std(est) / std(ref)`` per dimension (NaN where the labels are constant).

    Examples
    --------
    >>> dispersion_ratio([1.0, 2.0, 3.0], [1.5, 2.0, 2.5])
    array([0.5])
    """
    ref_a, est_a = validate(ref, est)
    sd = ref_a.std(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(sd > 0, est_a.std(axis=0) / sd, np.nan)
    return out


def sigma_error_spearman(
    ref: npt.ArrayLike, est: npt.ArrayLike, sigma: npt.ArrayLike
) -> FloatArray:
    """Spearman correlation of the spread with the absolute error, per dimension.

    Examples
    --------
    >>> sigma_error_spearman([0.0, 0.0, 0.0], [0.1, -0.3, 0.2], [1.0, 3.0, 2.0])
    array([1.])
    """
    ref_a, est_a = validate(ref, est)
    sig = _like(ref_a, sigma, "sigma")
    with np.errstate(divide="ignore", invalid="ignore"):
        return spearman_per_dim(np.abs(ref_a - est_a), sig)


def _clean(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _nanmean(x: FloatArray) -> float | None:
    return _clean(float(np.nanmean(x))) if np.any(np.isfinite(x)) else None


def _point_block(
    ref: FloatArray, est: FloatArray, sigma: FloatArray | None, names: list[str]
) -> dict[str, Any]:
    mae, r2, disp = mae_per_dim(ref, est), r2_per_dim(ref, est), dispersion_ratio(ref, est)
    rho = sigma_error_spearman(ref, est, sigma) if sigma is not None else None
    per_dim = {
        n: {"mae": _clean(mae[j]), "r2": _clean(r2[j]), "dispersion_ratio": _clean(disp[j])}
        | ({} if rho is None else {"sigma_spearman": _clean(rho[j])})
        for j, n in enumerate(names)
    }
    out: dict[str, Any] = {
        "mae": _nanmean(mae),
        "mean_r2": _nanmean(r2),
        "dispersion_ratio": _nanmean(disp),
    }
    if rho is not None:
        out["sigma_spearman"] = _nanmean(rho)
    out["per_dim"] = per_dim
    return out


def calibration_report(
    ref: npt.ArrayLike,
    est: npt.ArrayLike,
    sigma: npt.ArrayLike | None = None,
    *,
    calibration: Calibration | None = None,
    interval_fn: IntervalFn | None = None,
    levels: Sequence[float] = REPORT_LEVELS,
    dims: Sequence[str] | None = None,
) -> dict[str, Any]:
    """All calibration figures on held-out items, JSON-ready (NaN and inf become None).

    Parameters
    ----------
    ref : array-like, shape=(n_items, n_dims)
        Labels of items the calibration was not fitted on.
    est : array-like, shape=(n_items, n_dims)
        The rater's raw predictions.
    sigma : array-like, shape=(n_items, n_dims), optional
        The rater's spread.
    calibration : Calibration, optional
        Gives the ``after`` figures (calibrated predictions, calibrated spread) and the
        intervals.
    interval_fn : callable, optional
        ``level -> (low, high)``, for intervals made some other way (without a calibration).
    levels : sequence of float
        Levels whose coverage and width are listed.
    dims : sequence of str, optional
        Dimension names (default: the calibration's, else ``dim0``...).

    Returns
    -------
    dict
        ``n_items``; ``before`` (and ``after`` with a calibration): ``mae``, ``mean_r2``,
        ``dispersion_ratio``, ``sigma_spearman`` (with a spread) and ``per_dim``; with
        intervals: ``coverage`` (level → ``pooled``, ``per_dim``), ``width`` (level →
        ``mean``, ``mean_over_sd``, ``per_dim`` width and ``width_over_sd``),
        ``coverage_error`` (pooled), ``coverage_error_per_dim`` and its ``mean``, and
        ``reliability`` (the nominal grid and pooled observed coverage, for a plot).
    """
    ref_a, est_a = validate(ref, est)
    n, d = ref_a.shape
    if dims is not None:
        names = list(dims)
    elif calibration is not None:
        names = list(calibration.dims)
    else:
        names = [f"dim{j}" for j in range(d)]
    if len(names) != d:
        raise ParameterError(f"{len(names)} dimension names for {d} columns")
    sig = None
    if sigma is not None:
        sig = _like(ref_a, sigma, "sigma")
        if not np.all(np.isfinite(sig)):
            raise ParameterError("sigma contains NaN or infinite values")
    out: dict[str, Any] = {"n_items": n, "before": _point_block(ref_a, est_a, sig, names)}
    if calibration is not None:
        cal = calibration
        after = cal.apply(est_a)
        spread = cal.spread(sig, n)
        out["after"] = _point_block(ref_a, after, spread if sig is not None else None, names)

        def from_calibration(c: float) -> tuple[npt.ArrayLike, npt.ArrayLike]:
            return cal.interval(est_a, sig, level=c)

        interval_fn = from_calibration
    if interval_fn is None:
        return out
    label_sd = ref_a.std(axis=0)
    coverage: dict[str, Any] = {}
    width: dict[str, Any] = {}
    for c in levels:
        low, high = interval_fn(check_level(c))
        cov = interval_coverage(ref_a, low, high)
        wid = interval_width(low, high)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(label_sd > 0, wid / label_sd, np.nan)
        key = f"{c:g}"
        coverage[key] = {
            "pooled": _clean(float(cov.mean())),
            "per_dim": {m: _clean(cov[j]) for j, m in enumerate(names)},
        }
        width[key] = {
            "mean": _nanmean(wid),
            "mean_over_sd": _nanmean(rel),
            "per_dim": {
                m: {"width": _clean(wid[j]), "width_over_sd": _clean(rel[j])}
                for j, m in enumerate(names)
            },
        }
    curve = coverage_curve(ref_a, interval_fn, COVERAGE_ERROR_LEVELS)
    per_dim_err = coverage_error(curve)
    out["coverage"] = coverage
    out["width"] = width
    out["coverage_error"] = _clean(float(coverage_error(curve.mean(axis=1))[0]))
    out["coverage_error_per_dim"] = {
        "mean": _nanmean(per_dim_err),
        "per_dim": {m: _clean(per_dim_err[j]) for j, m in enumerate(names)},
    }
    out["reliability"] = {
        "nominal": list(COVERAGE_ERROR_LEVELS),
        "observed": [float(v) for v in curve.mean(axis=1)],
        "observed_per_dim": {m: [float(v) for v in curve[:, j]] for j, m in enumerate(names)},
    }
    return out
