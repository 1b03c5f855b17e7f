"""Calibrating a symbolic rater on PercePiano: out-of-fold predictions, fit, held-out report.

:func:`calibrate_symbolic` rebuilds the rater's recipe (its member settings, read from the
rater) once per fold of a split (:func:`pianoeval.train.cross_validate` with
``spread=True``), so every calibration row is predicted, with its spread, by a model
that never saw its excerpt (excerpt split) or its performer (performer split). A
:class:`~pianoeval.calibration.Calibration` is fitted on those out-of-fold rows (inner
cross-validation grouped by excerpt, so no calibration segment shares a passage with what
it calibrates) and judged on the split's test segments, rated by the mean of the fold
models as the benchmarks do (:func:`~pianoeval.calibration.calibration_report`). The
performance-only fallback gets its own calibration the same way, from the rows without a
score.

The sigma the calibration scales is, by default, an error model
(:class:`~pianoeval.model.spread.SpreadModel`) learnt from the out-of-fold errors: the
calibration rows get theirs from error models fitted without their excerpt (grouped
5-fold), so the calibration never sees a sigma that knew the row's error; the error model
stored is fitted on every out-of-fold row. ``spread="members"`` uses the member spread.

The shipped rater is trained on every segment, the fold models on about three quarters of
the non-test ones; the calibration fitted on the fold models is applied to it as it is
(the usual split-conformal approximation for a final model; docs/calibration.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pianoeval.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

    from pianoeval.calibration import Calibration
    from pianoeval.data.splits import Split
    from pianoeval.model.audio import AudioRater
    from pianoeval.model.spread import SpreadModel
    from pianoeval.model.symbolic import SymbolicRater

__all__ = [
    "CalibrationRun",
    "PartCalibration",
    "calibrate_audio",
    "calibrate_symbolic",
    "rater_recipe",
]

#: Grouping of the calibration's inner cross-validation (passages never cross folds).
CALIBRATION_GROUPS = "excerpt"


def rater_recipe(rater: SymbolicRater) -> dict[str, Any]:
    """Return the :class:`SymbolicRater` keyword arguments that rebuild ``rater``'s recipe."""
    return {
        "dims": list(rater.dims),
        "params": dict(rater.params),
        "n_rounds": rater.n_rounds,
        "seeds": list(rater.seeds),
        "extra_trees_rounds": rater.extra_trees_rounds,
        "ridge_alpha": rater.ridge_alpha,
        "weights": dict(rater.weights),
        "clip": rater.clip,
    }


@dataclass
class PartCalibration:
    """The calibration of one part of a rater (with score, or the no-score fallback).

    Attributes
    ----------
    calibration : Calibration
        Fitted on the out-of-fold rows.
    report : dict
        :func:`~pianoeval.calibration.calibration_report` on the split's test rows
        (None for a split without a test set).
    oof, oof_sigma, test, test_sigma : pandas.DataFrame
        The predictions and spreads (out-of-fold for the calibration rows) it was fitted
        and judged on.
    spread_model : SpreadModel or None
        The error model (fitted on every out-of-fold row), with ``spread="error_model"``.
    """

    calibration: Calibration
    report: dict[str, Any] | None
    oof: pd.DataFrame
    oof_sigma: pd.DataFrame
    test: pd.DataFrame
    test_sigma: pd.DataFrame
    spread_model: SpreadModel | None = None


