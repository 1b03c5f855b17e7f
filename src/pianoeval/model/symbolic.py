"""The symbolic rater model: performance features to the 19 PercePiano dimensions.

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

**Spread and calibration.** :meth:`SymbolicRater.predict_with_spread` also returns each
item's *spread*: the weighted standard deviation of the member models' predictions
around the blend (every seed model of a member shares that member's weight), a measure of
how much the members disagree (chosen on the excerpt-split CV: docs/calibration.md). A
bundle may hold a ``calibration.json`` (:class:`pianoeval.calibration.Calibration`, fitted
on out-of-fold predictions by ``pianoeval calibrate``; the fallback has its own in
``no_score/``), checksummed in ``rater.json`` like the model files;
:meth:`SymbolicRater.predict_calibrated` then gives calibrated scores and conformal
intervals. A bundle without one still loads and rates (no intervals).

**Out of distribution.** A bundle may also hold an ``ood.json``
(:class:`pianoeval.calibration.OODModel`, fitted on the rater's training inputs; the
fallback's in ``no_score/``), checksummed the same way: :meth:`SymbolicRater.ood_scores`
says how unlike the training inputs each row is, and :meth:`predict_calibrated` widens
the spread and interval of rows it flags (docs/calibration.md, "Out of distribution").
"""

from __future__ import annotations

import hashlib
import json
import lzma
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pianoeval._typing import PathLike
from pianoeval._version import __version__
from pianoeval.constants import LABEL_RANGE
from pianoeval.errors import ParameterError, SchemaError
from pianoeval.model.linear import LinearMember
from pianoeval.model.trees import compact_model_text, lightgbm_module
from pianoeval.symbolic.rater_inputs import rater_features

if TYPE_CHECKING:
    import lightgbm
    import pandas as pd

    from pianoeval.calibration import Calibration, OODModel
    from pianoeval.model.spread import SpreadModel
    from pianoeval.symbolic.midi import PerformanceMidi

#: Version 2 added the ``extra_trees`` and ``ridge`` members; version 1 raters (``gbdt``
#: only) still load.
SCHEMA_VERSION = 2
TAXONOMY = "percepiano19"
MODEL_ID = "pianoeval-symbolic-v1"
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
#: Where a saved rater keeps its performance-only fallback.
NO_SCORE_DIR = "no_score"
#: The calibration's file inside a bundle (:data:`pianoeval.calibration.CALIBRATION_FILE`).
CALIBRATION_FILE = "calibration.json"
#: The OOD model's file inside a bundle (:data:`pianoeval.calibration.OOD_FILE`).
OOD_FILE = "ood.json"
#: Nominal coverage of the intervals a rating reports.
DEFAULT_INTERVAL_LEVEL = 0.8
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CalibratedPrediction:
    """Scores with their spread and, where the rater is calibrated, an interval.

    Every array has shape ``(n_items, n_dims)`` (or ``(n_dims,)`` for one item).

    Attributes
    ----------
    raw : np.ndarray
        The rater's blend (what :meth:`SymbolicRater.predict` returns).
    value : np.ndarray
        Calibrated scores (``raw`` where a row has no calibration), clipped to the label
        range.
    sigma : np.ndarray
        The calibrated spread (an estimate of the SD of the error), or the raw member
        spread where a row has no calibration.
    low, high : np.ndarray
        Conformal interval of nominal coverage ``level`` around ``value``, clipped to the
        label range; NaN where a row has no calibration.
    calibrated : np.ndarray of bool, shape=(n_items,) or ()
        Whether the row was calibrated.
    level : float
    ood_score : np.ndarray, shape=(n_items,) or (), or None
        The out-of-distribution score of each row (:class:`pianoeval.calibration.OODModel`;
        flagged above 1, when ``sigma``, ``low`` and ``high`` were widened by
        :func:`~pianoeval.calibration.ood_widen_factor`); NaN where the row's rater has no
        OOD model, None when no row's has.
    ood_reason : str, optional
        For one flagged recording, what flagged it when the audio rater's acoustic check
        did (its head: ``"instrument"``, ``"duet"``); None otherwise.
    """

    raw: FloatArray
    value: FloatArray
    sigma: FloatArray
    low: FloatArray
    high: FloatArray
    calibrated: npt.NDArray[np.bool_]
    level: float
    ood_score: FloatArray | None = None
    ood_reason: str | None = None

    @property
    def ood_flagged(self) -> npt.NDArray[np.bool_] | None:
        """Whether each row's OOD score exceeds the threshold (None without scores)."""
        if self.ood_score is None:
            return None
        from pianoeval.calibration.ood import OOD_THRESHOLD

        return np.asarray(np.nan_to_num(self.ood_score, nan=0.0) > OOD_THRESHOLD)


