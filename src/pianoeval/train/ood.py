"""Fitting a rater's out-of-distribution models on the inputs it was trained on.

:func:`fit_symbolic_ood` fits :class:`~pianoeval.calibration.OODModel` on the MIDI
rater's training inputs (the PercePiano table with scores, in the rater's feature columns,
and the performance-only table for its fallback); :func:`fit_audio_ood` on the audio
rater's (the transcription features of the audio corpus renders it learned from, with
velocities as it reads them, plus transkun's pooled context: see docs/calibration.md, "Out
of distribution", for why the context is added). Rows are grouped by PercePiano excerpt
for the out-of-fold threshold. ``holdout`` leaves a split's test segments out, so they can
judge the flagged fraction (``benchmarks/ood.py``); the models stored in a bundle use every
training row, as the rater did.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pianoeval._typing import PathLike
from pianoeval.calibration.ood import (
    DEFAULT_COMPONENTS,
    DEFAULT_QUANTILE,
    OODModel,
)
from pianoeval.errors import ParameterError, SchemaError

if TYPE_CHECKING:
    import pandas as pd

    from pianoeval.model.audio import AudioRater
    from pianoeval.model.symbolic import SymbolicRater

__all__ = [
    "AUDIO_OOD_CONDITIONS",
    "AUDIO_OOD_ENCODERS",
    "OOD_GROUPS",
    "OODFit",
    "audio_ood_columns",
    "fit_audio_ood",
    "fit_symbolic_ood",
    "ood_training_tables",
    "store_audio_ood",
]

#: Grouping of the out-of-fold threshold (a passage never scores itself).
OOD_GROUPS = "excerpt"
#: The renderers the shipped audio rater learned from.
AUDIO_OOD_CONDITIONS = ("fluidr3_gm", "musescore_general")
#: Pooled vectors the audio OOD models read besides the rater's inputs.
AUDIO_OOD_ENCODERS = ("transkun",)


@dataclass
class OODFit:
    """The OOD models of a rater's two parts (with score, and its no-score fallback)."""

    with_score: OODModel
    no_score: OODModel | None

    def attach(self, rater: SymbolicRater) -> None:
        """Set ``rater.ood`` (and ``rater.no_score.ood``)."""
        rater.ood = self.with_score
        if rater.no_score is not None:
            rater.no_score.ood = self.no_score

    def summary(self) -> dict[str, Any]:
        """Thresholds and training rows of each part, JSON-ready."""
        out: dict[str, Any] = {}
        for name, m in (("with_score", self.with_score), ("no_score", self.no_score)):
            if m is None:
                continue
            out[name] = {
                "threshold_distance": round(m.threshold, 4),
                "quantile": m.quantile,
                "n_rows": m.n_rows,
                "n_groups": m.n_groups,
                "n_columns": len(m.columns),
                "n_components": len(m.eigenvalues),
                "oof_quantiles": {k: round(v, 4) for k, v in m.oof_quantiles.items()},
            }
        return out


def _groups(ids: Sequence[str]) -> np.ndarray:
    from pianoeval.data.splits import group_of

    return np.array([group_of(str(i), OOD_GROUPS) for i in ids])


def _drop(x: pd.DataFrame, holdout: str | None) -> pd.DataFrame:
    if holdout is None:
        return x
    from pianoeval.data.splits import load_split

    test = set(load_split(holdout).test)
    return x.loc[[str(i) not in test for i in x.index]]


def _fit(
    x: pd.DataFrame,
    columns: list[str],
    *,
    info: dict[str, Any],
    n_components: int | None,
    quantile: float,
) -> OODModel:
    missing = [c for c in columns if c not in x.columns]
    if missing:
        raise ParameterError(
            f"the table lacks {len(missing)} of the OOD columns (e.g. {missing[:3]})"
        )
    return OODModel.fit(
        x[columns],
        groups=_groups(list(x.index)),
        n_components=n_components,
        quantile=quantile,
        info={**info, "groups": OOD_GROUPS, "created": dt.date.today().isoformat()},
    )


def fit_symbolic_ood(
    rater: SymbolicRater,
    data_root: PathLike,
    *,
    holdout: str | None = None,
    n_components: int | None = DEFAULT_COMPONENTS,
    quantile: float = DEFAULT_QUANTILE,
    jobs: int | None = 2,
    progress: bool = False,
) -> OODFit:
    """Fit the MIDI rater's OOD models on the PercePiano table (its training inputs).

    Parameters
    ----------
    rater : SymbolicRater
        Only its feature columns (and its fallback's) are used.
    data_root : path-like
        The data root holding ``percepiano/``.
    holdout : {"excerpt", "performer"} or None
        Leave that split's test segments out (to judge the flagged fraction on them).
    n_components, quantile
        As in :meth:`OODModel.fit`.
    jobs, progress
        Feature computation (cached).

    Returns
    -------
    OODFit
    """
    from pianoeval.data.percepiano_table import percepiano_table
    from pianoeval.symbolic.rater_inputs import performance_only_columns

    x, _ = percepiano_table(data_root, jobs=jobs, progress=progress)
    x = _drop(x, holdout)
    info = {"rows": "PercePiano segments, performance MIDI", "holdout": holdout}
    with_score = _fit(
        x, rater.feature_columns, info={**info, "part": "with score"},
        n_components=n_components, quantile=quantile,
    )  # fmt: skip
    no_score = None
    if rater.no_score is not None:
        x0, _ = percepiano_table(data_root, with_scores=False, jobs=jobs, progress=progress)
        x0 = _drop(x0[performance_only_columns(x0.columns)], holdout)
        no_score = _fit(
            x0, rater.no_score.feature_columns, info={**info, "part": "no score"},
            n_components=n_components, quantile=quantile,
        )  # fmt: skip
    return OODFit(with_score, no_score)


