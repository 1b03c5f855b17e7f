"""Training and cross-validation of the symbolic rater on PercePiano.

:func:`train_default_rater` fits the shipped rater (and its performance-only fallback) on
every labelled segment; :func:`cross_validate` trains one rater per fold of a split and
predicts the validation and test rows, as the first-rater benchmark does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pianoeval._typing import PathLike
from pianoeval.model.symbolic import MODEL_ID, SymbolicRater

if TYPE_CHECKING:
    import pandas as pd

    from pianoeval.data.splits import Split

__all__ = [
    "CrossValidation",
    "cross_validate",
    "holdout_text",
    "ids_sha256",
    "train_default_rater",
]


def train_default_rater(
    data_root: PathLike,
    out_dir: PathLike,
    *,
    no_score: bool = True,
    benchmark: Mapping[str, Any] | None = None,
    jobs: int | None = 2,
    cache: bool | PathLike = True,
    progress: bool = True,
    holdout: str | None = None,
    **rater_kwargs: Any,
) -> SymbolicRater:
    """Train the default rater on every labelled PercePiano segment and save it.

    Parameters
    ----------
    data_root : path-like
    out_dir : path-like
        Where to save (the shipped rater lives in :data:`pianoeval.rater.DEFAULT_DIR`).
    no_score : bool
        Also train the performance-only fallback (for performances without a score).
    benchmark : mapping, optional
        Figures to record in ``rater.json`` (the benchmark script passes its summary).
    jobs, cache, progress
        Feature computation (see :func:`percepiano_table`).
    holdout : {"excerpt", "performer"}, optional
        Leave that split's test segments out of training (the with-score model and the
        no-score fallback), so its held-out figures can be checked with anyone's MIDI or
        audio. Recorded in ``rater.json`` (``training_data.holdout``: split, number of
        held-out segments, SHA-256 of their sorted ids, and of the training ids) and in the
        model id (``pianoeval-symbolic-v1-holdout-<split>``). Never save such a build over
        the shipped rater.
    **rater_kwargs
        Passed to :class:`SymbolicRater`.

    Returns
    -------
    SymbolicRater
        The trained rater (also saved).
    """
    from pianoeval.data.percepiano_table import percepiano_table
    from pianoeval.licences import combine_licences
    from pianoeval.symbolic.rater_inputs import performance_only_columns
    from pianoeval.train.audio import holdout_ids

    held = set(holdout_ids(holdout))  # validates the name before the long feature pass
    x, y = percepiano_table(data_root, jobs=jobs, cache=cache, progress=progress)
    if held:
        keep = [i not in held for i in x.index]
        x, y = x.loc[keep], y.loc[keep]
    rater = SymbolicRater(**rater_kwargs).fit(x, y, progress="default rater" if progress else False)
    training: dict[str, Any] = {
        "dataset": "percepiano",
        "n_segments": len(x),
        "labels": "released means (mean rating / 7)",
        "scores": "each excerpt's Score rendition (percepiano/midi/*_Score_*)",
    }
    if holdout is not None:
        training["held_out"] = holdout_text(holdout, len(held))
        training["holdout"] = {
            "split": holdout,
            "n_segments": len(held),
            "ids_sha256": ids_sha256(held),
            "training_ids_sha256": ids_sha256(x.index),
        }
    meta = {
        "model_id": MODEL_ID if holdout is None else f"{MODEL_ID}-holdout-{holdout}",
        "created": dt.date.today().isoformat(),
        "licences": combine_licences(["MIT"]),
        "benchmark": dict(benchmark) if benchmark is not None else None,
    }
    rater.metadata = {**meta, "training_data": training}
    if no_score:
        x0, _ = percepiano_table(
            data_root, with_scores=False, jobs=jobs, cache=cache, progress=progress
        )
        if held:
            x0 = x0.loc[[i not in held for i in x0.index]]
        rater.no_score = SymbolicRater(**rater_kwargs).fit(
            x0[performance_only_columns(x0.columns)],
            y.loc[x0.index],
            progress="no-score fallback" if progress else False,
        )
        no_score_training = {**training, "scores": "none (performance-only features)"}
        if holdout is not None:
            no_score_training["n_segments"] = len(x0)
            no_score_training["holdout"] = {
                **training["holdout"],
                "training_ids_sha256": ids_sha256(x0.index),
            }
        rater.no_score.metadata = {
            **meta,
            "model_id": f"{meta['model_id']}-no-score",
            "training_data": no_score_training,
        }
    rater.save(out_dir)
    return rater


def ids_sha256(ids: Iterable[str]) -> str:
    """SHA-256 (hex) of the sorted segment ids joined by newlines."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def holdout_text(split: str, n_segments: int) -> str:
    """Say what a holdout build held out: ``performer split test (193 segments)``."""
    return f"{split} split test ({n_segments} segments)"


