"""Per-dimension calibration of a rater: a point calibrator, a spread scale, conformal scores.

A :class:`Calibration` is fitted on out-of-fold predictions ``est`` (one row per item,
one column per dimension), the labels ``ref`` of the same items, and optionally the rater's
spread ``sigma`` (e.g. the standard deviation over ensemble members or fold models). The
caller guarantees that the predictions are out-of-fold under the split's own grouping (no
item's prediction was made by a model that saw its group); ``groups`` passes that grouping
on, so every inner cross-validation here keeps a group's rows together.

For each dimension, in order:

1. **Point calibrator** (:mod:`pianoeval.calibration.point`): ``none``, ``affine`` or
   ``isotonic``, or ``auto``: a grouped inner ``K``-fold cross-validation on the calibration
   rows (``K = min(5, number of groups)``) measures the out-of-fold MAE of each, and a
   calibrator replaces ``none`` only when it lowers that MAE by more than ``min_gain``
   (relative, default 1 %), so noise alone keeps the raw predictions. The chosen calibrator
   is then refitted on all rows.
2. **Residuals for the intervals**: the calibrated predictions of the inner folds (each row
   calibrated by a map fitted without its group). In-sample residuals of an isotonic map
   are too small (it follows the noise) and would give intervals that undercover.
3. **Spread**: ``spread = scale * max(sigma, sigma_floor)``. ``sigma_floor`` is
   :data:`SIGMA_FLOOR_FRACTION` of the median calibration sigma, so an item on which all
   members agree does not get a zero-width interval; without ``sigma`` it is 1 for every
   item (plain, unnormalised split conformal). ``scale`` is the temperature that makes the
   spread a standard deviation of the error: ``median(|err| / sigma) / 0.6745`` (the median
   of ``|N(0, 1)|``). It does not change the intervals (a common factor cancels in the
   normalised scores), only the meaning of the reported spread.
4. **Conformal scores** (:mod:`pianoeval.calibration.conformal`): the sorted ``|err| /
   spread`` of the calibration rows are stored, so an interval of any level in ``(0, 1)``
   can be asked for later. They are kept to :data:`SCORE_DIGITS` significant digits
   (rounded up, so an interval never narrows): a relative change below 1e-4 that keeps a
   calibrated bundle small.

Everything is stored as plain, compact JSON (:meth:`Calibration.to_dict`, ``calibration.json``);
reloading predicts exactly the same numbers without pickle or scikit-learn.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pianoeval._typing import PathLike
from pianoeval.calibration.conformal import (
    check_level,
    conformal_regressor,
    normalised_scores,
    predict_interval,
)
from pianoeval.calibration.point import POINT_METHODS, apply_point, fit_point
from pianoeval.errors import ParameterError, SchemaError

__all__ = [
    "CALIBRATION_FILE",
    "METHODS",
    "MIN_ROWS",
    "SCHEMA_VERSION",
    "SCORE_DIGITS",
    "SIGMA_FLOOR_FRACTION",
    "Calibration",
    "DimCalibration",
    "compact_scores",
    "fit_calibration",
    "load_calibration",
]

#: Version of the ``calibration.json`` layout written by :meth:`Calibration.to_dict`.
SCHEMA_VERSION = 1
#: The file name a calibration takes inside a rater bundle.
CALIBRATION_FILE = "calibration.json"
#: What ``method`` accepts: a point calibrator, or ``auto`` (chosen by inner CV).
METHODS = ("auto", *POINT_METHODS)
#: Fewest calibration rows :meth:`Calibration.fit` accepts (5 inner folds of 4 rows).
MIN_ROWS = 20
#: The spread floor, as a fraction of the median calibration sigma of the dimension.
SIGMA_FLOOR_FRACTION = 0.05
#: Significant digits the stored conformal scores keep (:func:`compact_scores`).
SCORE_DIGITS = 5
#: Median of ``|N(0, 1)|``: turns a median absolute error into a standard deviation.
_MEDIAN_ABS_NORMAL = 0.6744897501960817
_KIND = "pianoeval.calibration"
_EPS = 1e-12
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DimCalibration:
    """The fitted calibration of one dimension.

    Attributes
    ----------
    method : str
        ``none``, ``affine`` or ``isotonic``.
    params : dict
        The point calibrator's parameters (:mod:`pianoeval.calibration.point`).
    scale : float
        Temperature of the spread: ``spread = scale * max(sigma, sigma_floor)``.
    sigma_floor : float
        Smallest sigma used.
    scores : np.ndarray, shape=(n_rows,)
        Sorted normalised conformal scores of the calibration rows.
    cv_mae : dict of str to float
        Inner-CV MAE of each calibrator tried (empty when the method was fixed).
    """

    method: str
    params: dict[str, Any]
    scale: float
    sigma_floor: float
    scores: FloatArray
    cv_mae: dict[str, float] = field(default_factory=dict)


def _matrix(name: str, x: npt.ArrayLike, n_dims: int | None = None) -> FloatArray:
    """``x`` as a finite float64 array of shape (n, n_dims); a 1-d array is one dimension."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ParameterError(f"{name} must be numeric: {e}") from None
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ParameterError(f"{name} must have shape (n_items, n_dims), got {a.shape}")
    if n_dims is not None and a.shape[1] != n_dims:
        raise ParameterError(f"{name} has {a.shape[1]} dimensions, the calibration {n_dims}")
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ParameterError(
            f"{name} contains NaN or infinite values (first at row {bad[0]}, column {bad[1]})"
        )
    return a


