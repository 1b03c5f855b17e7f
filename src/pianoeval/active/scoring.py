"""Acquisition scores: how much a human label of each segment and dimension is worth.

Every score is a matrix of shape ``(n_items, n_dims)``, higher meaning "label this first",
and is normalised per dimension to ranks in (0, 1] (:func:`rank_normalise`), so that
dimensions whose spreads or errors live on different scales weigh the same and the mix of
two scores is a mix of orders, not of units. NaN marks an entry without a score (a
dimension without a pseudo-label); it never wins a comparison.

``uncertainty``
    The rater's spread per dimension (:meth:`SymbolicRater.predict_with_spread`: the error
    model's predicted absolute error when the bundle has one, else the member spread).
``disagreement``
    ``|prediction - calibrated pseudo-label|`` on the dimensions a pseudo-label maps to
    (``pseudo_calibrated``, keyed by ``percepiano19.<dim>``); NaN elsewhere. Guide 16.4:
    a large gap between the model and the symbolic proxy suggests an informative segment.
``mixed``
    ``weight * uncertainty + (1 - weight) * disagreement`` where the disagreement exists,
    plain uncertainty where it does not (:data:`DEFAULT_MIX_WEIGHT` = 0.5).
``random``
    Uniform noise from the seeded generator: the baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from pianoeval._registry import Registry
from pianoeval._typing import Float64Array
from pianoeval.errors import ParameterError

__all__ = [
    "DEFAULT_MIX_WEIGHT",
    "STRATEGIES",
    "acquisition_scores",
    "disagreement_scores",
    "pseudo_matrix",
    "rank_normalise",
    "uncertainty_scores",
]

#: Weight of the uncertainty in the ``mixed`` strategy (the rest is disagreement).
DEFAULT_MIX_WEIGHT = 0.5


def rank_normalise(values: npt.ArrayLike) -> Float64Array:
    """Replace each column by its ranks divided by its count of finite values.

    Ties get their mean rank; NaN stays NaN. The largest finite value of a column becomes 1.

    Parameters
    ----------
    values : array-like, shape=(n_items, n_dims)

    Returns
    -------
    np.ndarray, shape=(n_items, n_dims)
        In (0, 1] where finite.

    Examples
    --------
    >>> rank_normalise([[1.0, 5.0], [3.0, float("nan")], [2.0, 1.0]]).tolist()
    [[0.3333333333333333, 1.0], [1.0, nan], [0.6666666666666666, 0.5]]
    """
    from scipy.stats import rankdata

    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 2:
        raise ParameterError(f"scores must have shape (n_items, n_dims), got {a.shape}")
    out = np.full(a.shape, np.nan)
    for j in range(a.shape[1]):
        ok = np.isfinite(a[:, j])
        if ok.any():
            out[ok, j] = rankdata(a[ok, j]) / ok.sum()
    return out


def uncertainty_scores(sigma: npt.ArrayLike) -> Float64Array:
    """Normalised uncertainty from the rater's spread, shape ``(n_items, n_dims)``."""
    return rank_normalise(sigma)


def disagreement_scores(predictions: npt.ArrayLike, pseudo: npt.ArrayLike) -> Float64Array:
    """Normalised ``|prediction - calibrated pseudo-label|`` (NaN where no pseudo-label).

    Examples
    --------
    >>> disagreement_scores([[0.5, 0.5], [0.5, 0.5]], [[0.1, float("nan")], [0.45, 0.2]]).tolist()
    [[1.0, nan], [0.5, 1.0]]
    """
    p = np.asarray(predictions, dtype=np.float64)
    q = np.asarray(pseudo, dtype=np.float64)
    if p.shape != q.shape:
        raise ParameterError(f"predictions {p.shape} and pseudo-labels {q.shape} differ in shape")
    return rank_normalise(np.abs(p - q))


