"""The error model of the tree raters: how far off a score is likely to be, per item.

The members of :class:`~pianoeval.model.symbolic.SymbolicRater` disagree little, and
their disagreement follows the error only weakly (Spearman 0.10 with the absolute error
on the excerpt-split CV; docs/calibration.md). A :class:`SpreadModel` learns the error's
size instead, from the absolute *out-of-fold* errors, in two parts combined by their
geometric mean:

- per dimension, a small LightGBM regression (squared loss on ``|error|``, so it estimates
  the mean absolute error) from the rater's features, its score and its member spread;
- one *pooled* regression of how hard an item is over all dimensions at once (the mean of
  ``|error| / MAE`` over dimensions, from the features and all scores and spreads), scaled
  back per dimension by that dimension's MAE. Its target averages 19 noisy draws, so it
  learns the item's difficulty with less noise; a performer who plays unlike the others is
  hard on most dimensions at once.

The mix was chosen on the grouped CV of the out-of-fold rows of both splits (mean Spearman
with the error: excerpt 0.233 per dimension, 0.251 pooled, 0.260 mixed; performer 0.176,
0.156, 0.197; the test rows agreed, docs/calibration.md). It is fitted by ``pianoeval calibrate``
(:mod:`pianoeval.train.calibrate`) on the same out-of-fold predictions the calibration
uses, and stored in the bundle (``spread/``: ``spread.json`` and one xz-compressed
LightGBM text model per dimension, checksummed in ``rater.json``). Its output is the
``sigma`` the calibration scales into intervals.
"""

from __future__ import annotations

import json
import lzma
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pianoeval.errors import ParameterError, SchemaError
from pianoeval.model.trees import compact_model_text, lightgbm_module

if TYPE_CHECKING:
    import lightgbm

__all__ = ["SPREAD_DIR", "SPREAD_PARAMS", "SPREAD_ROUNDS", "SpreadModel"]

#: Where a bundle keeps its error model.
SPREAD_DIR = "spread"
#: LightGBM settings of the error model, chosen on the excerpt-split CV (docs/calibration.md:
#: squared loss 0.227 / 0.224 mean Spearman with the error, with score / without, against
#: 0.192 / 0.204 for L1 loss and 0.221 / 0.210 for 15 leaves).
SPREAD_PARAMS: dict[str, Any] = {
    "objective": "regression",
    "num_leaves": 7,
    "learning_rate": 0.05,
    "min_data_in_leaf": 30,
    "feature_fraction": 0.5,
    "max_bin": 63,
    "verbose": -1,
}
SPREAD_ROUNDS = 100
#: Smallest sigma returned (the label scale is [1/7, 1]; a regression can predict ~0 or less).
SIGMA_MIN = 1e-3
_SCHEMA_VERSION = 1
#: The pooled difficulty model's file inside :data:`SPREAD_DIR`.
_POOLED_FILE = "_pooled.txt.xz"
FloatArray = npt.NDArray[np.float64]