@dataclass
class CalibrationRun:
    """What :func:`calibrate_symbolic` fitted and measured.

    Attributes
    ----------
    split : str
    with_score : PartCalibration
    no_score : PartCalibration or None
        For a rater with a performance-only fallback.
    info : dict
        What a bundle records about the calibration (``rater.json``'s ``calibration``).
    """

    split: str
    with_score: PartCalibration
    no_score: PartCalibration | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def attach(self, rater: SymbolicRater) -> None:
        """Set the calibrations on ``rater`` and its fallback (then ``write_calibration``)."""
        rater.calibration = self.with_score.calibration
        rater.spread_model = self.with_score.spread_model
        if rater.no_score is not None and self.no_score is not None:
            rater.no_score.calibration = self.no_score.calibration
            rater.no_score.spread_model = self.no_score.spread_model

    def summary(self) -> dict[str, Any]:
        """Return a JSON-ready record: the info and each part's held-out report."""
        out: dict[str, Any] = {**self.info, "with_score": self.with_score.report}
        if self.no_score is not None:
            out["no_score"] = self.no_score.report
        return out


@dataclass
class _Rows:
    """Predictions with their member spread, features and labels (one row per item)."""

    keys: list[str]
    groups: npt.NDArray[Any]
    pred: npt.NDArray[np.float64]
    member_sd: npt.NDArray[np.float64]
    feats: npt.NDArray[np.float32]
    ref: npt.NDArray[np.float64]


def _part(
    rater: SymbolicRater,
    x: pd.DataFrame,
    y: pd.DataFrame,
    split: Split,
    *,
    method: str,
    spread: str,
    progress: bool | str,
    n_threads: int,
) -> PartCalibration:
    from pianoeval.train.symbolic import cross_validate

    xx = _columns(rater, x)
    labelled = y.loc[xx.index, rater.dims].notna().all(axis=1)
    xx = xx.loc[labelled]
    cv = cross_validate(
        xx,
        y.loc[xx.index, rater.dims],
        split,
        progress=progress,
        spread=True,
        n_threads=n_threads,
        **rater_recipe(rater),
    )
    assert cv.oof_sigma is not None
    assert cv.test_sigma is not None
    if len(cv.oof) == 0:
        raise ParameterError(f"the {split.name} split's folds hold none of the table's rows")

    def rows(pred: pd.DataFrame, sigma: pd.DataFrame) -> _Rows:
        ids = [str(i) for i in pred.index]
        return _rows(ids, ids, pred, sigma, xx.loc[ids], y.loc[ids, rater.dims])

    return _fit_part(
        rater.dims, rows(cv.oof, cv.oof_sigma), rows(cv.test, cv.test_sigma),
        method=method, spread=spread, n_threads=n_threads,
    )  # fmt: skip


def _columns(rater: SymbolicRater, x: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in rater.feature_columns if c not in x.columns]
    if missing:
        raise ParameterError(
            f"the table lacks {len(missing)} of the rater's feature columns (e.g. {missing[:3]})"
        )
    return x[rater.feature_columns]


def _rows(
    keys: list[str],
    ids: list[str],
    pred: pd.DataFrame | npt.NDArray[np.float64],
    sigma: pd.DataFrame | npt.NDArray[np.float64],
    feats: pd.DataFrame,
    ref: pd.DataFrame,
) -> _Rows:
    from pianoeval.data.splits import group_of

    return _Rows(
        keys=keys,
        groups=np.array([group_of(i, CALIBRATION_GROUPS) for i in ids]),
        pred=np.asarray(pred, dtype=np.float64),
        member_sd=np.asarray(sigma, dtype=np.float64),
        feats=feats.to_numpy(dtype=np.float32),
        ref=ref.to_numpy(dtype=np.float64),
    )