def ood_training_tables(
    audio_rater: AudioRater,
    data_root: PathLike,
    conditions: Sequence[str],
    *,
    jobs: int | None = 2,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the audio rater's inputs (with score, without) over ``conditions``.

    Velocities as the rater reads them (its ``velocity`` mode); rows stacked over the
    conditions, indexed by segment id (an id once per condition).
    """
    import pandas as pd

    from pianoeval.symbolic.rater_inputs import performance_only_columns
    from pianoeval.train.audio import audio_training_tables

    kw: dict[str, Any] = {"velocity": audio_rater.velocity, "jobs": jobs, "progress": progress}
    # one condition per call (what the calibration reads too), stacked
    xs = pd.concat([audio_training_tables(data_root, [c], with_scores=True, **kw)[0]
                    for c in conditions])  # fmt: skip
    x0 = pd.concat([audio_training_tables(data_root, [c], with_scores=False, **kw)[0]
                    for c in conditions])  # fmt: skip
    emb = [c for c in x0.columns if str(c).startswith("emb.")]
    return xs, x0[[*performance_only_columns(x0.columns), *emb]]


def audio_ood_columns(
    rater: SymbolicRater, table: pd.DataFrame, encoders: Sequence[str]
) -> list[str]:
    """Return the rater's feature columns and the pooled vectors of ``encoders``."""
    emb = [c for e in encoders for c in table.columns if str(c).startswith(f"emb.{e}.")]
    return [*rater.feature_columns, *(c for c in emb if c not in rater.feature_columns)]


def fit_audio_ood(
    audio_rater: AudioRater,
    data_root: PathLike,
    conditions: Sequence[str] = AUDIO_OOD_CONDITIONS,
    *,
    holdout: str | None = None,
    encoders: Sequence[str] = AUDIO_OOD_ENCODERS,
    n_components: int | None = DEFAULT_COMPONENTS,
    quantile: float = DEFAULT_QUANTILE,
    jobs: int | None = 2,
    progress: bool = False,
) -> OODFit:
    """Fit the audio rater's OOD models on the audio corpus renders it learned from.

    The input space is the inner rater's feature columns (the transcription's features
    with velocities as the rater reads them; projected pooled vectors are not used) plus
    the raw pooled vectors of ``encoders`` (default transkun's context, which the rater
    gets at evaluate time anyway).

    Parameters
    ----------
    audio_rater : AudioRater
        Only its columns and velocity mode are used.
    data_root : path-like
    conditions : sequence of str
        Audio corpus conditions of the training rows (default: the shipped rater's).
    holdout, n_components, quantile, jobs, progress
        As in :func:`fit_symbolic_ood`.
    encoders : sequence of str
        Pooled vectors added to the input space (empty: the rater's inputs only).

    Returns
    -------
    OODFit
    """
    inner = audio_rater.rater
    if inner is None or inner.no_score is None:
        raise ParameterError("the audio rater must be fitted, with its no-score fallback")
    if audio_rater.projections:
        raise ParameterError(
            "OOD models read the rater's inputs before projection; a rater with projected "
            "pooled vectors is not supported yet"
        )
    xs, x0 = ood_training_tables(audio_rater, data_root, conditions, jobs=jobs, progress=progress)
    xs, x0 = _drop(xs, holdout), _drop(x0, holdout)
    info = {
        "rows": "audio corpus: transkun transcriptions of rendered PercePiano segments",
        "conditions": list(conditions),
        "velocity": audio_rater.velocity,
        "encoders": list(encoders),
        "holdout": holdout,
    }
    with_score = _fit(
        xs, audio_ood_columns(inner, xs, encoders), info={**info, "part": "with score"},
        n_components=n_components, quantile=quantile,
    )  # fmt: skip
    no_score = _fit(
        x0, audio_ood_columns(inner.no_score, x0, encoders), info={**info, "part": "no score"},
        n_components=n_components, quantile=quantile,
    )  # fmt: skip
    return OODFit(with_score, no_score)


def store_audio_ood(audio_rater: AudioRater, path: PathLike) -> Path:
    """Write the inner rater's OOD models into the saved audio bundle ``path``.

    Writes ``model/ood.json`` (and the fallback's) through
    :meth:`~pianoeval.model.symbolic.SymbolicRater.write_ood` and updates the checksum of
    ``model/rater.json`` in ``audio_rater.json``; the models are not rewritten.
    """
    from pianoeval.model.audio import BUNDLE_FILE

    if audio_rater.rater is None:
        raise ParameterError("the audio rater is not fitted: call fit() or load()")
    base = Path(path)
    try:
        record = json.loads((base / BUNDLE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(f"{base}: no {BUNDLE_FILE} (not an audio rater bundle)") from None
    audio_rater.rater.write_ood(base / "model")
    inner = (base / "model" / "rater.json").read_bytes()
    record["model_sha256"] = hashlib.sha256(inner).hexdigest()
    (base / BUNDLE_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return base