def _predict_frame(
    rater: SymbolicRater, ids: list[str], table: pd.DataFrame, columns: list[str]
) -> pd.DataFrame:
    import pandas as pd

    if not ids:
        return pd.DataFrame(columns=rater.dims, dtype=np.float64)
    pred = rater.predict(table.loc[ids, columns])
    return pd.DataFrame(pred, index=pd.Index(ids, name="id"), columns=rater.dims)


def _spread_frames(
    rater: SymbolicRater, ids: list[str], table: pd.DataFrame, columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions and spreads (:meth:`SymbolicRater.predict_with_spread`) as frames."""
    import pandas as pd

    if not ids:
        empty = pd.DataFrame(columns=rater.dims, dtype=np.float64)
        return empty, empty.copy()
    pred, sigma = rater.predict_with_spread(table.loc[ids, columns])
    index = pd.Index(ids, name="id")
    return (
        pd.DataFrame(pred, index=index, columns=rater.dims),
        pd.DataFrame(sigma, index=index, columns=rater.dims),
    )


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
    oof_sigma, test_sigma : pandas.DataFrame or None
        With ``spread=True``: the spread of each out-of-fold prediction, and the mean
        over the fold models of each test row's spread.
    """

    oof: pd.DataFrame
    test: pd.DataFrame
    extra: dict[str, tuple[pd.DataFrame, pd.DataFrame]]
    oof_sigma: pd.DataFrame | None = None
    test_sigma: pd.DataFrame | None = None


def cross_validate(
    x: pd.DataFrame,
    y: pd.DataFrame,
    split: Split,
    *,
    extra_train: pd.DataFrame | None = None,
    also_predict: Mapping[str, pd.DataFrame] | None = None,
    progress: bool | str = False,
    spread: bool = False,
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
    progress : bool or str
        Show tqdm bars (stderr) over the folds and each fold's member models; a string
        labels them.
    spread : bool
        Also return the spread of every prediction of ``x``'s rows (``oof_sigma``,
        ``test_sigma``), as a calibration needs.
    **rater_kwargs
        Passed to :class:`SymbolicRater` (``dims`` defaults to ``y``'s columns).

    Returns
    -------
    CrossValidation
    """
    import pandas as pd
    from tqdm.auto import tqdm

    kwargs = {"dims": list(y.columns), **rater_kwargs}
    label = progress if isinstance(progress, str) else "cross-validation"
    others = dict(also_predict or {})
    have = set(x.index)
    test = [i for i in split.test if i in have]
    oof_parts: list[pd.DataFrame] = []
    test_parts: list[pd.DataFrame] = []
    oof_sig_parts: list[pd.DataFrame] = []
    test_sig_parts: list[pd.DataFrame] = []
    extra_parts: dict[str, tuple[list[pd.DataFrame], list[pd.DataFrame]]] = {
        k: ([], []) for k in others
    }
    folds = tqdm(
        range(split.n_folds), desc=f"{label}: folds", unit="fold", disable=not progress,
        file=sys.stderr,
    )  # fmt: skip
    for f in folds:
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
        members = f"{label}: fold {f + 1}/{split.n_folds} models" if progress else False
        rater = SymbolicRater(**kwargs).fit(x_tr, y_tr, progress=members)

        if spread:
            (v_pred, v_sig), (t_pred, t_sig) = (
                _spread_frames(rater, ids, x, list(x.columns)) for ids in (val, test)
            )
            oof_parts.append(v_pred)
            test_parts.append(t_pred)
            oof_sig_parts.append(v_sig)
            test_sig_parts.append(t_sig)
        else:
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
        oof_sigma=pd.concat(oof_sig_parts) if spread and oof_sig_parts else None,
        test_sigma=mean_of(test_sig_parts) if spread else None,
    )
