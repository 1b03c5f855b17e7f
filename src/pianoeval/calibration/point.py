"""Point calibrators of one dimension: ``none``, ``affine`` and ``isotonic``.

Each calibrator is a pair of functions: ``fit_<name>(est, ref) -> params`` and
:func:`apply_point` ``(name, params, est)``. ``params`` holds only floats and lists of
floats, so a fitted calibrator is stored in JSON and reloaded without pickle; applying the
reloaded parameters gives exactly what the fitted object would.

- ``none``: the identity (no parameters).
- ``affine``: ``ref ≈ intercept + slope * est`` by least squares. The slope is clipped to
  ``[AFFINE_MIN_SLOPE, AFFINE_MAX_SLOPE]`` so that the map stays increasing (a calibrator
  must not reverse or erase the rater's ordering, whatever out-of-fold noise says) and cannot
  blow a nearly constant predictor up; with a constant predictor the slope is 1 and only
  the offset is fitted. The intercept is the least-squares one given the slope.
- ``isotonic``: scikit-learn's ``IsotonicRegression(increasing=True, out_of_bounds="clip")``,
  stored as its ``X_thresholds_`` and ``y_thresholds_`` and applied with :func:`numpy.interp`,
  which is linear between thresholds and constant beyond the ends: what scikit-learn's
  ``predict`` does with ``out_of_bounds="clip"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from pianoeval.errors import BackendUnavailableError, ParameterError

__all__ = [
    "AFFINE_MAX_SLOPE",
    "AFFINE_MIN_SLOPE",
    "POINT_METHODS",
    "apply_point",
    "fit_affine",
    "fit_isotonic",
    "fit_point",
]

#: The point calibrators, in the order ``auto`` tries them.
POINT_METHODS = ("none", "affine", "isotonic")
#: Bounds of the affine slope (see the module docstring).
AFFINE_MIN_SLOPE = 0.05
AFFINE_MAX_SLOPE = 20.0

Params = dict[str, Any]


def fit_affine(est: npt.ArrayLike, ref: npt.ArrayLike) -> Params:
    """Fit ``ref ≈ intercept + slope * est`` by least squares, slope clipped.

    Parameters
    ----------
    est : array-like, shape=(n_items,)
        Out-of-fold predictions.
    ref : array-like, shape=(n_items,)
        Labels.

    Returns
    -------
    dict
        ``{"intercept": float, "slope": float}``.

    Examples
    --------
    >>> p = fit_affine([0.4, 0.5, 0.6], [0.3, 0.5, 0.7])
    >>> round(p["intercept"], 6), round(p["slope"], 6)
    (-0.5, 2.0)
    """
    x = np.asarray(est, dtype=np.float64)
    y = np.asarray(ref, dtype=np.float64)
    var = float(np.var(x))
    if var < 1e-12:
        slope = 1.0  # nothing to scale: only the offset can be learnt
    else:
        slope = float(np.mean((x - x.mean()) * (y - y.mean())) / var)
        slope = float(np.clip(slope, AFFINE_MIN_SLOPE, AFFINE_MAX_SLOPE))
    intercept = float(y.mean() - slope * x.mean())
    return {"intercept": intercept, "slope": slope}


def _isotonic_class() -> Any:
    try:
        from sklearn.isotonic import IsotonicRegression
    except ImportError as e:
        raise BackendUnavailableError(
            "scikit-learn", "pip install 'pianoeval[train]'", reason=str(e)
        ) from None
    return IsotonicRegression


def fit_isotonic(est: npt.ArrayLike, ref: npt.ArrayLike) -> Params:
    """Fit an increasing isotonic map and return its thresholds.

    Returns
    -------
    dict
        ``{"x": list of float, "y": list of float}``: the increasing knots of the
        piecewise-linear map (:func:`apply_point` interpolates between them).

    Examples
    --------
    >>> p = fit_isotonic([0.1, 0.2, 0.3, 0.4], [0.2, 0.1, 0.5, 0.6])
    >>> [round(v, 3) for v in p["y"]]
    [0.15, 0.15, 0.5, 0.6]
    """
    x = np.asarray(est, dtype=np.float64)
    y = np.asarray(ref, dtype=np.float64)
    iso = _isotonic_class()(increasing=True, out_of_bounds="clip").fit(x, y)
    return {
        "x": [float(v) for v in iso.X_thresholds_],
        "y": [float(v) for v in iso.y_thresholds_],
    }


def fit_point(method: str, est: npt.ArrayLike, ref: npt.ArrayLike) -> Params:
    """Fit the point calibrator ``method`` (one of :data:`POINT_METHODS`).

    Raises
    ------
    ParameterError
        For an unknown method.
    """
    if method == "none":
        return {}
    if method == "affine":
        return fit_affine(est, ref)
    if method == "isotonic":
        return fit_isotonic(est, ref)
    raise ParameterError(f"unknown calibration method {method!r}; use one of {POINT_METHODS}")


def apply_point(method: str, params: Params, est: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Apply a fitted point calibrator to predictions of its dimension.

    Examples
    --------
    >>> apply_point("affine", {"intercept": -0.5, "slope": 2.0}, [0.5, 0.55])
    array([0.5, 0.6])
    >>> apply_point("isotonic", {"x": [0.0, 1.0], "y": [0.2, 0.4]}, [-1.0, 0.5, 2.0])
    array([0.2, 0.3, 0.4])
    """
    x = np.asarray(est, dtype=np.float64)
    if method == "none":
        return x.copy()
    if method == "affine":
        out: npt.NDArray[np.float64] = params["intercept"] + params["slope"] * x
        return out
    if method == "isotonic":
        xp = np.asarray(params["x"], dtype=np.float64)
        fp = np.asarray(params["y"], dtype=np.float64)
        return np.asarray(np.interp(x, xp, fp), dtype=np.float64)
    raise ParameterError(f"unknown calibration method {method!r}; use one of {POINT_METHODS}")