def _sigma(sigma: npt.ArrayLike | None, shape: tuple[int, int]) -> FloatArray | None:
    if sigma is None:
        return None
    s = _matrix("sigma", sigma, shape[1])
    if s.shape != shape:
        raise ParameterError(f"sigma must have the shape of the predictions {shape}, got {s.shape}")
    if np.any(s < 0):
        raise ParameterError("sigma must be >= 0 (a spread)")
    return s


def _folds(n: int, groups: npt.NDArray[Any] | None, seed: int) -> list[npt.NDArray[np.intp]]:
    """Test indices of the inner folds: whole groups per fold, or shuffled rows."""
    from sklearn.model_selection import GroupKFold, KFold

    if groups is None:
        splitter: Any = KFold(n_splits=5, shuffle=True, random_state=seed)
        return [test for _, test in splitter.split(np.zeros(n))]
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ParameterError(f"groups must hold at least 2 distinct groups, got {n_groups}")
    splitter = GroupKFold(n_splits=min(5, n_groups))
    return [test for _, test in splitter.split(np.zeros(n), groups=groups)]


def _oof(
    method: str, est: FloatArray, ref: FloatArray, folds: list[npt.NDArray[np.intp]]
) -> FloatArray:
    """Calibrated predictions, each fold calibrated by a map fitted on the other folds."""
    if method == "none":
        return est.copy()
    out = np.empty_like(est)
    for test in folds:
        train = np.setdiff1d(np.arange(len(est)), test)
        out[test] = apply_point(method, fit_point(method, est[train], ref[train]), est[test])
    return out