class SpreadModel:
    """Per-dimension regression of the absolute error of a rater's scores.

    Parameters
    ----------
    dims : sequence of str
    params : mapping, optional
        LightGBM parameters (default :data:`SPREAD_PARAMS`).
    n_rounds : int
    n_threads : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 3)).astype(np.float32)
    >>> pred, member_sd = rng.uniform(0.3, 0.7, (200, 1)), rng.uniform(0, 0.02, (200, 1))
    >>> err = np.abs(rng.normal(size=(200, 1))) * (0.02 + 0.05 * (x[:, :1] > 0))
    >>> m = SpreadModel(["d1"], n_rounds=20, n_threads=1).fit(x, pred, member_sd, err)
    >>> m.predict(x[:3], pred[:3], member_sd[:3]).shape
    (3, 1)
    """

    def __init__(
        self,
        dims: Sequence[str],
        *,
        params: Mapping[str, Any] | None = None,
        n_rounds: int = SPREAD_ROUNDS,
        n_threads: int = 1,
        pooled: bool = True,
    ) -> None:
        if n_rounds < 1:
            raise ParameterError(f"n_rounds must be >= 1, not {n_rounds}")
        self.dims = list(dims)
        self.params = dict(SPREAD_PARAMS if params is None else params)
        self.n_rounds = int(n_rounds)
        self.n_threads = n_threads
        self.pooled = pooled
        self.models: dict[str, lightgbm.Booster] = {}
        #: The pooled difficulty model and the per-dimension MAE that scales it.
        self.pooled_model: lightgbm.Booster | None = None
        self.mae: FloatArray | None = None

    @staticmethod
    def _inputs(
        x: npt.ArrayLike, pred: npt.ArrayLike, member_sd: npt.ArrayLike, j: int
    ) -> npt.NDArray[np.float32]:
        xa = np.asarray(x, dtype=np.float32)
        p = np.asarray(pred, dtype=np.float32)
        s = np.asarray(member_sd, dtype=np.float32)
        if p.shape != s.shape or p.ndim != 2 or xa.ndim != 2 or len(xa) != len(p):
            raise ParameterError(
                f"x (n, n_features), pred and member_sd (n, n_dims) do not fit: {xa.shape}, "
                f"{p.shape}, {s.shape}"
            )
        if j < 0:  # the pooled model: every dimension's score and spread
            return np.column_stack([xa, p, s]).astype(np.float32)
        out: npt.NDArray[np.float32] = np.column_stack([xa, p[:, j], s[:, j]])
        return out

    def fit(
        self,
        x: npt.ArrayLike,
        pred: npt.ArrayLike,
        member_sd: npt.ArrayLike,
        abs_err: npt.ArrayLike,
    ) -> SpreadModel:
        """Fit one regression per dimension on out-of-fold rows.

        Parameters
        ----------
        x : array-like, shape=(n_items, n_features)
            The rater's features of each item.
        pred, member_sd : array-like, shape=(n_items, n_dims)
            The rater's out-of-fold scores and member spreads.
        abs_err : array-like, shape=(n_items, n_dims)
            Absolute errors of those scores against the labels.

        Returns
        -------
        SpreadModel
            ``self``.
        """
        lgb = lightgbm_module()
        err = np.asarray(abs_err, dtype=np.float64)
        if err.shape != np.shape(pred) or err.shape[1] != len(self.dims):
            raise ParameterError(f"abs_err must have shape {np.shape(pred)}, got {err.shape}")
        params = {**self.params, "num_threads": self.n_threads}
        self.models = {}
        for j, dim in enumerate(self.dims):
            data = lgb.Dataset(self._inputs(x, pred, member_sd, j), label=err[:, j])
            self.models[dim] = lgb.train(params, data, num_boost_round=self.n_rounds)
        self.pooled_model, self.mae = None, None
        if self.pooled:
            mae = np.maximum(err.mean(axis=0), SIGMA_MIN)
            data = lgb.Dataset(self._inputs(x, pred, member_sd, -1), label=(err / mae).mean(axis=1))
            self.pooled_model = lgb.train(params, data, num_boost_round=self.n_rounds)
            self.mae = mae
        return self

    def predict(
        self, x: npt.ArrayLike, pred: npt.ArrayLike, member_sd: npt.ArrayLike
    ) -> FloatArray:
        """Return each score's sigma (predicted absolute error, >= :data:`SIGMA_MIN`)."""
        if not self.models:
            raise ParameterError("the spread model is not fitted")
        cols = [
            np.asarray(self.models[d].predict(self._inputs(x, pred, member_sd, j)))
            for j, d in enumerate(self.dims)
        ]
        out: FloatArray = np.maximum(np.column_stack(cols).astype(np.float64), SIGMA_MIN)
        if self.pooled_model is not None and self.mae is not None:
            hard = np.asarray(self.pooled_model.predict(self._inputs(x, pred, member_sd, -1)))
            pooled = np.maximum(np.outer(hard, self.mae), SIGMA_MIN)
            out = np.sqrt(out * pooled)
        return out

    # ----------------------------------------------------------------------- io
    def to_files(self) -> dict[str, bytes]:
        """Return ``{relative path: bytes}`` of the stored model (under :data:`SPREAD_DIR`)."""
        if not self.models:
            raise ParameterError("cannot store an unfitted spread model")
        record = {
            "schema_version": _SCHEMA_VERSION,
            "kind": "pianoeval.spread_model",
            "dims": self.dims,
            "params": self.params,
            "n_rounds": self.n_rounds,
            "inputs": "rater features, then the score and the member spread of the dimension",
            "sigma_min": SIGMA_MIN,
        }
        if self.pooled_model is not None and self.mae is not None:
            record["pooled"] = {
                "file": _POOLED_FILE,
                "inputs": "rater features, then every dimension's score, then every spread",
                "mae": [float(v) for v in self.mae],
            }
        files = {f"{SPREAD_DIR}/spread.json": (json.dumps(record, indent=1) + "\n").encode()}
        models = dict(self.models)
        if self.pooled_model is not None:
            models[_POOLED_FILE.removesuffix(".txt.xz")] = self.pooled_model
        for d, m in models.items():
            text = compact_model_text(m.model_to_string())
            files[f"{SPREAD_DIR}/{d}.txt.xz"] = lzma.compress(text.encode())
        return files

    @classmethod
    def from_files(cls, read: Any, where: str) -> SpreadModel:
        """Rebuild from :meth:`to_files`' layout; ``read(rel) -> bytes`` (checksummed).

        Raises
        ------
        SchemaError
            If ``spread.json`` is not a spread model of a known version.
        """
        lgb = lightgbm_module()
        try:
            record = json.loads(read(f"{SPREAD_DIR}/spread.json"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SchemaError(f"{where}/{SPREAD_DIR}/spread.json: not valid JSON ({e})") from None
        if (
            not isinstance(record, dict)
            or record.get("kind") != "pianoeval.spread_model"
            or record.get("schema_version") != _SCHEMA_VERSION
        ):
            raise SchemaError(
                f"{where}/{SPREAD_DIR}/spread.json: not a spread model of schema version "
                f"{_SCHEMA_VERSION}"
            )
        pooled = record.get("pooled")  # absent in bundles calibrated before the pooled part
        model = cls(
            record["dims"], params=record["params"], n_rounds=record["n_rounds"],
            pooled=pooled is not None,
        )  # fmt: skip
        for d in model.dims:
            text = lzma.decompress(read(f"{SPREAD_DIR}/{d}.txt.xz")).decode()
            model.models[d] = lgb.Booster(model_str=text)
        if pooled is not None:
            text = lzma.decompress(read(f"{SPREAD_DIR}/{pooled['file']}")).decode()
            model.pooled_model = lgb.Booster(model_str=text)
            model.mae = np.asarray(pooled["mae"], dtype=np.float64)
            if model.mae.shape != (len(model.dims),):
                raise SchemaError(f"{where}/{SPREAD_DIR}/spread.json: pooled mae per dimension")
        return model