def pseudo_matrix(
    rows: Sequence[Mapping[str, float] | None], dims: Sequence[str], *, taxonomy: str
) -> Float64Array:
    """Stack rows' ``pseudo_calibrated`` maps into a matrix over ``dims`` (NaN if absent).

    Keys are qualified (``"percepiano19.timing"``); bare names are accepted too.

    Examples
    --------
    >>> pseudo_matrix([{"percepiano19.timing": 0.6}, None], ["timing", "pace"],
    ...               taxonomy="percepiano19").tolist()
    [[0.6, nan], [nan, nan]]
    """
    out = np.full((len(rows), len(dims)), np.nan)
    for i, row in enumerate(rows):
        for j, d in enumerate(dims):
            v = None if row is None else row.get(f"{taxonomy}.{d}", row.get(d))
            if v is not None and np.isfinite(v):
                out[i, j] = float(v)
    return out


def _mixed(sigma: Float64Array, disagreement: Float64Array | None, weight: float) -> Float64Array:
    u = uncertainty_scores(sigma)
    if disagreement is None:
        return u
    return np.where(np.isfinite(disagreement), weight * u + (1.0 - weight) * disagreement, u)


def acquisition_scores(
    strategy: str,
    *,
    sigma: npt.ArrayLike,
    predictions: npt.ArrayLike | None = None,
    pseudo: npt.ArrayLike | None = None,
    weight: float = DEFAULT_MIX_WEIGHT,
    seed: int | np.random.Generator | None = 0,
) -> Float64Array:
    """Score every item and dimension with a named strategy (:data:`STRATEGIES`).

    Parameters
    ----------
    strategy : {"mixed", "uncertainty", "disagreement", "random"}
    sigma : array-like, shape=(n_items, n_dims)
        The rater's spread.
    predictions, pseudo : array-like, shape=(n_items, n_dims), optional
        The rater's scores and the calibrated pseudo-labels (NaN where none); needed by
        ``disagreement`` and used by ``mixed`` when given.
    weight : float
        Weight of the uncertainty in ``mixed``, in [0, 1].
    seed : int or Generator, optional
        For ``random``.

    Returns
    -------
    np.ndarray, shape=(n_items, n_dims)

    Raises
    ------
    ParameterError
        For an unknown strategy, a weight outside [0, 1], or ``disagreement`` without
        predictions and pseudo-labels.

    Examples
    --------
    >>> s = acquisition_scores("uncertainty", sigma=[[0.1, 0.3], [0.2, 0.1]])
    >>> s.tolist()
    [[0.5, 1.0], [1.0, 0.5]]
    """
    if strategy not in STRATEGIES:
        raise ParameterError(
            f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}"
        )
    if not 0.0 <= weight <= 1.0:
        raise ParameterError(f"weight must be in [0, 1], not {weight}")
    s = np.asarray(sigma, dtype=np.float64)
    if s.ndim != 2:
        raise ParameterError(f"sigma must have shape (n_items, n_dims), got {s.shape}")
    dis = None
    if predictions is not None and pseudo is not None:
        dis = disagreement_scores(predictions, pseudo)
    if strategy == "disagreement" and dis is None:
        raise ParameterError("the disagreement strategy needs predictions and pseudo-labels")
    return STRATEGIES.get(strategy)(s, dis, weight, seed)


def _random(s: Float64Array, _d: Float64Array | None, _w: float, seed: Any) -> Float64Array:
    return np.random.default_rng(seed).random(s.shape)


def _disagreement(s: Float64Array, d: Float64Array | None, _w: float, _seed: Any) -> Float64Array:
    assert d is not None
    return d


#: An acquisition function: ``f(sigma, disagreement or None, weight, seed) -> scores``.
AcquisitionFn = Callable[[Float64Array, Float64Array | None, float, Any], Float64Array]

#: The strategies by name (one registry, STYLE.md section 2); every entry takes the same
#: arguments and returns an ``(n_items, n_dims)`` matrix (a generic test checks each).
STRATEGIES: Registry[AcquisitionFn] = Registry("acquisition strategy")
STRATEGIES.register("mixed", lambda s, d, w, _seed: _mixed(s, d, w))
STRATEGIES.register("uncertainty", lambda s, _d, _w, _seed: uncertainty_scores(s))
STRATEGIES.register("disagreement", _disagreement)
STRATEGIES.register("random", _random)
