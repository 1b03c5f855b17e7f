"""Normalised split-conformal intervals of one dimension, through ``crepes``.

The nonconformity score of a calibration row is ``|ref - est_cal| / spread``, where
``spread = scale * max(sigma, sigma_floor)`` is the rater's spread after calibration
(see :mod:`pianoeval.calibration.core`). For a nominal level ``c`` the interval of a new item
is ``est_cal ± q_c * spread``, where ``q_c`` is the ``ceil((n + 1) c)``-th smallest of the
``n`` calibration scores (infinite when ``ceil((n + 1) c) > n``): the finite-sample
correction of split conformal prediction, which guarantees coverage ``>= c`` when the
calibration rows and the new item are exchangeable. Hard items (large spread) get wider
intervals, easy ones narrower, at the same coverage.

Why ``crepes``: its :class:`crepes.ConformalRegressor` takes the residuals and the
difficulty estimates (``sigmas``) directly, as arrays we already have, and its whole fitted
state is the sorted array of normalised scores. We store those scores in JSON and rebuild
the regressor from them through its public ``fit`` (scores as residuals, unit sigmas), so
nothing is pickled. MAPIE 1.x also installs cleanly here, but its normalised score fits its
own residual model through a wrapped estimator: it does not take the rater's spread as an
array, and its fitted state is estimator objects (pickle).

``crepes`` picks the score at index ``int((1 - c) (n + 1)) - 1`` of the scores sorted in
decreasing order, which is the ``ceil((n + 1) c)``-th smallest in exact arithmetic; where
``(1 - c) (n + 1)`` is an integer, floating point can make it choose the next larger score
(one rank more conservative). We accept that rather than re-implement the rule.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from pianoeval.errors import BackendUnavailableError, ParameterError, PianoEvalWarning

__all__ = ["check_level", "conformal_regressor", "crepes_module", "normalised_scores"]


def crepes_module() -> Any:
    """Import ``crepes``, or say how to install it."""
    try:
        import crepes
    except ImportError as e:
        raise BackendUnavailableError(
            "crepes", "pip install 'pianoeval[train]'", reason=str(e)
        ) from None
    return crepes


def check_level(level: float) -> float:
    """Return ``level`` as a float, or raise :class:`ParameterError` outside ``(0, 1)``.

    Examples
    --------
    >>> check_level(0.8)
    0.8
    """
    lv = float(level)
    if not 0.0 < lv < 1.0:
        raise ParameterError(f"level must be in (0, 1) (a nominal coverage), got {level!r}")
    return lv


def normalised_scores(
    ref: npt.NDArray[np.float64], est: npt.NDArray[np.float64], spread: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Sorted (increasing) nonconformity scores ``|ref - est| / spread`` of one dimension.

    Computed by ``crepes`` (``ConformalRegressor.fit`` with ``sigmas``), so the stored scores
    are exactly the state the library would keep.

    Examples
    --------
    >>> normalised_scores(np.array([1.0, 2.0]), np.array([0.0, 0.0]), np.array([2.0, 1.0]))
    array([0.5, 2. ])
    """
    cr = crepes_module().ConformalRegressor()
    cr.fit(residuals=ref - est, sigmas=spread)
    return np.sort(np.asarray(cr.alphas, dtype=np.float64))


def conformal_regressor(scores: npt.NDArray[np.float64]) -> Any:
    """Rebuild a normalised ``crepes.ConformalRegressor`` from stored scores.

    Fitting on the scores as residuals with unit sigmas makes its sorted ``alphas`` equal
    to the scores, and marks it normalised, so ``predict_int(y_hat, sigmas=spread, ...)``
    gives ``y_hat ± q * spread``.
    """
    cr = crepes_module().ConformalRegressor()
    cr.fit(residuals=np.asarray(scores, dtype=np.float64), sigmas=np.ones(len(scores)))
    return cr


def predict_interval(
    regressor: Any,
    est: npt.NDArray[np.float64],
    spread: npt.NDArray[np.float64],
    level: float,
    *,
    dim: str,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Interval of level ``level`` around ``est`` of one dimension (infinite if too few rows).

    ``crepes`` warns when the level needs more calibration rows than there are; the warning
    is re-issued as a :class:`~pianoeval.errors.PianoEvalWarning` naming the dimension.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = np.asarray(
            regressor.predict_int(est, sigmas=spread, confidence=level), dtype=np.float64
        )
    if any("too small" in str(w.message) for w in caught):
        n = len(regressor.alphas)
        warnings.warn(
            f"{dim}: a {level:g} interval needs at least {int(np.ceil(level / (1 - level)))} "
            f"calibration rows, there are {n}: the interval is infinite",
            PianoEvalWarning,
            stacklevel=3,
        )
    return out[:, 0], out[:, 1]