@dataclass
class Calibration:
    """Fitted per-dimension calibration of a rater (see the module docstring).

    Attributes
    ----------
    dims : tuple of str
        Dimension names, in column order.
    parts : tuple of DimCalibration
        One per dimension.
    uses_sigma : bool
        Whether it was fitted with the rater's spread (then every call needs ``sigma``).
    n_rows : int
        Calibration rows.
    n_groups : int or None
        Distinct groups among them, when groups were given.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.uniform(0.2, 0.9, size=(200, 1))
    >>> est = 0.55 + 0.5 * (ref - 0.55) + 0.03 * rng.normal(size=(200, 1))
    >>> cal = Calibration.fit(est, ref, dims=["dynamics"], method="affine")
    >>> low, high = cal.interval(est[:3], level=0.8)
    >>> bool(np.all(low < high))
    True
    """

    dims: tuple[str, ...]
    parts: tuple[DimCalibration, ...]
    uses_sigma: bool
    n_rows: int
    n_groups: int | None = None
    _regressors: dict[int, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls,
        est: npt.ArrayLike,
        ref: npt.ArrayLike,
        sigma: npt.ArrayLike | None = None,
        *,
        groups: Sequence[object] | npt.ArrayLike | None = None,
        dims: Sequence[str] | None = None,
        method: str | Sequence[str] = "auto",
        min_gain: float = 0.01,
        seed: int = 0,
    ) -> Calibration:
        """Fit the calibration on out-of-fold predictions.

        Parameters
        ----------
        est : array-like, shape=(n_items, n_dims)
            Out-of-fold predictions of the rater.
        ref : array-like, shape=(n_items, n_dims)
            Labels of the same items.
        sigma : array-like, shape=(n_items, n_dims), optional
            The rater's spread per item (member or fold spread); without it every item has
            the same spread and the intervals have one width per dimension.
        groups : sequence, shape=(n_items,), optional
            Group of each item (e.g. its excerpt or performer, the split's grouping): the
            inner cross-validation never splits a group.
        dims : sequence of str, optional
            Dimension names (default ``dim0``, ``dim1``...).
        method : str or sequence of str
            ``auto``, ``affine``, ``isotonic`` or ``none``, for all dimensions or one per
            dimension.
        min_gain : float
            With ``auto``, the relative inner-CV MAE reduction a calibrator needs to replace
            ``none``.
        seed : int
            Shuffling of the inner folds when there are no groups.

        Returns
        -------
        Calibration

        Raises
        ------
        ParameterError
            For mismatched shapes, NaN or infinite values, negative sigma, fewer than
            :data:`MIN_ROWS` rows, fewer than two groups, or an unknown method.
        """
        est_a = _matrix("est", est)
        ref_a = _matrix("ref", ref)
        if ref_a.shape != est_a.shape:
            raise ParameterError(
                f"est and ref must have the same (n_items, n_dims) shape, got {est_a.shape} "
                f"and {ref_a.shape}"
            )
        n, d = est_a.shape
        if n < MIN_ROWS:
            raise ParameterError(f"calibration needs at least {MIN_ROWS} rows, got {n}")
        sig = _sigma(sigma, (n, d))
        names = tuple(dims) if dims is not None else tuple(f"dim{j}" for j in range(d))
        if len(names) != d or len(set(names)) != d:
            raise ParameterError(f"need {d} distinct dimension names, got {list(names)}")
        methods = [method] * d if isinstance(method, str) else list(method)
        if len(methods) != d:
            raise ParameterError(f"{len(methods)} methods for {d} dimensions")
        for m in methods:
            if m not in METHODS:
                raise ParameterError(f"unknown calibration method {m!r}; use one of {METHODS}")
        if min_gain < 0:
            raise ParameterError(f"min_gain must be >= 0, got {min_gain}")
        g = None
        if groups is not None:
            g = np.asarray(groups)
            if g.shape != (n,):
                raise ParameterError(f"groups must have one entry per row ({n}), got {g.shape}")
        folds = _folds(n, g, seed)
        parts = tuple(
            _fit_dim(
                est_a[:, j],
                ref_a[:, j],
                None if sig is None else sig[:, j],
                methods[j],
                folds,
                min_gain,
            )
            for j in range(d)
        )
        n_groups = None if g is None else len(np.unique(g))
        return cls(dims=names, parts=parts, uses_sigma=sig is not None, n_rows=n, n_groups=n_groups)

    # ------------------------------------------------------------------ use
    def apply(self, est: npt.ArrayLike) -> FloatArray:
        """Calibrated predictions, shape=(n_items, n_dims).

        Raises
        ------
        ParameterError
            If the number of columns differs from the calibration's or a value is not finite.
        """
        est_a = _matrix("est", est, len(self.dims))
        return np.column_stack(
            [apply_point(p.method, p.params, est_a[:, j]) for j, p in enumerate(self.parts)]
        )

    def spread(self, sigma: npt.ArrayLike | None, n_items: int) -> FloatArray:
        """Calibrated spread ``scale * max(sigma, sigma_floor)``, shape=(n_items, n_dims).

        An estimate of the standard deviation of each item's error after calibration.

        Raises
        ------
        ParameterError
            If ``sigma`` is missing although the calibration was fitted with it (or given
            although it was not), or has the wrong shape.
        """
        d = len(self.dims)
        sig = self._check_sigma(sigma, (n_items, d))
        floors = np.array([p.sigma_floor for p in self.parts])
        scales = np.array([p.scale for p in self.parts])
        base = np.ones((n_items, d)) if sig is None else np.maximum(sig, floors)
        out: FloatArray = scales * base + _EPS
        return out

    def quantile(self, level: float) -> FloatArray:
        """Conformal score quantile of each dimension at ``level`` (``inf`` if too few rows).

        An interval is ``apply(est) ± quantile(level) * spread(sigma)``.
        """
        lv = check_level(level)
        return np.array(
            [
                float(
                    predict_interval(self._regressor(j), np.zeros(1), np.ones(1), lv, dim=n)[1][0]
                )
                for j, n in enumerate(self.dims)
            ]
        )

    def interval(
        self, est: npt.ArrayLike, sigma: npt.ArrayLike | None = None, *, level: float = 0.8
    ) -> tuple[FloatArray, FloatArray]:
        """Conformal interval of nominal coverage ``level`` around the calibrated prediction.

        Parameters
        ----------
        est : array-like, shape=(n_items, n_dims)
            Raw predictions of the rater (calibrated here).
        sigma : array-like, shape=(n_items, n_dims), optional
            The rater's spread; required exactly when the calibration was fitted with one.
        level : float
            Nominal coverage in ``(0, 1)``.

        Returns
        -------
        low, high : np.ndarray, shape=(n_items, n_dims)
            Bounds; infinite for a dimension with too few calibration rows for ``level``
            (with a :class:`~pianoeval.errors.PianoEvalWarning`).

        Raises
        ------
        ParameterError
            For a level outside ``(0, 1)``, or predictions or sigma that do not fit.
        """
        lv = check_level(level)
        centre = self.apply(est)
        spread = self.spread(sigma, centre.shape[0])
        low = np.empty_like(centre)
        high = np.empty_like(centre)
        for j, name in enumerate(self.dims):
            low[:, j], high[:, j] = predict_interval(
                self._regressor(j), centre[:, j], spread[:, j], lv, dim=name
            )
        return low, high

    def _regressor(self, j: int) -> Any:
        if j not in self._regressors:
            self._regressors[j] = conformal_regressor(self.parts[j].scores)
        return self._regressors[j]

    def _check_sigma(
        self, sigma: npt.ArrayLike | None, shape: tuple[int, int]
    ) -> FloatArray | None:
        if sigma is None and self.uses_sigma:
            raise ParameterError("this calibration was fitted with sigma: pass the rater's sigma")
        if sigma is not None and not self.uses_sigma:
            raise ParameterError("this calibration was fitted without sigma: pass sigma=None")
        return _sigma(sigma, shape)

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready record (only dicts, lists, str, int, float, bool and None)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": _KIND,
            "dims": list(self.dims),
            "uses_sigma": self.uses_sigma,
            "n_rows": self.n_rows,
            "n_groups": self.n_groups,
            "per_dim": {
                name: {
                    "method": p.method,
                    "params": p.params,
                    "scale": p.scale,
                    "sigma_floor": p.sigma_floor,
                    "cv_mae": p.cv_mae,
                    "scores": [float(v) for v in p.scores],
                }
                for name, p in zip(self.dims, self.parts, strict=True)
            },
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Calibration:
        """Rebuild a calibration from :meth:`to_dict`'s record.

        Raises
        ------
        SchemaError
            If the record is not a calibration of a known schema version or a field is
            missing or malformed (the message names it).
        """
        if not isinstance(record, Mapping):
            raise SchemaError(f"a calibration record must be an object, got {type(record)}")
        if record.get("kind") != _KIND:
            raise SchemaError(f"not a calibration record (kind={record.get('kind')!r})")
        version = record.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SchemaError(
                f"unsupported calibration schema_version {version!r} (this pianoeval reads "
                f"{SCHEMA_VERSION})"
            )
        try:
            dims = tuple(str(d) for d in record["dims"])
            per_dim = record["per_dim"]
            parts = tuple(_dim_from_dict(name, per_dim[name]) for name in dims)
            return cls(
                dims=dims,
                parts=parts,
                uses_sigma=bool(record["uses_sigma"]),
                n_rows=int(record["n_rows"]),
                n_groups=None if record.get("n_groups") is None else int(record["n_groups"]),
            )
        except SchemaError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            raise SchemaError(f"malformed calibration record: {type(e).__name__}: {e}") from None

    def save(self, path: PathLike) -> Path:
        """Write ``calibration.json`` (``path`` is the file, or a folder to write it in)."""
        p = Path(path)
        if p.is_dir():
            p = p / CALIBRATION_FILE
        p.write_text(json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False) + "\n")
        return p

    @classmethod
    def load(cls, path: PathLike) -> Calibration:
        """Read a calibration written by :meth:`save` (see :func:`load_calibration`)."""
        return load_calibration(path)