def percepiano19_dims() -> list[str]:
    """Return the 19 PercePiano dimension names, in label order."""
    from pianoeval.dims import get_taxonomy

    return list(get_taxonomy(TAXONOMY).names)


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
        #: Calibrates the scores and gives intervals (``calibration.json``), when set.
        self.calibration: Calibration | None = None
        #: Predicts each score's absolute error (``spread/``), when set: the spread then.
        self.spread_model: SpreadModel | None = None
        #: Scores how unlike the training inputs a row is (``ood.json``), when set.
        self.ood: OODModel | None = None

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
        progress: bool | str = False,
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
        progress : bool or str
            Show a tqdm bar (stderr) over the member models; a string is its label.

        Returns
        -------
        SymbolicRater
            ``self``.
        """
        import pandas as pd
        from tqdm.auto import tqdm

        lgb = lightgbm_module()
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
        n_models = len(self.dims) * len(self.seeds) * (2 if self.extra_trees_rounds else 1)
        bar = tqdm(
            total=n_models + (self.ridge_alpha is not None),
            desc=progress if isinstance(progress, str) else "member models",
            unit="model",
            disable=not progress,
            leave=False,
            file=sys.stderr,
        )

        def train(extra: Mapping[str, Any], data: Any, rounds: int) -> lightgbm.Booster:
            booster: lightgbm.Booster = lgb.train({**params, **extra}, data, num_boost_round=rounds)
            bar.update()
            return booster

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
            self.models[dim] = [train({"seed": s}, data, self.n_rounds) for s in self.seeds]
            if self.extra_trees_rounds:
                self.extra_models[dim] = [
                    train({**EXTRA_TREES_PARAMS, "seed": s}, data, self.extra_trees_rounds)
                    for s in self.seeds
                ]
        self.linear = None
        if self.ridge_alpha is not None:
            self.linear = LinearMember.fit(x_arr, y_arr, alpha=self.ridge_alpha, sample_weight=w)
            bar.update()
        bar.close()
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
        values, _ = self._predict_routed(x, score=score, spread=False)
        return values

    def predict_with_spread(
        self,
        x: PerformanceMidi | PathLike | Mapping[str, float] | pd.DataFrame,
        *,
        score: PerformanceMidi | PathLike | None = None,
        members: bool = False,
    ) -> tuple[FloatArray, FloatArray]:
        """Rate like :meth:`predict` and also return each score's spread.

        With an error model (``spread_model``, stored by ``pianoeval calibrate``) the
        spread is its prediction of the score's absolute error. Without one, or with
        ``members=True``, it is the weighted standard deviation of the member models'
        (unclipped) predictions around their weighted mean: large where ``gbdt``,
        ``extra_trees`` and ``ridge`` (and the seeds of a member) disagree. Rows without a
        score get the fallback's spread. Either is only a relative measure until a
        :class:`~pianoeval.calibration.Calibration` scales it
        (:meth:`predict_calibrated`).

        Returns
        -------
        values, sigma : np.ndarray, shape=(n_dims,) or (n_items, n_dims)
            The scores (as :meth:`predict`) and their spread (>= 0; 0 for a rater with a
            single model per dimension).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> x = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a.x", "a.y"])
        >>> y = np.clip(0.5 + 0.1 * x[["a.x"]].to_numpy(), 0.2, 0.9)
        >>> rater = SymbolicRater(dims=["d1"], n_rounds=20, extra_trees_rounds=20).fit(x, y)
        >>> values, sigma = rater.predict_with_spread(x.iloc[:3])
        >>> values.shape == sigma.shape == (3, 1), bool(np.all(sigma >= 0))
        (True, True)
        """
        values, sigma = self._predict_routed(x, score=score, spread=True, members=members)
        assert sigma is not None
        return values, sigma

    def predict_calibrated(
        self,
        x: PerformanceMidi | PathLike | Mapping[str, float] | pd.DataFrame,
        *,
        score: PerformanceMidi | PathLike | None = None,
        level: float = DEFAULT_INTERVAL_LEVEL,
        ood_input: Mapping[str, float] | pd.DataFrame | None = None,
        ood_extra: npt.ArrayLike | None = None,
    ) -> CalibratedPrediction:
        """Rate, calibrate and give each score a conformal interval of coverage ``level``.

        Rows with a score use this rater's calibration, rows without one the fallback's
        (``no_score.calibration``). A row whose rater has no calibration keeps its raw
        score and raw spread, with NaN bounds and ``calibrated`` False.

        Where the row's rater has an OOD model (``ood``), the row gets its
        ``ood_score`` (:meth:`ood_scores`); a flagged row's spread and interval
        half-widths are multiplied by :func:`~pianoeval.calibration.ood_widen_factor`.

        Parameters
        ----------
        x, score
            As in :meth:`predict`.
        level : float
            Nominal coverage of the intervals.
        ood_input : mapping or DataFrame, optional
            The rows as the OOD model reads them, when its columns are not all in ``x``
            (the audio rater's OOD model also reads transkun's pooled context). Rows
            whose OOD columns are missing get NaN scores and are not widened.
        ood_extra : array-like, shape=(n_items,), optional
            Scores of another OOD check on the same scale (the audio rater's acoustic
            check, :class:`~pianoeval.calibration.acoustic.AcousticCheck`): each row's
            ``ood_score`` is the larger of the two (NaN ignored).

        Returns
        -------
        CalibratedPrediction

        Raises
        ------
        ParameterError
            For a level outside ``(0, 1)`` or inputs :meth:`predict` refuses.
        """
        from pianoeval.calibration.conformal import check_level

        lv = check_level(level)
        frame, single, bare = self._route(x, score=score)
        n, d = len(frame), len(self.dims)
        raw, sigma = np.zeros((n, d)), np.zeros((n, d))
        value, spread = np.zeros((n, d)), np.zeros((n, d))
        low, high = np.full((n, d), np.nan), np.full((n, d), np.nan)
        done = np.zeros(n, dtype=bool)
        for rows, part in ((~bare, self), (bare, self.no_score)):
            if part is None or not rows.any():
                continue
            r, s = part._spread_matrix(part._matrix(frame[rows]))
            raw[rows], sigma[rows], value[rows], spread[rows] = r, s, r, s
            cal = part.calibration
            if cal is not None:
                value[rows] = cal.apply(r)
                spread[rows] = cal.spread(s if cal.uses_sigma else None, int(rows.sum()))
                low[rows], high[rows] = cal.interval(r, s if cal.uses_sigma else None, level=lv)
                done[rows] = True
        ood = self._ood_routed(frame, bare, ood_input)
        if ood_extra is not None:
            extra = np.broadcast_to(np.asarray(ood_extra, dtype=np.float64), (n,))
            ood = extra.copy() if ood is None else np.fmax(ood, extra)
        if ood is not None:
            from pianoeval.calibration.ood import ood_widen_factor

            f = ood_widen_factor(ood)[:, None]
            spread = spread * f
            low, high = value - f * (value - low), value + f * (high - value)
        if self.clip:
            value = np.clip(value, *LABEL_RANGE)
            low[done], high[done] = (
                np.clip(low[done], *LABEL_RANGE),
                np.clip(high[done], *LABEL_RANGE),
            )
        pred = CalibratedPrediction(
            raw=raw, value=value, sigma=spread, low=low, high=high, calibrated=done, level=lv,
            ood_score=ood,
        )  # fmt: skip
        if not single:
            return pred
        return CalibratedPrediction(
            raw=raw[0], value=value[0], sigma=spread[0], low=low[0], high=high[0],
            calibrated=done[0], level=lv, ood_score=None if ood is None else ood[0],
        )  # fmt: skip

    def ood_scores(
        self,
        x: PerformanceMidi | PathLike | Mapping[str, float] | pd.DataFrame,
        *,
        score: PerformanceMidi | PathLike | None = None,
        ood_input: Mapping[str, float] | pd.DataFrame | None = None,
    ) -> FloatArray | None:
        """Return each row's out-of-distribution score, or None when no part has an OOD model.

        Rows with a score are scored by this rater's ``ood``, rows without one by the
        fallback's; the score is the distance to the training inputs over its
        out-of-fold threshold (:class:`~pianoeval.calibration.OODModel`), flagged above 1.
        NaN where the row's rater has no OOD model or its columns are missing.

        Returns
        -------
        np.ndarray, shape=(n_items,) or (), or None
        """
        frame, single, bare = self._route(x, score=score)
        out = self._ood_routed(frame, bare, ood_input)
        if out is None or not single:
            return out
        return np.asarray(out[0], dtype=np.float64)

    def _ood_routed(
        self,
        frame: pd.DataFrame,
        bare: npt.NDArray[np.bool_],
        ood_input: Mapping[str, float] | pd.DataFrame | None,
    ) -> FloatArray | None:
        """OOD scores of the routed rows (NaN where not scored); None without OOD models."""
        import pandas as pd

        parts = ((~bare, self), (bare, self.no_score))
        if all(part is None or part.ood is None for _, part in parts):
            return None
        src = frame
        if ood_input is not None:
            src = pd.DataFrame([dict(ood_input)]) if isinstance(ood_input, Mapping) else ood_input
            if len(src) != len(frame):
                raise ParameterError(f"ood_input has {len(src)} rows for {len(frame)} inputs")
        out = np.full(len(frame), np.nan)
        for rows, part in parts:
            if part is None or part.ood is None or not rows.any():
                continue
            if all(c in src.columns for c in part.ood.columns):
                out[rows] = part.ood.score(src.loc[src.index[rows]])
        return out

    def _route(
        self,
        x: PerformanceMidi | PathLike | Mapping[str, float] | pd.DataFrame,
        *,
        score: PerformanceMidi | PathLike | None,
    ) -> tuple[pd.DataFrame, bool, npt.NDArray[np.bool_]]:
        """Return the input as a feature table, whether it was one item, its score-less rows."""
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
        bare = np.zeros(len(frame), dtype=bool)
        if self.no_score is not None:
            available = frame.get("score.available")
            bare = (
                np.ones(len(frame), dtype=bool)
                if available is None
                else np.asarray(available, dtype=np.float64) == 0
            )
        return frame, isinstance(x, Mapping), bare

    def _predict_routed(
        self,
        x: PerformanceMidi | PathLike | Mapping[str, float] | pd.DataFrame,
        *,
        score: PerformanceMidi | PathLike | None,
        spread: bool,
        members: bool = False,
    ) -> tuple[FloatArray, FloatArray | None]:
        frame, single, bare = self._route(x, score=score)
        out = np.zeros((len(frame), len(self.dims)))
        sig = np.zeros_like(out)
        for rows, part in ((~bare, self), (bare, self.no_score)):
            if part is None or not rows.any():
                continue
            arr = part._matrix(frame[rows])
            if spread:
                out[rows], sig[rows] = part._spread_matrix(arr, members=members)
            else:
                out[rows] = part._predict_matrix(arr)
        if single:
            return out[0], sig[0] if spread else None
        return out, sig if spread else None

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

    def _model_predictions(
        self, arr: npt.NDArray[np.float32]
    ) -> list[tuple[float, npt.NDArray[np.float64]]]:
        """``(weight, prediction (n_items, n_dims))`` of every model; weights sum to 1.

        Each seed model of a tree member gets an equal share of that member's weight.
        """
        total = sum(self.weights[m] for m in self.members)
        out: list[tuple[float, npt.NDArray[np.float64]]] = []
        for name, models in (("gbdt", self.models), ("extra_trees", self.extra_models)):
            if name in self.members:
                w = self.weights[name] / total / len(self.seeds)
                for k in range(len(self.seeds)):
                    out.append((w, np.column_stack([models[d][k].predict(arr) for d in self.dims])))
        if self.linear is not None:
            out.append((self.weights["ridge"] / total, self.linear.predict(arr)))
        return out

    def _spread_matrix(
        self, arr: npt.NDArray[np.float32], *, members: bool = False
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Blend (clipped as :meth:`_predict_matrix`) and its spread.

        The spread is the error model's sigma when the rater has one (and ``members`` is
        False), else the weighted SD over the models.
        """
        preds = self._model_predictions(arr)
        mean = sum((w * p for w, p in preds), np.zeros((len(arr), len(self.dims))))
        var = sum((w * (p - mean) ** 2 for w, p in preds), np.zeros_like(mean))
        out = np.clip(mean, *LABEL_RANGE) if self.clip else mean
        member_sd = np.sqrt(var)
        if self.spread_model is not None and not members:
            return out, self.spread_model.predict(arr, out, member_sd)
        return out, member_sd

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
        files.update(self._save_calibration(out))
        files.update(self._save_ood(out))
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

    def _save_calibration(self, out: Path) -> dict[str, str]:
        """Write (or remove stale) ``calibration.json`` and ``spread/``; return checksums."""
        import shutil

        from pianoeval.model.spread import SPREAD_DIR

        files: dict[str, str] = {}
        shutil.rmtree(out / SPREAD_DIR, ignore_errors=True)
        if self.spread_model is not None:
            (out / SPREAD_DIR).mkdir()
            for rel, data in self.spread_model.to_files().items():
                (out / rel).write_bytes(data)
                files[rel] = hashlib.sha256(data).hexdigest()
        target = out / CALIBRATION_FILE
        if self.calibration is None:
            target.unlink(missing_ok=True)
            return files
        self._check_calibration(self.calibration, target)
        self.calibration.save(target)
        files[CALIBRATION_FILE] = hashlib.sha256(target.read_bytes()).hexdigest()
        return files

    def _save_ood(self, out: Path) -> dict[str, str]:
        """Write (or remove a stale) ``ood.json``; return its checksum."""
        target = out / OOD_FILE
        if self.ood is None:
            target.unlink(missing_ok=True)
            return {}
        self._check_ood(self.ood, target)
        self.ood.save(target)
        return {OOD_FILE: hashlib.sha256(target.read_bytes()).hexdigest()}

    def _check_ood(self, ood: OODModel, where: Path) -> None:
        missing = [c for c in self.feature_columns if c not in ood.columns]
        if missing:
            raise SchemaError(
                f"{where}: the OOD model lacks {len(missing)} of the rater's feature columns "
                f"(e.g. {missing[:3]})"
            )

    def write_ood(self, path: PathLike) -> Path:
        """Store this rater's OOD models in its saved bundle ``path``, models untouched.

        Writes ``ood.json`` (and the fallback's in ``no_score/``) and its checksum in
        ``rater.json``; a part whose ``ood`` is None has its file removed.

        Returns
        -------
        Path
            The bundle folder.

        Raises
        ------
        SchemaError
            If ``path`` holds no saved rater or the OOD model lacks the rater's columns.
        """
        base = Path(path)
        meta = base / "rater.json"
        try:
            record = json.loads(meta.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SchemaError(f"{base}: no rater.json (not a saved rater)") from None
        files = {k: v for k, v in record.get("files", {}).items() if k != OOD_FILE}
        files.update(self._save_ood(base))
        record["files"] = files
        meta.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        if self.no_score is not None and (base / NO_SCORE_DIR / "rater.json").is_file():
            self.no_score.write_ood(base / NO_SCORE_DIR)
        return base

    def _check_calibration(self, cal: Calibration, where: Path) -> None:
        if list(cal.dims) != self.dims:
            raise SchemaError(
                f"{where}: calibration dimensions {list(cal.dims)} differ from the rater's "
                f"{self.dims}"
            )

    def write_calibration(self, path: PathLike, *, info: Mapping[str, Any] | None = None) -> Path:
        """Store this rater's calibrations in its saved bundle ``path``, models untouched.

        Writes ``calibration.json`` and the error model ``spread/`` (and the same in
        ``no_score/`` for the fallback) and adds their checksums (and ``info``, as the
        ``calibration`` entry) to ``rater.json``; the model files are not rewritten.
        A rater whose ``calibration`` (``spread_model``) is None has its file removed.

        Returns
        -------
        Path
            The bundle folder.

        Raises
        ------
        SchemaError
            If ``path`` holds no saved rater or the calibration's dimensions differ.
        """
        base = Path(path)
        meta = base / "rater.json"
        try:
            record = json.loads(meta.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SchemaError(f"{base}: no rater.json (not a saved rater)") from None
        files = {
            k: v
            for k, v in record.get("files", {}).items()
            if k != CALIBRATION_FILE and not k.startswith("spread/")
        }
        files.update(self._save_calibration(base))
        record["files"] = files
        if info is not None:
            record["calibration"] = dict(info)
            self.metadata["calibration"] = dict(info)
        elif self.calibration is None:
            record.pop("calibration", None)
            self.metadata.pop("calibration", None)
        meta.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        if self.no_score is not None and (base / NO_SCORE_DIR / "rater.json").is_file():
            self.no_score.write_calibration(base / NO_SCORE_DIR, info=info)
        return base

    @classmethod
    def load(cls, path: PathLike) -> SymbolicRater:
        """Read a rater written by :meth:`save` (checksums verified).

        Raises
        ------
        SchemaError
            If ``rater.json`` is missing or of another schema, a model file is missing or
            its checksum differs, or ``calibration.json`` is unlisted, altered or invalid.
        """
        from pianoeval.symbolic.features import FEATURE_VERSION

        lgb = lightgbm_module()
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

        def raw(rel: str) -> bytes:
            try:
                data = (base / rel).read_bytes()
            except FileNotFoundError:
                raise SchemaError(f"{base}: model file {rel} is missing") from None
            if hashlib.sha256(data).hexdigest() != files.get(rel):
                raise SchemaError(f"{base}: checksum of {rel} does not match rater.json")
            return data

        def text(rel: str) -> str:
            return lzma.decompress(raw(rel)).decode()

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
        rater.calibration = _load_bundle_calibration(rater, base, files)
        rater.ood = _load_bundle_ood(rater, base, files)
        if "spread/spread.json" in files:
            from pianoeval.model.spread import SpreadModel

            rater.spread_model = SpreadModel.from_files(raw, str(base))
            if rater.spread_model.dims != rater.dims:
                raise SchemaError(f"{base}: the spread model's dimensions differ from the rater's")
        if (base / NO_SCORE_DIR / "rater.json").is_file():
            rater.no_score = cls.load(base / NO_SCORE_DIR)
        return rater


def _load_bundle_calibration(
    rater: SymbolicRater, base: Path, files: Mapping[str, str]
) -> Calibration | None:
    """Load a bundle's ``calibration.json`` (checksummed in rater.json), or None."""
    from pianoeval.calibration import load_calibration

    target = base / CALIBRATION_FILE
    listed = CALIBRATION_FILE in files
    if not listed:
        if target.exists():
            raise SchemaError(
                f"{target}: not listed in {base / 'rater.json'}; store calibrations with "
                "`pianoeval calibrate` (SymbolicRater.write_calibration)"
            )
        return None
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        raise SchemaError(f"{target}: listed in rater.json but missing") from None
    if hashlib.sha256(data).hexdigest() != files[CALIBRATION_FILE]:
        raise SchemaError(f"{target}: checksum does not match rater.json")
    cal = load_calibration(target)
    rater._check_calibration(cal, target)
    return cal


def _load_bundle_ood(rater: SymbolicRater, base: Path, files: Mapping[str, str]) -> OODModel | None:
    """Load a bundle's ``ood.json`` (checksummed in rater.json), or None."""
    from pianoeval.calibration.ood import load_ood

    target = base / OOD_FILE
    if OOD_FILE not in files:
        if target.exists():
            raise SchemaError(
                f"{target}: not listed in {base / 'rater.json'}; store OOD models with "
                "SymbolicRater.write_ood"
            )
        return None
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        raise SchemaError(f"{target}: listed in rater.json but missing") from None
    if hashlib.sha256(data).hexdigest() != files[OOD_FILE]:
        raise SchemaError(f"{target}: checksum does not match rater.json")
    ood = load_ood(target)
    rater._check_ood(ood, target)
    return ood
