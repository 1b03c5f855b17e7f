"""The first rater: symbolic performance features to the 19 PercePiano dimensions.

A performance MIDI and its score become a feature vector (:mod:`pianoeval.symbolic.features`:
every family, plus *score deltas*: each performance-only feature minus the same feature
of the score played as written, so "more rubato than the notation implies" is one
column). Each dimension's score is a weighted mean of three *members*, each on that
dimension's scale (PercePiano's mean rating / 7, in [1/7, 1]), clipped to that range:

- ``gbdt``: a LightGBM regressor (gradient-boosted trees; one per seed);
- ``extra_trees``: LightGBM with randomised split thresholds (``extra_trees``), smaller
  trees and a larger step (:data:`EXTRA_TREES_PARAMS`), which varies more smoothly with
  the features;
- ``ridge``: a ridge regression on the features mapped to normal scores by their training
  quantiles (:func:`quantile_normal`), a linear view the trees lack.

The weights (3/7, 3/7, 1/7 by default) were chosen on the excerpt-split CV
(docs/benchmarks.md, "First rater"); the blend raised CV mean R2 from 0.583 to 0.589.

A performance without a score is rated by a second set of models, the *performance-only
fallback* (``SymbolicRater.no_score``), trained on the features that need no score: the
default rater has both, and :meth:`SymbolicRater.predict` sends every row whose
``score.available`` is 0 to the fallback. (Training one model on rows with and without
scores, "score dropout", cost 0.018 of excerpt-split CV R2 on the scored rows, so the two
cases get their own models.) Figures of both are in ``docs/benchmarks.md``.

Saved raters are directories: ``rater.json`` (schema version, dimensions, feature
columns, training settings, member weights, training-data licences, benchmark figures,
SHA-256 of every model file), one xz-compressed LightGBM text model per dimension, member
and seed (``models/<dim>.s<seed>.txt.xz`` and ``models/<dim>.et.s<seed>.txt.xz``, without
the statistics LightGBM keeps for training and importance plots, see
:func:`compact_model_text`), the ridge member as numbers (``linear.json.xz``: feature
quantiles, coefficients, intercepts) and, for the fallback, the same again in
``no_score/``. Nothing is pickled, so loading a rater never runs code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import lzma
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pianoeval._typing import PathLike
from pianoeval._version import __version__
from pianoeval.constants import LABEL_RANGE
from pianoeval.errors import BackendUnavailableError, ParameterError, SchemaError

if TYPE_CHECKING:
    import lightgbm
    import pandas as pd

    from pianoeval.data.splits import Split
    from pianoeval.symbolic.midi import PerformanceMidi

#: Version 2 added the ``extra_trees`` and ``ridge`` members; version 1 raters (``gbdt``
#: only) still load.
SCHEMA_VERSION = 2
TAXONOMY = "percepiano19"
MODEL_ID = "pianoeval-symbolic-v1"
DEFAULT_DIR = Path(__file__).resolve().parent / "weights" / "symbolic_v1"
#: Prefix of the score-delta columns: ``delta.<family>.<column>``.
DELTA_PREFIX = "delta."
#: LightGBM settings chosen on the excerpt-split CV (docs/benchmarks.md, "First rater").
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "regression",
    "learning_rate": 0.02,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.3,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 63,
    "verbose": -1,
}
DEFAULT_ROUNDS = 400
#: Rounds of the ``extra_trees`` member.
DEFAULT_EXTRA_TREES_ROUNDS = 400
#: What the ``extra_trees`` member changes in the tree parameters. 800 rounds of 15
#: leaves at 0.02 gave a blend CV of 0.590 against 0.589, at three times the size.
EXTRA_TREES_PARAMS: dict[str, Any] = {"extra_trees": True, "learning_rate": 0.04, "num_leaves": 7}
#: Ridge penalty of the ``ridge`` member (on normal-score features, 229 columns).
DEFAULT_RIDGE_ALPHA = 100.0
#: Member weights, chosen on the excerpt-split CV (normalised when used).
DEFAULT_WEIGHTS: dict[str, float] = {"gbdt": 1.5, "extra_trees": 1.5, "ridge": 0.5}
MEMBERS = ("gbdt", "extra_trees", "ridge")
#: Quantiles kept per feature by the ``ridge`` member's normal-score mapping.
N_QUANTILES = 200
#: As in scikit-learn's QuantileTransformer: values this close to the ends map to the ends.
_BOUNDS_THRESHOLD = 1e-7
#: Where a saved rater keeps its performance-only fallback.
NO_SCORE_DIR = "no_score"


#: Tree fields LightGBM writes but does not need to predict (its loader fills them in).
_TRAINING_ONLY_FIELDS = frozenset(
    {
        "split_gain",
        "internal_value",
        "internal_weight",
        "internal_count",
        "leaf_weight",
        "leaf_count",
        "tree_sizes",  # byte offsets of the full trees; the loader parses without them
    }
)


def compact_model_text(text: str) -> str:
    """Drop what a LightGBM text model holds only for training and importance plots.

    Gains, counts, weights and internal values of the nodes, and the ``tree_sizes`` index,
    are not used to predict; without them the text is about 40 % smaller and predicts
    exactly the same (checked by the tests).
    """
    keep = (ln for ln in text.split("\n") if ln.split("=", 1)[0] not in _TRAINING_ONLY_FIELDS)
    return "\n".join(keep)


def _lightgbm() -> Any:
    try:
        import lightgbm
    except ImportError as e:
        raise BackendUnavailableError(
            "lightgbm", "pip install 'pianoeval[train]'", reason=str(e)
        ) from None
    return lightgbm


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


def percepiano19_dims() -> list[str]:
    """Return the 19 PercePiano dimension names, in label order."""
    from pianoeval.dims import get_taxonomy

    return list(get_taxonomy(TAXONOMY).names)


# --------------------------------------------------------------------------- features


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


# --------------------------------------------------------------------------- the rater


class SymbolicRater:
    """Per-dimension blends of boosted trees and a ridge regression on symbolic features.

    Parameters
    ----------
    dims : sequence of str, optional
        Output dimensions (default: the 19 of ``percepiano19``).
    params : mapping, optional
        LightGBM parameters of the tree members (default :data:`DEFAULT_PARAMS`).
    n_rounds : int
        Boosting rounds of the ``gbdt`` member.
    seeds : sequence of int
        One model per seed, tree member and dimension; predictions are averaged.
    extra_trees_rounds : int
        Rounds of the ``extra_trees`` member; 0 leaves the member out.
    ridge_alpha : float or None
        Penalty of the ``ridge`` member; None leaves the member out.
    weights : mapping, optional
        Member weights (default :data:`DEFAULT_WEIGHTS`; members left out do not count).
    clip : bool
        Clip predictions to the label range :data:`LABEL_RANGE`.
    n_threads : int
        LightGBM threads.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> x = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a.x", "a.y", "a.z"])
    >>> y = np.clip(0.5 + 0.1 * x[["a.x", "a.y"]].to_numpy(), 0.2, 0.9)
    >>> rater = SymbolicRater(dims=["d1", "d2"], n_rounds=20).fit(x, y)
    >>> rater.predict(x.iloc[:2]).shape
    (2, 2)
    """

    def __init__(
        self,
        *,
        dims: Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None,
        n_rounds: int = DEFAULT_ROUNDS,
        seeds: Sequence[int] = (0,),
        extra_trees_rounds: int = DEFAULT_EXTRA_TREES_ROUNDS,
        ridge_alpha: float | None = DEFAULT_RIDGE_ALPHA,
        weights: Mapping[str, float] | None = None,
        clip: bool = True,
        n_threads: int = 2,
    ) -> None:
        if n_rounds < 1:
            raise ParameterError(f"n_rounds must be >= 1, not {n_rounds}")
        if extra_trees_rounds < 0:
            raise ParameterError(f"extra_trees_rounds must be >= 0, not {extra_trees_rounds}")
        if ridge_alpha is not None and not ridge_alpha > 0:
            raise ParameterError(f"ridge_alpha must be > 0 or None, not {ridge_alpha}")
        if not seeds:
            raise ParameterError("seeds must not be empty")
        self.dims = list(dims) if dims is not None else percepiano19_dims()
        self.params = dict(DEFAULT_PARAMS if params is None else params)
        self.n_rounds = int(n_rounds)
        self.seeds = [int(s) for s in seeds]
        self.extra_trees_rounds = int(extra_trees_rounds)
        self.ridge_alpha = None if ridge_alpha is None else float(ridge_alpha)
        w = dict(DEFAULT_WEIGHTS if weights is None else weights)
        unknown = sorted(set(w) - set(MEMBERS))
        if unknown or any(not v >= 0 for v in w.values()):
            raise ParameterError(f"weights take members {MEMBERS} with values >= 0, got {w}")
        self.weights = {m: float(w.get(m, 0.0)) for m in self.members}
        if not sum(self.weights.values()) > 0:
            raise ParameterError(f"the members {self.members} all have weight 0")
        self.clip = clip
        self.n_threads = n_threads
        self.feature_columns: list[str] = []
        #: The ``gbdt`` member: per dimension, one booster per seed.
        self.models: dict[str, list[lightgbm.Booster]] = {}
        #: The ``extra_trees`` member, the same way.
        self.extra_models: dict[str, list[lightgbm.Booster]] = {}
        #: The ``ridge`` member.
        self.linear: LinearMember | None = None
        self.metadata: dict[str, Any] = {}
        #: Rates the rows without a score (``score.available == 0``) when set.
        self.no_score: SymbolicRater | None = None

    @property
    def members(self) -> list[str]:
        """The members this rater blends, in :data:`MEMBERS` order."""
        on = {
            "gbdt": True,
            "extra_trees": self.extra_trees_rounds > 0,
            "ridge": self.ridge_alpha is not None,
        }
        return [m for m in MEMBERS if on[m]]

    @property
    def is_fitted(self) -> bool:
        """Whether every dimension has the models of every member."""
        return (
            bool(self.feature_columns)
            and all(d in self.models for d in self.dims)
            and (self.extra_trees_rounds == 0 or all(d in self.extra_models for d in self.dims))
            and (self.ridge_alpha is None or self.linear is not None)
        )

    def fit(
        self,
        x: pd.DataFrame,
        y: npt.ArrayLike | pd.DataFrame,
        *,
        sample_weight: npt.ArrayLike | None = None,
    ) -> SymbolicRater:
        """Train one regressor per dimension (and seed).

        Parameters
        ----------
        x : pandas.DataFrame, shape=(n_items, n_features)
            Rater inputs (:func:`rater_table`); its columns become the feature columns.
        y : array-like or DataFrame, shape=(n_items, n_dims)
            Labels, columns in the order of ``dims`` (a DataFrame is reordered by name).
            NaN labels are left out of that dimension's training.
        sample_weight : array-like, shape=(n_items,), optional

        Returns
        -------
        SymbolicRater
            ``self``.
        """
        import pandas as pd

        lgb = _lightgbm()
        if isinstance(y, pd.DataFrame):
            missing = [d for d in self.dims if d not in y.columns]
            if missing:
                raise ParameterError(f"labels lack dimensions {missing}")
            y_arr = y[self.dims].to_numpy(dtype=np.float64)
        else:
            y_arr = np.asarray(y, dtype=np.float64)
        if y_arr.ndim == 1:
            y_arr = y_arr[:, None]
        if y_arr.shape != (len(x), len(self.dims)):
            raise ParameterError(
                f"y must have shape ({len(x)}, {len(self.dims)}), got {y_arr.shape}"
            )
        x_arr = x.to_numpy(dtype=np.float32)
        if not np.all(np.isfinite(x_arr)):
            raise ParameterError("x contains NaN or infinite values")
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        self.feature_columns = [str(c) for c in x.columns]
        self.models, self.extra_models = {}, {}
        params = {**self.params, "num_threads": self.n_threads}
        for k, dim in enumerate(self.dims):
            ok = np.isfinite(y_arr[:, k])
            data = lgb.Dataset(
                x_arr[ok],
                label=y_arr[ok, k],
                weight=None if w is None else w[ok],
                feature_name=[f"f{i}" for i in range(x_arr.shape[1])],
                params={"max_bin": params.get("max_bin", 255), "verbose": -1},
                free_raw_data=False,
            )
            self.models[dim] = [
                lgb.train({**params, "seed": s}, data, num_boost_round=self.n_rounds)
                for s in self.seeds
            ]
            if self.extra_trees_rounds:
                self.extra_models[dim] = [
                    lgb.train(
                        {**params, **EXTRA_TREES_PARAMS, "seed": s},
                        data,
                        num_boost_round=self.extra_trees_rounds,
                    )
                    for s in self.seeds
                ]
        self.linear = (
            None
            if self.ridge_alpha is None
            else LinearMember.fit(x_arr, y_arr, alpha=self.ridge_alpha, sample_weight=w)
        )
        return self

    def _matrix(self, frame: pd.DataFrame) -> npt.NDArray[np.float32]:
        missing = [c for c in self.feature_columns if c not in frame.columns]
        if missing:
            raise ParameterError(
                f"{len(missing)} feature columns missing (e.g. {missing[:3]}); compute them "
                "with pianoeval.rater.rater_features / rater_table"
            )
        arr: npt.NDArray[np.float32] = frame[self.feature_columns].to_numpy(dtype=np.float32)
        if not np.all(np.isfinite(arr)):
            raise ParameterError("features contain NaN or infinite values")
        return arr

    def predict(
        self,
        x: PerformanceMidi | PathLike | Mapping[str, float] | pd.DataFrame,
        *,
        score: PerformanceMidi | PathLike | None = None,
    ) -> npt.NDArray[np.float64]:
        """Rate a performance, a feature dictionary or a feature table.

        Parameters
        ----------
        x : PerformanceMidi, path-like, mapping or DataFrame
            A performance (its features are computed, with ``score`` if given), one
            feature mapping, or a table with the rater's feature columns.
        score : PerformanceMidi, path-like or None
            The score of a performance passed as ``x``.

        Returns
        -------
        np.ndarray, shape=(n_dims,) or (n_items, n_dims)
            One row per item (a single performance or mapping gives a 1-d array).

        Raises
        ------
        ParameterError
            If the rater is not fitted or feature columns are missing.
        """
        from pianoeval.symbolic.midi import PerformanceMidi

        if not self.is_fitted:
            raise ParameterError("the rater is not fitted: call fit() or load()")
        if isinstance(x, (str, Path, PerformanceMidi)):
            x = rater_features(x, score=score)
        elif score is not None:
            raise ParameterError("score is only used when x is a performance")
        import pandas as pd

        frame = pd.DataFrame([dict(x)]) if isinstance(x, Mapping) else x
        if not isinstance(frame, pd.DataFrame):
            raise ParameterError(
                "predict takes a feature mapping, a DataFrame, a MIDI path or a PerformanceMidi"
            )
        single = isinstance(x, Mapping)
        bare = np.zeros(len(frame), dtype=bool)
        if self.no_score is not None:
            available = frame.get("score.available")
            bare = (
                np.ones(len(frame), dtype=bool)
                if available is None
                else np.asarray(available, dtype=np.float64) == 0
            )
        out = np.zeros((len(frame), len(self.dims)))
        if (~bare).any():
            out[~bare] = self._predict_matrix(self._matrix(frame[~bare]))
        if bare.any() and self.no_score is not None:
            out[bare] = self.no_score.predict(frame[bare])
        return out[0] if single else out

    def predict_members(self, x: pd.DataFrame) -> dict[str, npt.NDArray[np.float64]]:
        """Each member's unclipped prediction, ``{member: array (n_items, n_dims)}``."""
        if not self.is_fitted:
            raise ParameterError("the rater is not fitted: call fit() or load()")
        return self._members(self._matrix(x))

    def _members(self, arr: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float64]]:
        out: dict[str, npt.NDArray[np.float64]] = {}
        for name, models in (("gbdt", self.models), ("extra_trees", self.extra_models)):
            if name in self.members:
                out[name] = np.column_stack(
                    [np.mean([m.predict(arr) for m in models[d]], axis=0) for d in self.dims]
                )
        if self.linear is not None:
            out["ridge"] = self.linear.predict(arr)
        return out

    def _predict_matrix(self, arr: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        parts = self._members(arr)
        total = sum(self.weights[m] for m in parts)
        out = np.zeros((len(arr), len(self.dims)))
        for m, p in parts.items():
            out += (self.weights[m] / total) * p
        if self.clip:
            out = np.clip(out, *LABEL_RANGE)
        return out

    def predict_dict(
        self, perf: PerformanceMidi | PathLike, *, score: PerformanceMidi | PathLike | None = None
    ) -> dict[str, float]:
        """Rate one performance and name the scores by dimension."""
        return dict(zip(self.dims, map(float, self.predict(perf, score=score)), strict=True))

    # ----------------------------------------------------------------------- io

    def save(self, path: PathLike) -> Path:
        """Write the rater to the directory ``path`` (created; model files replaced).

        Returns
        -------
        Path
            The directory.
        """
        from pianoeval.symbolic.features import (
            FEATURE_FAMILIES,
            FEATURE_VERSION,
            get_feature_family,
        )

        if not self.is_fitted:
            raise ParameterError("cannot save an unfitted rater")
        out = Path(path)
        (out / "models").mkdir(parents=True, exist_ok=True)
        for old in (out / "models").glob("*.txt.*"):
            old.unlink()
        for old in out.glob("linear.json.*"):
            old.unlink()
        files: dict[str, str] = {}

        def put(rel: str, text: str) -> None:
            data = lzma.compress(text.encode())
            (out / rel).write_bytes(data)
            files[rel] = hashlib.sha256(data).hexdigest()

        for dim in self.dims:
            for seed, model in zip(self.seeds, self.models[dim], strict=True):
                put(f"models/{dim}.s{seed}.txt.xz", compact_model_text(model.model_to_string()))
            for seed, model in zip(self.seeds, self.extra_models.get(dim, []), strict=False):
                put(f"models/{dim}.et.s{seed}.txt.xz", compact_model_text(model.model_to_string()))
        if self.linear is not None:
            put("linear.json.xz", self.linear.to_json())
        record = {
            "schema_version": SCHEMA_VERSION,
            "model_id": self.metadata.get("model_id", MODEL_ID),
            "taxonomy": TAXONOMY,
            "dims": self.dims,
            "feature_columns": self.feature_columns,
            "feature_version": FEATURE_VERSION,
            "feature_families": {n: get_feature_family(n).version for n in FEATURE_FAMILIES},
            "params": self.params,
            "n_rounds": self.n_rounds,
            "seeds": self.seeds,
            "extra_trees_rounds": self.extra_trees_rounds,
            "extra_trees_params": EXTRA_TREES_PARAMS if self.extra_trees_rounds else None,
            "ridge_alpha": self.ridge_alpha,
            "weights": self.weights,
            "clip": self.clip,
            "label_range": list(LABEL_RANGE),
            "pianoeval_version": __version__,
            "files": files,
            **{k: v for k, v in self.metadata.items() if k != "model_id"},
        }
        (out / "rater.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        if self.no_score is not None:
            self.no_score.save(out / NO_SCORE_DIR)
        return out

    @classmethod
    def load(cls, path: PathLike) -> SymbolicRater:
        """Read a rater written by :meth:`save` (checksums verified).

        Raises
        ------
        SchemaError
            If ``rater.json`` is missing or of another schema, a model file is missing or
            its checksum differs.
        """
        from pianoeval.symbolic.features import FEATURE_VERSION

        lgb = _lightgbm()
        base = Path(path)
        try:
            record = json.loads((base / "rater.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SchemaError(f"{base}: no rater.json (not a saved rater)") from None
        if record.get("schema_version") not in (1, SCHEMA_VERSION):
            raise SchemaError(
                f"{base}: rater schema_version {record.get('schema_version')!r} unsupported"
            )
        if record.get("feature_version") != FEATURE_VERSION:
            raise SchemaError(
                f"{base}: trained on features {record.get('feature_version')!r}, this "
                f"pianoeval computes {FEATURE_VERSION!r}; rebuild the rater"
            )
        rater = cls(
            dims=record["dims"],
            params=record["params"],
            n_rounds=record["n_rounds"],
            seeds=record["seeds"],
            extra_trees_rounds=record.get("extra_trees_rounds", 0),  # version 1: gbdt only
            ridge_alpha=record.get("ridge_alpha"),
            weights=record.get("weights", {"gbdt": 1.0}),
            clip=record.get("clip", True),
        )
        rater.feature_columns = list(record["feature_columns"])
        files: dict[str, str] = record["files"]

        def text(rel: str) -> str:
            try:
                data = (base / rel).read_bytes()
            except FileNotFoundError:
                raise SchemaError(f"{base}: model file {rel} is missing") from None
            if hashlib.sha256(data).hexdigest() != files.get(rel):
                raise SchemaError(f"{base}: checksum of {rel} does not match rater.json")
            return lzma.decompress(data).decode()

        for dim in rater.dims:
            rater.models[dim] = [
                lgb.Booster(model_str=text(f"models/{dim}.s{s}.txt.xz")) for s in rater.seeds
            ]
            if rater.extra_trees_rounds:
                rater.extra_models[dim] = [
                    lgb.Booster(model_str=text(f"models/{dim}.et.s{s}.txt.xz")) for s in rater.seeds
                ]
        if rater.ridge_alpha is not None:
            rater.linear = LinearMember.from_json(text("linear.json.xz"))
        known = {
            "schema_version", "taxonomy", "dims", "feature_columns", "feature_version",
            "feature_families", "params", "n_rounds", "seeds", "clip", "label_range", "files",
            "extra_trees_rounds", "extra_trees_params", "ridge_alpha", "weights",
        }  # fmt: skip
        rater.metadata = {k: v for k, v in record.items() if k not in known}
        if (base / NO_SCORE_DIR / "rater.json").is_file():
            rater.no_score = cls.load(base / NO_SCORE_DIR)
        return rater


def default_rater() -> SymbolicRater:
    """Load the rater shipped with pianoeval (``pianoeval/rater/weights/symbolic_v1``).

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path, example_score_path
    >>> scores = default_rater().predict(example_midi_path(), score=example_score_path())
    >>> scores.shape
    (19,)
    """
    if not (DEFAULT_DIR / "rater.json").is_file():
        raise SchemaError(
            f"the default rater is missing from {DEFAULT_DIR}; rebuild it with "
            "`pianoeval rater build` (pianoeval.rater.train_default_rater)"
        )
    return SymbolicRater.load(DEFAULT_DIR)


# --------------------------------------------------------------------------- PercePiano


def percepiano_scores(data_root: PathLike) -> dict[str, Path]:
    """Find the score of every PercePiano excerpt: its ``Score`` rendition in ``midi/``.

    The renditions are made from the score MIDI (most byte-identical to ``score_midi/``),
    so they serve as the score where the score folders are absent; ``score_midi/`` fills
    any excerpt without one.

    Returns
    -------
    dict
        ``{excerpt: path}``.
    """
    from pianoeval.data.percepiano import DATASET, parse_name

    base = Path(data_root) / DATASET
    out: dict[str, Path] = {}
    for folder in ("score_midi", "midi"):  # midi/ last: it wins
        for p in sorted((base / folder).glob("*.mid")):
            try:
                n = parse_name(p.name)
            except ParameterError:
                continue
            if n.player == "Score":
                out[n.excerpt] = p
    return out


def rater_inputs(
    perfs: Sequence[PathLike],
    scores: Sequence[PathLike | None] | None,
    *,
    ids: Sequence[str],
    jobs: int | None = 2,
    cache: bool | PathLike = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Rater inputs (features and score deltas) of performance MIDI files.

    Parameters
    ----------
    perfs : sequence of path-like
        Performance MIDI files.
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


def percepiano_table(
    data_root: PathLike,
    *,
    ids: Sequence[str] | None = None,
    with_scores: bool = True,
    jobs: int | None = 2,
    cache: bool | PathLike = True,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rater inputs and labels of the 1189 labelled PercePiano segments.

    Parameters
    ----------
    data_root : path-like
        The data root holding ``percepiano/``.
    ids : sequence of str, optional
        Only these segments (default: every labelled segment with a MIDI file).
    with_scores : bool
        Align each performance to its excerpt's score (score-relative features and score
        deltas); False computes the performance-only features (and zero deltas).
    jobs, cache, progress
        As in :func:`~pianoeval.symbolic.features.features_table`.

    Returns
    -------
    x : pandas.DataFrame, shape=(n_segments, n_features)
        Indexed by segment id, sorted (1189 rows for the whole dataset).
    y : pandas.DataFrame, shape=(n_segments, 19)
        The released labels, columns named by dimension.
    """
    import pandas as pd

    from pianoeval.data.percepiano import DATASET, load_released_labels, parse_name
    from pianoeval.data.root import find_data_root

    root = find_data_root(data_root, dataset=DATASET)
    means, _ = load_released_labels(root)
    midis = {parse_name(p.name).name: p for p in (root / DATASET / "midi").glob("*.mid")}
    ids = sorted(k for k in (means if ids is None else ids) if k in midis and k in means)
    scores = percepiano_scores(root)
    perf_paths = [midis[i] for i in ids]
    score_paths = [scores.get(parse_name(i).excerpt) for i in ids] if with_scores else None
    x = rater_inputs(perf_paths, score_paths, ids=ids, jobs=jobs, cache=cache, progress=progress)
    y = pd.DataFrame(np.stack([means[i] for i in ids]), index=x.index, columns=percepiano19_dims())
    return x, y


def train_default_rater(
    data_root: PathLike,
    out_dir: PathLike | None = None,
    *,
    no_score: bool = True,
    benchmark: Mapping[str, Any] | None = None,
    jobs: int | None = 2,
    cache: bool | PathLike = True,
    progress: bool = True,
    **rater_kwargs: Any,
) -> SymbolicRater:
    """Train the default rater on every labelled PercePiano segment and save it.

    Parameters
    ----------
    data_root : path-like
    out_dir : path-like, optional
        Where to save (default: the packaged ``weights/symbolic_v1``).
    no_score : bool
        Also train the performance-only fallback (for performances without a score).
    benchmark : mapping, optional
        Figures to record in ``rater.json`` (the benchmark script passes its summary).
    jobs, cache, progress
        Feature computation (see :func:`percepiano_table`).
    **rater_kwargs
        Passed to :class:`SymbolicRater`.

    Returns
    -------
    SymbolicRater
        The trained rater (also saved).
    """
    from pianoeval.licences import combine_licences

    x, y = percepiano_table(data_root, jobs=jobs, cache=cache, progress=progress)
    rater = SymbolicRater(**rater_kwargs).fit(x, y)
    training = {
        "dataset": "percepiano",
        "n_segments": len(x),
        "labels": "released means (mean rating / 7)",
        "scores": "each excerpt's Score rendition (percepiano/midi/*_Score_*)",
    }
    meta = {
        "model_id": MODEL_ID,
        "created": dt.date.today().isoformat(),
        "licences": combine_licences(["MIT"]),
        "benchmark": dict(benchmark) if benchmark is not None else None,
    }
    rater.metadata = {**meta, "training_data": training}
    if no_score:
        x0, _ = percepiano_table(
            data_root, with_scores=False, jobs=jobs, cache=cache, progress=progress
        )
        rater.no_score = SymbolicRater(**rater_kwargs).fit(
            x0[performance_only_columns(x0.columns)], y.loc[x0.index]
        )
        rater.no_score.metadata = {
            **meta,
            "model_id": f"{MODEL_ID}-no-score",
            "training_data": {**training, "scores": "none (performance-only features)"},
        }
    rater.save(DEFAULT_DIR if out_dir is None else out_dir)
    return rater


def _predict_frame(
    rater: SymbolicRater, ids: list[str], table: pd.DataFrame, columns: list[str]
) -> pd.DataFrame:
    import pandas as pd

    if not ids:
        return pd.DataFrame(columns=rater.dims, dtype=np.float64)
    pred = rater.predict(table.loc[ids, columns])
    return pd.DataFrame(pred, index=pd.Index(ids, name="id"), columns=rater.dims)


@dataclass
class CrossValidation:
    """Out-of-fold and test predictions of one split.

    Attributes
    ----------
    oof : pandas.DataFrame
        Prediction of each validation row by the model of its fold (rows never validated
        are absent).
    test : pandas.DataFrame
        Mean of the fold models' predictions on the split's test rows (empty for a split
        without a test set).
    extra : dict of str to (oof, test)
        The same for the other tables passed as ``also_predict``.
    """

    oof: pd.DataFrame
    test: pd.DataFrame
    extra: dict[str, tuple[pd.DataFrame, pd.DataFrame]]


def cross_validate(
    x: pd.DataFrame,
    y: pd.DataFrame,
    split: Split,
    *,
    extra_train: pd.DataFrame | None = None,
    also_predict: Mapping[str, pd.DataFrame] | None = None,
    **rater_kwargs: Any,
) -> CrossValidation:
    """Train one rater per fold of ``split``; predict its validation and test rows.

    Parameters
    ----------
    x : pandas.DataFrame
        Rater inputs indexed by segment id.
    y : pandas.DataFrame
        Labels, same index, one column per dimension.
    split : pianoeval.data.splits.Split
        Rows of ``x`` outside the split are ignored.
    extra_train : pandas.DataFrame, optional
        More training rows keyed by segment id (e.g. the same segments without a score:
        score dropout); a row trains a fold when its id is in that fold's training set.
    also_predict : mapping of str to DataFrame, optional
        Other versions of the rows to predict (e.g. ``{"no_score": x0}``, or the features
        of transcribed MIDI); each predicts the validation and test rows it has.
    **rater_kwargs
        Passed to :class:`SymbolicRater` (``dims`` defaults to ``y``'s columns).

    Returns
    -------
    CrossValidation
    """
    import pandas as pd

    kwargs = {"dims": list(y.columns), **rater_kwargs}
    others = dict(also_predict or {})
    have = set(x.index)
    test = [i for i in split.test if i in have]
    oof_parts: list[pd.DataFrame] = []
    test_parts: list[pd.DataFrame] = []
    extra_parts: dict[str, tuple[list[pd.DataFrame], list[pd.DataFrame]]] = {
        k: ([], []) for k in others
    }
    for f in range(split.n_folds):
        train, val = split.fold(f)
        train = [i for i in train if i in have]
        val = [i for i in val if i in have]
        if not train or not val:
            continue
        x_tr, y_tr = x.loc[train], y.loc[train]
        if extra_train is not None:
            more = [i for i in train if i in set(extra_train.index)]
            x_tr = pd.concat([x_tr, extra_train.loc[more, x.columns]])
            y_tr = pd.concat([y_tr, y.loc[more]])
        rater = SymbolicRater(**kwargs).fit(x_tr, y_tr)

        oof_parts.append(_predict_frame(rater, val, x, list(x.columns)))
        test_parts.append(_predict_frame(rater, test, x, list(x.columns)))
        for name, table in others.items():  # the rows it has
            v_rows = [i for i in val if i in table.index]
            t_rows = [i for i in test if i in table.index]
            extra_parts[name][0].append(_predict_frame(rater, v_rows, table, list(x.columns)))
            extra_parts[name][1].append(_predict_frame(rater, t_rows, table, list(x.columns)))

    def mean_of(parts: list[pd.DataFrame]) -> pd.DataFrame:
        if not parts or not len(parts[0]):
            return pd.DataFrame(columns=y.columns, dtype=np.float64)
        return sum(parts[1:], parts[0]) / len(parts)

    return CrossValidation(
        oof=pd.concat(oof_parts) if oof_parts else pd.DataFrame(columns=y.columns),
        test=mean_of(test_parts),
        extra={k: (pd.concat(v[0]), mean_of(v[1])) for k, v in extra_parts.items()},
    )