def _fit_part(
    dims: list[str], oof: _Rows, test: _Rows, *, method: str, spread: str, n_threads: int
) -> PartCalibration:
    """Fit the error model (optionally) and the calibration on ``oof``; report on ``test``."""
    from pianoeval.calibration import Calibration, calibration_report, sigma_error_spearman
    from pianoeval.model.spread import SpreadModel

    if spread not in ("error_model", "members"):
        raise ParameterError(f"spread must be 'error_model' or 'members', not {spread!r}")
    sigma, test_sigma, model = oof.member_sd, test.member_sd, None
    if spread == "error_model":
        # the calibration must see sigmas of rows the error model did not learn from:
        # its own grouped out-of-fold predictions; the model kept is fitted on all rows
        err = np.abs(oof.ref - oof.pred)
        sigma = np.empty_like(oof.pred)
        for held in _group_folds(oof.groups):
            train = np.setdiff1d(np.arange(len(oof.keys)), held)
            inner = SpreadModel(dims, n_threads=n_threads)
            inner.fit(oof.feats[train], oof.pred[train], oof.member_sd[train], err[train])
            sigma[held] = inner.predict(oof.feats[held], oof.pred[held], oof.member_sd[held])
        model = SpreadModel(dims, n_threads=n_threads).fit(oof.feats, oof.pred, oof.member_sd, err)
        if test.keys:
            test_sigma = model.predict(test.feats, test.pred, test.member_sd)
    cal = Calibration.fit(oof.pred, oof.ref, sigma, groups=oof.groups, dims=dims, method=method)
    report = None
    if test.keys:
        report = calibration_report(test.ref, test.pred, test_sigma, calibration=cal)

        def rho(ref: Any, pred: Any, s: Any) -> float:
            return float(np.nanmean(sigma_error_spearman(ref, pred, s)))

        report["spread"] = {
            "kind": spread,
            "cv_sigma_spearman": rho(oof.ref, oof.pred, sigma),
            "cv_sigma_spearman_members": rho(oof.ref, oof.pred, oof.member_sd),
            "test_sigma_spearman_members": rho(test.ref, test.pred, test.member_sd),
        }
    return PartCalibration(
        cal, report,
        pd_frame(oof.pred, oof.keys, dims), pd_frame(sigma, oof.keys, dims),
        pd_frame(test.pred, test.keys, dims), pd_frame(test_sigma, test.keys, dims), model,
    )  # fmt: skip


def _group_folds(groups: npt.NDArray[Any]) -> list[npt.NDArray[np.intp]]:
    """Test indices of a grouped 5-fold split (fewer folds with fewer groups)."""
    from sklearn.model_selection import GroupKFold

    k = min(5, len(np.unique(groups)))
    if k < 2:
        raise ParameterError("the error model needs out-of-fold rows from at least 2 excerpts")
    return [t for _, t in GroupKFold(n_splits=k).split(np.zeros(len(groups)), groups=groups)]


def pd_frame(values: npt.ArrayLike | None, ids: list[Any], dims: list[str]) -> pd.DataFrame:
    """Return ``values`` as a frame indexed by ``ids`` (empty for None)."""
    import pandas as pd

    if values is None:
        return pd.DataFrame(columns=dims, dtype=np.float64)
    return pd.DataFrame(values, index=pd.Index(ids, name="id"), columns=dims)


