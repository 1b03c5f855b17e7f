"""Out-of-distribution score: how unlike a rater's training inputs an input is.

A rater only knows the kind of input it learned from. :class:`OODModel` measures how far
a row of rater inputs lies from the training rows, so that a rating of something else (a
harpsichord, a very sparse passage, a few seconds of playing) can say its scores are
unreliable and widen its intervals (issue 18).

The score, per row:

1. **Robust standardisation.** Each column ``j`` becomes ``z_j = (x_j - median_j) /
   scale_j`` with ``scale_j = IQR_j / 1.349`` (the SD of a normal column; the column's SD
   where its IQR is 0, 1 where both are 0), clipped to ``[-clip, clip]`` (10 by default),
   so one wild feature cannot dominate the distance. Missing or infinite values take the
   training median (``z = 0``).
2. **Mahalanobis distance under a shrunk covariance.** The covariance of the standardised
   training rows is estimated with scikit-learn's ``LedoitWolf``. To keep the stored model
   small (no training rows, a few hundred kB at most), only its ``k`` leading eigenpairs
   ``(v_i, lambda_i)`` are kept and the remaining eigenvalues are replaced by their mean
   ``lambda_res`` (the probabilistic-PCA form of the covariance):
   ``d^2 = sum_i (v_i . c)^2 / lambda_i + (|c|^2 - sum_i (v_i . c)^2) / lambda_res`` with
   ``c = z - mean(z)``. The distance is ``D = sqrt(d^2 / n_columns)`` (about 1 for a
   typical training row whatever the number of columns).
3. **Normalised score.** ``score = D / threshold``, where ``threshold`` is the
   ``quantile`` (99 % by default) of *out-of-fold* distances of the training rows: the
   rows are split into grouped folds (``groups``: the PercePiano excerpt, so a passage is
   never scored by a model that saw it), a model fitted on the other folds scores each
   fold. A score above 1 (:data:`OOD_THRESHOLD`) flags the row; by construction about
   1 % of new rows like the training rows are flagged. Scores are comparable across
   raters and input spaces.

A flagged rating gets its spread and interval widened by :func:`ood_widen_factor` (the
score, at least 1.5 and at most 3) and a warning (:func:`pianoeval.rater.evaluate`).
The measured flagged fractions (held-out pianos, recording-like audio, held-out
performers) are in docs/calibration.md, "Out of distribution".

Stored as ``ood.json`` (``kind: "pianoeval.ood"``, ``schema_version`` 1): lists of
numbers rounded to 7 significant digits, the eigenvectors as integers in steps of 1e-5
(``components_e5``; the model is rounded so when fitted, so a loaded model scores exactly
as the fitted one); a wrong, corrupt or newer file raises
:class:`~pianoeval.errors.SchemaError` naming the file.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> x = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
>>> ood = OODModel.fit(x, groups=np.arange(300) // 10)
>>> bool(ood.flagged(x.iloc[:1] + 50)[0]), ood.n_rows
(True, 300)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pianoeval._typing import PathLike
from pianoeval.errors import ParameterError, SchemaError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "OOD_FILE",
    "OOD_MAX_WIDEN",
    "OOD_MIN_WIDEN",
    "OOD_THRESHOLD",
    "OODModel",
    "load_ood",
    "ood_widen_factor",
]

#: The OOD model's file inside a rater bundle.
OOD_FILE = "ood.json"
OOD_SCHEMA_VERSION = 1
OOD_KIND = "pianoeval.ood"
#: Rows whose normalised score exceeds this are flagged (the score is distance / threshold).
OOD_THRESHOLD = 1.0
#: A flagged row's spread and interval half-widths are multiplied by its score, clipped to
#: ``[OOD_MIN_WIDEN, OOD_MAX_WIDEN]``: at least half as wide again, at most three times.
OOD_MIN_WIDEN = 1.5
OOD_MAX_WIDEN = 3.0
#: Defaults of :meth:`OODModel.fit`.
DEFAULT_QUANTILE = 0.99
DEFAULT_CLIP = 10.0
DEFAULT_COMPONENTS = 40
DEFAULT_FOLDS = 5
#: Significant digits of the stored numbers.
_DIGITS = 7
#: Eigenvector entries (in [-1, 1]) are stored as integers in steps of 1e-5: half the
#: size of 7 significant digits, and the bundle has a size budget.
_COMPONENT_STEPS = 100_000
FloatArray = npt.NDArray[np.float64]


def ood_widen_factor(score: npt.ArrayLike) -> FloatArray:
    """Return how much a row's spread and interval are widened (1 where not flagged).

    Examples
    --------
    >>> ood_widen_factor([0.5, 1.2, 2.0, 9.0]).tolist()
    [1.0, 1.5, 2.0, 3.0]
    """
    s = np.asarray(score, dtype=np.float64)
    out = np.clip(s, OOD_MIN_WIDEN, OOD_MAX_WIDEN)
    return np.where(s > OOD_THRESHOLD, out, 1.0)


@dataclass
class OODModel:
    """Robust-standardised Mahalanobis distance to a rater's training inputs.

    Fit with :meth:`fit`; see the module docstring for the definition.

    Attributes
    ----------
    columns : list of str
        The input columns, in order (the rater's feature columns).
    center, scale : np.ndarray, shape=(n_columns,)
        Median and robust scale of each column.
    clip : float
        Standardised values are clipped to ``[-clip, clip]``.
    location : np.ndarray, shape=(n_columns,)
        Mean of the standardised training rows.
    components : np.ndarray, shape=(k, n_columns)
        Leading eigenvectors of the shrunk covariance.
    eigenvalues : np.ndarray, shape=(k,)
    residual_variance : float
        Mean of the other eigenvalues (1 when ``k = n_columns``).
    threshold : float
        Distance at ``quantile`` of the out-of-fold training distances.
    quantile : float
    n_rows, n_groups : int
        Training rows and groups (folds were grouped by these).
    oof_quantiles : dict of str to float
        Out-of-fold distance quantiles (``"0.5"``, ``"0.9"``, ``"0.95"``, ``"0.99"``).
    info : dict
        Free-form provenance (what the rows were).
    """

    columns: list[str]
    center: FloatArray
    scale: FloatArray
    clip: float
    location: FloatArray
    components: FloatArray
    eigenvalues: FloatArray
    residual_variance: float
    threshold: float
    quantile: float
    n_rows: int
    n_groups: int
    oof_quantiles: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    # -------------------------------------------------------------------- fitting

    @classmethod
    def fit(
        cls,
        x: pd.DataFrame,
        *,
        groups: npt.ArrayLike | None = None,
        n_components: int | None = DEFAULT_COMPONENTS,
        quantile: float = DEFAULT_QUANTILE,
        clip: float = DEFAULT_CLIP,
        n_folds: int = DEFAULT_FOLDS,
        info: Mapping[str, Any] | None = None,
    ) -> OODModel:
        """Fit on training rows and set the threshold from out-of-fold distances.

        Parameters
        ----------
        x : pandas.DataFrame, shape=(n_rows, n_columns)
            The rater's training inputs (its feature columns, in its order).
        groups : array-like, shape=(n_rows,), optional
            Rows of one group (e.g. a PercePiano excerpt) share a fold (default: each row
            its own group).
        n_components : int or None
            Eigenpairs kept (None: all, the plain Mahalanobis distance).
        quantile : float
            Quantile of the out-of-fold distances that becomes the threshold.
        clip : float
            Bound of the standardised values.
        n_folds : int
            Folds of the out-of-fold distances (fewer with fewer groups).
        info : mapping, optional
            Stored as :attr:`info`.

        Returns
        -------
        OODModel

        Raises
        ------
        ParameterError
            Fewer than 20 rows or 2 groups, a quantile outside (0, 1), clip <= 0.
        """
        from sklearn.model_selection import GroupKFold

        arr = _as_array(x)
        n = len(arr)
        g = np.arange(n) if groups is None else np.asarray(groups)
        if len(g) != n:
            raise ParameterError(f"groups has {len(g)} entries for {n} rows")
        if n < 20:
            raise ParameterError(f"an OOD model needs at least 20 training rows, got {n}")
        if not 0 < quantile < 1:
            raise ParameterError(f"quantile must be in (0, 1), not {quantile}")
        if not clip > 0:
            raise ParameterError(f"clip must be > 0, not {clip}")
        n_groups = len(np.unique(g))
        k = min(n_folds, n_groups)
        if k < 2:
            raise ParameterError("out-of-fold distances need at least 2 groups")
        cols = [str(c) for c in x.columns]
        oof = np.empty(n)
        for train, held in GroupKFold(n_splits=k).split(arr, groups=g):
            part = cls._fit_arrays(arr[train], cols, n_components=n_components, clip=clip)
            oof[held] = part._distance_array(arr[held])
        model = cls._fit_arrays(arr, cols, n_components=n_components, clip=clip)
        model.threshold = _round(float(np.quantile(oof, quantile)))
        model.quantile = float(quantile)
        model.n_rows, model.n_groups = n, n_groups
        model.oof_quantiles = {str(q): float(np.quantile(oof, q)) for q in (0.5, 0.9, 0.95, 0.99)}
        model.info = dict(info or {})
        return model

    @classmethod
    def _fit_arrays(
        cls, arr: FloatArray, columns: list[str], *, n_components: int | None, clip: float
    ) -> OODModel:
        from sklearn.covariance import LedoitWolf

        with np.errstate(all="ignore"):
            center = np.nanmedian(arr, axis=0)
            q25, q75 = np.nanpercentile(arr, [25, 75], axis=0)
            sd = np.nanstd(arr, axis=0)
        center = np.where(np.isfinite(center), center, 0.0)
        iqr_scale = (q75 - q25) / 1.349
        scale = np.where(iqr_scale > 1e-12, iqr_scale, np.where(sd > 1e-12, sd, 1.0))
        scale = np.where(np.isfinite(scale), scale, 1.0)
        model = cls(
            columns=list(columns), center=center, scale=scale, clip=float(clip),
            location=np.zeros(len(columns)), components=np.zeros((0, len(columns))),
            eigenvalues=np.zeros(0), residual_variance=1.0, threshold=1.0, quantile=0.0,
            n_rows=len(arr), n_groups=0,
        )  # fmt: skip
        z = model._standardise(arr)
        lw = LedoitWolf().fit(z)
        w, v = np.linalg.eigh(lw.covariance_)
        w, v = w[::-1], v[:, ::-1]
        d = len(w)
        k = d if n_components is None else max(1, min(int(n_components), d))
        floor = 1e-9 * max(float(w[0]), 1e-12)
        model.location = np.asarray(lw.location_, dtype=np.float64)
        model.components = np.ascontiguousarray(v[:, :k].T)
        model.eigenvalues = np.maximum(w[:k], floor)
        model.residual_variance = float(max(w[k:].mean(), floor)) if k < d else 1.0
        return model._as_stored()

    def _as_stored(self) -> OODModel:
        """Round every number as :meth:`to_dict` stores it, so a loaded model scores alike."""
        for name in ("center", "scale", "location", "eigenvalues"):
            setattr(self, name, np.asarray(_round_list(getattr(self, name)), dtype=np.float64))
        self.scale = np.where(self.scale > 0, self.scale, 1.0)
        self.eigenvalues = np.where(self.eigenvalues > 0, self.eigenvalues, 1e-12)
        self.residual_variance = max(_round(self.residual_variance), 1e-12)
        steps = np.round(self.components * _COMPONENT_STEPS)
        self.components = steps.astype(np.float64) / _COMPONENT_STEPS
        return self

    # -------------------------------------------------------------------- scoring

    def _standardise(self, arr: FloatArray) -> FloatArray:
        a = np.where(np.isfinite(arr), arr, self.center)
        return np.clip((a - self.center) / self.scale, -self.clip, self.clip)

    def _distance_array(self, arr: FloatArray) -> FloatArray:
        c = self._standardise(arr) - self.location
        p = c @ self.components.T
        explained = (p**2).sum(axis=1)
        rest = np.maximum((c**2).sum(axis=1) - explained, 0.0)
        d2 = (p**2 / self.eigenvalues).sum(axis=1)
        if len(self.eigenvalues) < len(self.columns):
            d2 = d2 + rest / self.residual_variance
        return np.asarray(np.sqrt(d2 / len(self.columns)), dtype=np.float64)

    def distance(self, x: pd.DataFrame | Mapping[str, float]) -> FloatArray:
        """Return the distance ``D`` of each row (module docstring), shape=(n_rows,).

        Raises
        ------
        ParameterError
            If ``x`` lacks some of :attr:`columns`.
        """
        import pandas as pd

        frame = pd.DataFrame([dict(x)]) if isinstance(x, Mapping) else x
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ParameterError(
                f"the OOD model needs {len(missing)} columns the input lacks (e.g. {missing[:3]})"
            )
        return self._distance_array(_as_array(frame[self.columns]))

    def score(self, x: pd.DataFrame | Mapping[str, float]) -> FloatArray:
        """Return the normalised score ``distance / threshold`` (flagged above 1)."""
        return self.distance(x) / self.threshold

    def flagged(self, x: pd.DataFrame | Mapping[str, float]) -> npt.NDArray[np.bool_]:
        """Return whether each row's score exceeds :data:`OOD_THRESHOLD`."""
        return np.asarray(self.score(x) > OOD_THRESHOLD)

    # ------------------------------------------------------------------------ io

    def to_dict(self) -> dict[str, Any]:
        """Serialise as JSON-ready lists and numbers (see the module docstring)."""
        return {
            "schema_version": OOD_SCHEMA_VERSION,
            "kind": OOD_KIND,
            "method": "robust z, Ledoit-Wolf Mahalanobis (leading eigenpairs + residual)",
            "columns": self.columns,
            "clip": self.clip,
            "threshold": _round(self.threshold),
            "quantile": self.quantile,
            "n_rows": self.n_rows,
            "n_groups": self.n_groups,
            "oof_quantiles": {k: _round(v) for k, v in self.oof_quantiles.items()},
            "center": _round_list(self.center),
            "scale": _round_list(self.scale),
            "location": _round_list(self.location),
            "eigenvalues": _round_list(self.eigenvalues),
            "residual_variance": _round(self.residual_variance),
            "components_e5": [
                [int(v) for v in np.round(row * _COMPONENT_STEPS)] for row in self.components
            ],
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "OOD model") -> OODModel:
        """Read what :meth:`to_dict` wrote.

        Raises
        ------
        SchemaError
            If the record is of another kind or version, or inconsistent.
        """
        if not isinstance(d, Mapping) or d.get("kind") != OOD_KIND:
            raise SchemaError(f"{where}: not a pianoeval OOD model (kind {OOD_KIND!r})")
        if d.get("schema_version") != OOD_SCHEMA_VERSION:
            raise SchemaError(
                f"{where}: OOD schema_version {d.get('schema_version')!r} unsupported "
                f"(this pianoeval reads {OOD_SCHEMA_VERSION})"
            )
        try:
            columns = [str(c) for c in d["columns"]]
            n = len(columns)
            model = cls(
                columns=columns,
                center=_vector(d["center"], n),
                scale=_vector(d["scale"], n),
                clip=float(d["clip"]),
                location=_vector(d["location"], n),
                components=np.asarray(d["components_e5"], dtype=np.float64).reshape(-1, n)
                / _COMPONENT_STEPS,
                eigenvalues=np.asarray(d["eigenvalues"], dtype=np.float64),
                residual_variance=float(d["residual_variance"]),
                threshold=float(d["threshold"]),
                quantile=float(d["quantile"]),
                n_rows=int(d["n_rows"]),
                n_groups=int(d["n_groups"]),
                oof_quantiles={str(k): float(v) for k, v in d.get("oof_quantiles", {}).items()},
                info=dict(d.get("info", {})),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise SchemaError(f"{where}: invalid OOD model ({type(e).__name__}: {e})") from None
        ok = (
            len(model.eigenvalues) == len(model.components)
            and np.all(model.eigenvalues > 0)
            and np.all(model.scale > 0)
            and model.threshold > 0
            and model.residual_variance > 0
            and all(np.all(np.isfinite(a)) for a in (model.center, model.components))
        )
        if not ok:
            raise SchemaError(f"{where}: invalid OOD model (non-positive or non-finite values)")
        return model

    def save(self, path: PathLike) -> Path:
        """Write ``ood.json`` (compact JSON) to ``path``, a file or a bundle folder.

        Returns
        -------
        Path
            The file written.
        """
        target = Path(path)
        if target.is_dir():
            target = target / OOD_FILE
        text = json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)
        target.write_text(text + "\n", encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: PathLike) -> OODModel:
        """Read ``ood.json`` (a file or a bundle folder holding one).

        Raises
        ------
        SchemaError
            If the file is missing, not JSON or not a valid OOD model; the message names it.
        """
        target = Path(path)
        if target.is_dir():
            target = target / OOD_FILE
        try:
            record = json.loads(target.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SchemaError(f"{target}: no OOD model file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise SchemaError(f"{target}: not valid JSON ({e})") from None
        return cls.from_dict(record, where=str(target))


def load_ood(path: PathLike) -> OODModel:
    """Read an ``ood.json`` (:meth:`OODModel.load`)."""
    return OODModel.load(path)


def _as_array(x: pd.DataFrame | Sequence[Any]) -> FloatArray:
    import pandas as pd

    arr: FloatArray
    if isinstance(x, pd.DataFrame):
        arr = np.asarray(x.apply(pd.to_numeric, errors="coerce"), dtype=np.float64)
    else:
        arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ParameterError(f"expected a table of rows, got shape {arr.shape}")
    return arr


def _vector(values: Any, n: int) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"expected {n} values, got shape {arr.shape}")
    return arr


def _round(v: float) -> float:
    return float(f"{float(v):.{_DIGITS}g}")


def _round_list(a: npt.ArrayLike) -> list[float]:
    return [float(f"{v:.{_DIGITS}g}") for v in np.asarray(a, dtype=np.float64).ravel()]
