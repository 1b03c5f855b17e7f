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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pianoeval.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

    from pianoeval.calibration import Calibration
    from pianoeval.data.splits import Split
    from pianoeval.model.spread import SpreadModel
    from pianoeval.model.symbolic import SymbolicRater

__all__ = [
    "CalibrationRun",
    "PartCalibration",
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
    from pianoeval.calibration import Calibration, calibration_report, sigma_error_spearman
    from pianoeval.data.splits import group_of
    from pianoeval.model.spread import SpreadModel
    from pianoeval.train.symbolic import cross_validate

    missing = [c for c in rater.feature_columns if c not in x.columns]
    if missing:
        raise ParameterError(
            f"the table lacks {len(missing)} of the rater's feature columns (e.g. {missing[:3]})"
        )
    xx = x[rater.feature_columns]
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
    ids = list(cv.oof.index)
    pred = cv.oof.to_numpy()
    ref = y.loc[ids, rater.dims].to_numpy()
    member_sd = cv.oof_sigma.loc[ids].to_numpy()
    groups = np.array([group_of(str(i), CALIBRATION_GROUPS) for i in ids])
    test_ids = list(cv.test.index)
    test_pred = cv.test.to_numpy()
    test_member_sd = cv.test_sigma.loc[test_ids].to_numpy() if test_ids else None
    sigma, test_sigma, model = member_sd, test_member_sd, None
    if spread == "error_model":
        # the calibration must see sigmas of rows the error model did not learn from:
        # its own grouped out-of-fold predictions; the model kept is fitted on all rows
        feats = xx.loc[ids].to_numpy(dtype=np.float32)
        err = np.abs(ref - pred)
        sigma = np.empty_like(pred)
        for test in _group_folds(groups):
            train = np.setdiff1d(np.arange(len(ids)), test)
            inner = SpreadModel(rater.dims, n_threads=n_threads)
            inner.fit(feats[train], pred[train], member_sd[train], err[train])
            sigma[test] = inner.predict(feats[test], pred[test], member_sd[test])
        model = SpreadModel(rater.dims, n_threads=n_threads).fit(feats, pred, member_sd, err)
        if test_ids:
            assert test_member_sd is not None
            test_x = xx.loc[test_ids].to_numpy(dtype=np.float32)
            test_sigma = model.predict(test_x, test_pred, test_member_sd)
    elif spread != "members":
        raise ParameterError(f"spread must be 'error_model' or 'members', not {spread!r}")
    cal = Calibration.fit(pred, ref, sigma, groups=groups, dims=rater.dims, method=method)
    report = None
    if test_ids:
        test_ref = y.loc[test_ids, rater.dims].to_numpy()
        report = calibration_report(test_ref, test_pred, test_sigma, calibration=cal)
        assert test_member_sd is not None
        report["spread"] = {
            "kind": spread,
            "cv_sigma_spearman": float(np.nanmean(sigma_error_spearman(ref, pred, sigma))),
            "cv_sigma_spearman_members": float(
                np.nanmean(sigma_error_spearman(ref, pred, member_sd))
            ),
            "test_sigma_spearman_members": float(
                np.nanmean(sigma_error_spearman(test_ref, test_pred, test_member_sd))
            ),
        }
    return PartCalibration(
        cal, report, cv.oof, pd_frame(sigma, ids, rater.dims), cv.test,
        pd_frame(test_sigma, test_ids, rater.dims), model,
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