def calibrate_symbolic(
    rater: SymbolicRater,
    x: pd.DataFrame,
    y: pd.DataFrame,
    split: Split,
    *,
    x_no_score: pd.DataFrame | None = None,
    method: str = "auto",
    spread: str = "error_model",
    progress: bool = False,
    n_threads: int = 1,
) -> CalibrationRun:
    """Fit ``rater``'s calibrations on out-of-fold predictions of its recipe under ``split``.

    Parameters
    ----------
    rater : SymbolicRater
        The rater to calibrate; only its recipe and feature columns are used (its models
        are not).
    x : pandas.DataFrame
        Rater inputs with scores, indexed by PercePiano segment id
        (:func:`~pianoeval.data.percepiano_table.percepiano_table`).
    y : pandas.DataFrame
        Labels, same index, a column per dimension.
    split : pianoeval.data.splits.Split
        Its folds make the out-of-fold predictions; its test rows the report.
    x_no_score : pandas.DataFrame, optional
        Performance-only inputs of the same segments, for the fallback (needed when the
        rater has one).
    method : {"auto", "affine", "isotonic", "none"}
        Point calibrator of every dimension (:meth:`Calibration.fit`).
    spread : {"error_model", "members"}
        The sigma: an error model (:class:`~pianoeval.model.spread.SpreadModel`) fitted on
        the out-of-fold errors and stored with the calibration, or the member spread.
    progress : bool
        tqdm bars on stderr.
    n_threads : int
        LightGBM threads.

    Returns
    -------
    CalibrationRun

    Raises
    ------
    ParameterError
        If the table lacks the rater's columns, the split's folds hold none of its rows,
        or the rater has a fallback and ``x_no_score`` is missing.
    """
    if rater.no_score is not None and x_no_score is None:
        raise ParameterError("the rater has a no-score fallback: pass x_no_score")
    with_score = _part(
        rater,
        x,
        y,
        split,
        method=method,
        spread=spread,
        progress=f"{split.name} split, with score" if progress else False,
        n_threads=n_threads,
    )
    no_score = None
    if rater.no_score is not None and x_no_score is not None:
        no_score = _part(
            rater.no_score,
            x_no_score,
            y,
            split,
            method=method,
            spread=spread,
            progress=f"{split.name} split, no score" if progress else False,
            n_threads=n_threads,
        )
    info = {
        "split": split.name,
        "groups": CALIBRATION_GROUPS,
        "method": method,
        "spread": spread,
        "n_rows": with_score.calibration.n_rows,
        "n_test": 0 if with_score.report is None else with_score.report["n_items"],
        "created": dt.date.today().isoformat(),
    }
    return CalibrationRun(split.name, with_score, no_score, info)


