"""The ``ridge`` member of the symbolic rater: ridge regressions on quantile-normal features.

Features are mapped to normal scores through their training quantiles
(:func:`quantile_normal`, the same mapping as scikit-learn's ``QuantileTransformer``, in
numpy so a saved rater predicts without scikit-learn and unpickles nothing), then one
ridge regression per dimension is fitted (:class:`LinearMember`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pianoeval.errors import BackendUnavailableError

#: Quantiles kept per feature by the ``ridge`` member's normal-score mapping.
N_QUANTILES = 200
#: As in scikit-learn's QuantileTransformer: values this close to the ends map to the ends.
_BOUNDS_THRESHOLD = 1e-7


def quantile_normal(
    x: npt.ArrayLike, quantiles: npt.ArrayLike, references: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Map features to normal scores through their training quantiles.

    The same mapping as scikit-learn's ``QuantileTransformer(output_distribution="normal")``
    (tested equal), written with numpy so a saved rater predicts without scikit-learn and
    without unpickling anything.

    Parameters
    ----------
    x : array-like, shape=(n_items, n_features)
    quantiles : array-like, shape=(n_quantiles, n_features)
        Each feature's training values at ``references``.
    references : array-like, shape=(n_quantiles,)
        The quantile levels, increasing from 0 to 1.

    Returns
    -------
    np.ndarray, shape=(n_items, n_features)
        Normal scores, clipped to about +-5.2 (the levels 1e-7 and 1 - 1e-7).

    Examples
    --------
    >>> q = np.array([[0.0], [1.0], [2.0]])
    >>> quantile_normal([[1.0], [5.0]], q, [0.0, 0.5, 1.0]).round(2).ravel().tolist()
    [0.0, 5.2]
    """
    from scipy.special import ndtri

    arr = np.array(x, dtype=np.float64, ndmin=2)
    qs = np.asarray(quantiles, dtype=np.float64)
    ref = np.asarray(references, dtype=np.float64)
    out = np.empty_like(arr)
    for j in range(arr.shape[1]):
        col, q = arr[:, j], qs[:, j]
        # mean of the forward and backward interpolation: repeated quantiles map to the
        # middle of their range (as scikit-learn does)
        v = 0.5 * (np.interp(col, q, ref) - np.interp(-col, -q[::-1], -ref[::-1]))
        v[col + _BOUNDS_THRESHOLD > q[-1]] = 1.0
        v[col - _BOUNDS_THRESHOLD < q[0]] = 0.0
        out[:, j] = v
    edge = _BOUNDS_THRESHOLD - np.spacing(1)
    z: npt.NDArray[np.float64] = np.clip(ndtri(out), ndtri(edge), ndtri(1 - edge))
    return z


@dataclass
class LinearMember:
    """The ``ridge`` member: ridge regressions on quantile-normal features.

    Attributes
    ----------
    quantiles : np.ndarray, shape=(n_quantiles, n_features)
    references : np.ndarray, shape=(n_quantiles,)
    coef : np.ndarray, shape=(n_dims, n_features)
    intercept : np.ndarray, shape=(n_dims,)
    alpha : float
    """

    quantiles: npt.NDArray[np.float64]
    references: npt.NDArray[np.float64]
    coef: npt.NDArray[np.float64]
    intercept: npt.NDArray[np.float64]
    alpha: float

    @classmethod
    def fit(
        cls,
        x: npt.NDArray[np.float32],
        y: npt.NDArray[np.float64],
        *,
        alpha: float,
        sample_weight: npt.NDArray[np.float64] | None = None,
    ) -> LinearMember:
        """Fit the quantiles on ``x`` and one ridge per column of ``y`` (NaN labels left out)."""
        try:
            from sklearn.linear_model import Ridge
            from sklearn.preprocessing import QuantileTransformer
        except ImportError as e:
            raise BackendUnavailableError(
                "scikit-learn", "pip install 'pianoeval[train]'", reason=str(e)
            ) from None
        qt = QuantileTransformer(
            n_quantiles=min(N_QUANTILES, len(x)), output_distribution="normal"
        ).fit(x.astype(np.float64))
        z = quantile_normal(x, qt.quantiles_, qt.references_)
        coef = np.zeros((y.shape[1], x.shape[1]))
        intercept = np.zeros(y.shape[1])
        for k in range(y.shape[1]):
            ok = np.isfinite(y[:, k])
            m = Ridge(alpha=alpha).fit(
                z[ok], y[ok, k], sample_weight=None if sample_weight is None else sample_weight[ok]
            )
            coef[k], intercept[k] = m.coef_, m.intercept_
        return cls(np.asarray(qt.quantiles_), np.asarray(qt.references_), coef, intercept, alpha)

    def predict(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Return shape ``(n_items, n_dims)``."""
        out: npt.NDArray[np.float64] = (
            quantile_normal(x, self.quantiles, self.references) @ self.coef.T + self.intercept
        )
        return out

    def to_json(self) -> str:
        """Serialise (floats written exactly: ``repr`` round-trips)."""
        return json.dumps(
            {
                "alpha": self.alpha,
                "references": self.references.tolist(),
                "quantiles": self.quantiles.tolist(),
                "coef": self.coef.tolist(),
                "intercept": self.intercept.tolist(),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> LinearMember:
        """Read what :meth:`to_json` wrote."""
        d = json.loads(text)
        return cls(
            quantiles=np.asarray(d["quantiles"], dtype=np.float64),
            references=np.asarray(d["references"], dtype=np.float64),
            coef=np.asarray(d["coef"], dtype=np.float64),
            intercept=np.asarray(d["intercept"], dtype=np.float64),
            alpha=float(d["alpha"]),
        )