def _dim_from_dict(name: str, rec: Mapping[str, Any]) -> DimCalibration:
    method = rec["method"]
    if method not in POINT_METHODS:
        raise SchemaError(f"{name}: unknown calibration method {method!r}")
    params = dict(rec["params"])
    if method == "affine" and not {"intercept", "slope"} <= params.keys():
        raise SchemaError(f"{name}: affine params need intercept and slope, got {list(params)}")
    if method == "isotonic":
        x = np.asarray(params.get("x"), dtype=np.float64)
        y = np.asarray(params.get("y"), dtype=np.float64)
        if x.ndim != 1 or x.shape != y.shape or x.size == 0 or np.any(np.diff(x) < 0):
            raise SchemaError(f"{name}: isotonic params need equal, non-empty, sorted x and y")
    scores = np.asarray(rec["scores"], dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0 or not np.all(np.isfinite(scores)):
        raise SchemaError(f"{name}: scores must be a non-empty list of finite numbers")
    scale, floor = float(rec["scale"]), float(rec["sigma_floor"])
    if not (math.isfinite(scale) and scale > 0 and math.isfinite(floor) and floor >= 0):
        raise SchemaError(f"{name}: scale must be > 0 and sigma_floor >= 0")
    cv = {str(k): float(v) for k, v in dict(rec.get("cv_mae") or {}).items()}
    return DimCalibration(method, params, scale, floor, np.sort(scores), cv)


def _fit_dim(
    est: FloatArray,
    ref: FloatArray,
    sigma: FloatArray | None,
    method: str,
    folds: list[npt.NDArray[np.intp]],
    min_gain: float,
) -> DimCalibration:
    cv_mae: dict[str, float] = {}
    oof: dict[str, FloatArray] = {}
    if method == "auto":
        for m in POINT_METHODS:
            oof[m] = _oof(m, est, ref, folds)
            cv_mae[m] = float(np.mean(np.abs(ref - oof[m])))
        best = min(POINT_METHODS, key=lambda m: cv_mae[m])
        method = best if cv_mae[best] < (1 - min_gain) * cv_mae["none"] else "none"
    else:
        oof[method] = _oof(method, est, ref, folds)
    params = fit_point(method, est, ref)
    err = ref - oof[method]
    if sigma is None:
        floor, base = 0.0, np.ones_like(est)
    else:
        med = float(np.median(sigma))
        floor = SIGMA_FLOOR_FRACTION * med if med > 0 else 1.0
        base = np.maximum(sigma, floor)
    ratio = float(np.median(np.abs(err) / base))
    scale = ratio / _MEDIAN_ABS_NORMAL if ratio > 0 else 1.0
    scores = compact_scores(normalised_scores(ref, oof[method], scale * base + _EPS))
    return DimCalibration(method, params, scale, floor, scores, cv_mae)


def compact_scores(scores: npt.ArrayLike, digits: int | None = None) -> FloatArray:
    """Sorted conformal scores rounded *up* to ``digits`` significant digits.

    Rounding up keeps every interval at least as wide as the exact scores give; the
    stored JSON shrinks about threefold (what lets a calibrated MIDI bundle fit its
    size budget).

    Examples
    --------
    >>> compact_scores([0.123456789, 2.0, 0.0]).tolist()
    [0.0, 0.12346, 2.0]
    """
    digits = SCORE_DIGITS if digits is None else digits
    s = np.sort(np.asarray(scores, dtype=np.float64))
    out = np.zeros_like(s)
    pos = s > 0
    exp = np.floor(np.log10(s[pos])) - (digits - 1)
    factor = 10.0**-exp
    up = np.ceil(s[pos] * factor * (1 - 1e-12)) / factor
    out[pos] = [float(f"{v:.{digits}g}") for v in up]
    out[~pos] = s[~pos]
    return out


def fit_calibration(
    est: npt.ArrayLike,
    ref: npt.ArrayLike,
    sigma: npt.ArrayLike | None = None,
    **kwargs: Any,
) -> Calibration:
    """Fit a :class:`Calibration` (same arguments as :meth:`Calibration.fit`)."""
    return Calibration.fit(est, ref, sigma, **kwargs)


def load_calibration(path: PathLike) -> Calibration:
    """Read ``calibration.json`` (``path`` is the file, or the folder holding it).

    Raises
    ------
    SchemaError
        If the file is missing, is not JSON, or is not a valid calibration; the message
        names the file.
    """
    p = Path(path)
    if p.is_dir():
        p = p / CALIBRATION_FILE
    try:
        record = json.loads(p.read_text())
    except FileNotFoundError:
        raise SchemaError(f"{p}: no calibration file there") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SchemaError(f"{p}: not a readable JSON calibration ({e})") from None
    try:
        return Calibration.from_dict(record)
    except SchemaError as e:
        raise SchemaError(f"{p}: {e}") from None