def calibrate_audio(
    rater: AudioRater,
    tables: Mapping[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]],
    split: Split,
    *,
    method: str = "auto",
    spread: str = "error_model",
    progress: bool = False,
    n_threads: int = 1,
) -> CalibrationRun:
    """Calibrate an audio rater on out-of-fold predictions with each renderer held out.

    For each renderer ``h`` and each fold of ``split``, the rater's recipe (projections,
    velocity mode, member settings) is trained on the fold's training segments rendered
    by every *other* renderer and rates ``h``'s renders of the fold's validation segments
    (the calibration rows) and of the test segments (the report, mean over the folds):
    every calibration row comes from a piano and from segments its model never heard. The
    calibration and error model are then fitted as in :func:`calibrate_symbolic` (inner
    cross-validation grouped by excerpt), for the rater and its no-score fallback.

    Parameters
    ----------
    rater : AudioRater
        Only its recipe and columns are used.
    tables : mapping of str to (x, x_no_score, y)
        Per renderer (audio corpus condition), its rows with score and without, indexed by
        segment id (:func:`pianoeval.train.audio.audio_training_tables` of that condition
        alone), and their labels. At least two renderers.
    split, method, spread, progress, n_threads
        As in :func:`calibrate_symbolic`.

    Returns
    -------
    CalibrationRun

    Raises
    ------
    ParameterError
        For fewer than two renderers, or ``spread="error_model"`` with projected pooled
        vectors (their principal axes differ between the fold models and the bundle).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from pianoeval.model.audio import AudioRater

    if len(tables) < 2:
        raise ParameterError(
            f"holding each renderer out needs at least two renderers, got {list(tables)}"
        )
    if rater.rater is None or rater.rater.no_score is None:
        raise ParameterError("the audio rater must be fitted, with its no-score fallback")
    if spread == "error_model" and rater.projections:
        raise ParameterError(
            "the error model reads the rater's inputs, and projected pooled vectors differ "
            "between fold models and the bundle: use spread='members' for this rater"
        )
    inner, fallback = rater.rater, rater.rater.no_score
    recipe = {**rater_recipe(inner), "n_threads": n_threads}
    parts: dict[str, dict[str, list[Any]]] = {
        k: {"oof": [], "test": []} for k in ("with_score", "no_score")
    }
    steps = tqdm(
        total=len(tables) * split.n_folds, desc=f"{split.name} split, renderer held out",
        unit="fold", disable=not progress,
    )  # fmt: skip
    for held, (xs_h, x0_h, _) in tables.items():
        others = [c for c in tables if c != held]
        test_preds: dict[str, list[tuple[Any, ...]]] = {"with_score": [], "no_score": []}
        for f in range(split.n_folds):
            train, val = split.fold(f)
            keep = set(train)

            def stack(k: int, keep: set[str] = keep, others: list[str] = others) -> pd.DataFrame:
                return pd.concat([t.loc[[i in keep for i in t.index]] for c in others
                                  for t in (tables[c][k],)])  # fmt: skip

            xs_tr, x0_tr = stack(0), stack(1)
            fold = AudioRater(projections=rater.projection_sizes, velocity=rater.velocity, **recipe)
            fold.fit(
                xs_tr, _labels(xs_tr, tables), x_no_score=x0_tr, y_no_score=_labels(x0_tr, tables)
            )
            assert fold.rater is not None
            assert fold.rater.no_score is not None
            for name, model, table in (
                ("with_score", fold.rater, xs_h),
                ("no_score", fold.rater.no_score, x0_h),
            ):
                v = [i for i in val if i in table.index]
                t = [i for i in split.test if i in table.index]
                if v:
                    z = fold.transform(table.loc[v])
                    p, s = model._spread_matrix(model._matrix(z))
                    parts[name]["oof"].append((held, v, p, s, z[model.feature_columns]))
                if t:
                    z = fold.transform(table.loc[t])
                    p, s = model._spread_matrix(model._matrix(z))
                    test_preds[name].append((t, p, s, z[model.feature_columns]))
            steps.update()
        for name, lst in test_preds.items():
            if lst:
                t = lst[0][0]
                p = np.mean([e[1] for e in lst], axis=0)
                s = np.mean([e[2] for e in lst], axis=0)
                parts[name]["test"].append((held, t, p, s, lst[0][3]))
    steps.close()

    def rows(entries: list[Any], dims: list[str]) -> _Rows:
        if not entries:
            empty = np.zeros((0, len(dims)))
            return _rows([], [], empty, empty, pd.DataFrame(), pd.DataFrame(columns=dims))
        keys = [f"{h}/{i}" for h, ids, *_ in entries for i in ids]
        ids = [i for _, ids, *_ in entries for i in ids]
        ref = pd.concat([tables[h][2].loc[ids_h, dims] for h, ids_h, *_ in entries])
        return _rows(
            keys, ids,
            np.concatenate([e[2] for e in entries]), np.concatenate([e[3] for e in entries]),
            pd.concat([e[4] for e in entries]), ref,
        )  # fmt: skip

    fitted = {}
    for name, model in (("with_score", inner), ("no_score", fallback)):
        oof, test = rows(parts[name]["oof"], model.dims), rows(parts[name]["test"], model.dims)
        fitted[name] = _fit_part(
            model.dims, oof, test, method=method, spread=spread, n_threads=n_threads
        )
    info = {
        "split": split.name,
        "held_out": "renderer (each in turn)",
        "renderers": list(tables),
        "groups": CALIBRATION_GROUPS,
        "method": method,
        "spread": spread,
        "n_rows": fitted["with_score"].calibration.n_rows,
        "n_test": 0 if fitted["with_score"].report is None
        else fitted["with_score"].report["n_items"],
        "created": dt.date.today().isoformat(),
    }  # fmt: skip
    return CalibrationRun(split.name, fitted["with_score"], fitted["no_score"], info)


def _labels(
    x: pd.DataFrame, tables: Mapping[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]
) -> pd.DataFrame:
    """Labels of ``x``'s rows (by segment id; the same for every renderer)."""
    import pandas as pd

    y = pd.concat([t[2] for t in tables.values()])
    y = y.loc[~y.index.duplicated()]
    return y.loc[x.index]
