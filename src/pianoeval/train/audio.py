"""Training the audio rater on the audio corpus (PercePiano renders, transcribed and pooled).

:func:`audio_training_tables` stacks the rows of several corpus conditions (one row per
segment and renderer: the same performance heard through different pianos);
:func:`train_audio_rater` fits :class:`~pianoeval.model.audio.AudioRater` on them, with
its no-score fallback, and saves the bundle, optionally without a split's test segments
(``holdout``) so held-out figures can be checked with anyone's audio.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pianoeval._typing import PathLike
from pianoeval.errors import ParameterError
from pianoeval.model.audio import AUDIO_MODEL_ID, AudioRater

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CLEAN_CONDITIONS", "audio_training_tables", "holdout_ids", "train_audio_rater"]

#: The clean renderers of the corpus, in build order.
CLEAN_CONDITIONS = ("fluidr3_gm", "musescore_general", "timgm6mb", "csound_gm")


def holdout_ids(split: str | None) -> list[str]:
    """Return the test segment ids of ``split`` (excerpt or performer), sorted; [] for None."""
    if split is None:
        return []
    if split not in ("excerpt", "performer"):
        raise ParameterError(f"holdout must be 'excerpt' or 'performer', not {split!r}")
    from pianoeval.data.splits import load_split

    return sorted(load_split(split).test)


def audio_training_tables(
    data_root: PathLike,
    conditions: Sequence[str],
    *,
    with_scores: bool,
    ids: Sequence[str] | None = None,
    velocity: str = "raw",
    jobs: int | None = 2,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of every condition stacked, and their labels (repeated per condition).

    ``ids`` restricts the rows to those segments (default: every segment a condition has);
    ``velocity`` is passed to :func:`~pianoeval.data.audio_table.audio_table`.

    Returns
    -------
    x : pandas.DataFrame
        Indexed by segment id (an id appears once per condition), with a ``condition``
        level dropped: use ``y`` (same index order) for the labels.
    y : pandas.DataFrame
        The released labels of each row.
    """
    import pandas as pd

    from pianoeval.data.audio_corpus import load_condition
    from pianoeval.data.audio_table import audio_table
    from pianoeval.data.percepiano import load_released_labels
    from pianoeval.model.symbolic import percepiano19_dims

    if not conditions:
        raise ParameterError("no audio corpus conditions to train on")
    means, _ = load_released_labels(data_root)
    parts = []
    for cond in conditions:
        corpus = load_condition(cond)
        if ids is not None:
            corpus = corpus.subset(ids)
        parts.append(audio_table(data_root, corpus, with_scores=with_scores, velocity=velocity,
                                 jobs=jobs, progress=progress))  # fmt: skip
    x = pd.concat(parts)
    x = x.loc[[i in means for i in x.index]]
    y = pd.DataFrame([means[i] for i in x.index], index=x.index, columns=percepiano19_dims())
    return x, y


def train_audio_rater(
    data_root: PathLike,
    out_dir: PathLike,
    *,
    conditions: Sequence[str] = CLEAN_CONDITIONS,
    holdout: str | None = None,
    ids: Sequence[str] | None = None,
    velocity: str = "z",
    benchmark: Mapping[str, Any] | None = None,
    caution: str | None = None,
    jobs: int | None = 2,
    progress: bool = True,
    **rater_kwargs: Any,
) -> AudioRater:
    """Train the audio rater on the given corpus conditions and save its bundle.

    Parameters
    ----------
    data_root : path-like
    out_dir : path-like
        Where to save (the shipped one is :data:`pianoeval.rater.audio.AUDIO_DIR`).
    conditions : sequence of str
        Packed corpus conditions to train on (every renderer you have; each is a piano).
    holdout : {"excerpt", "performer"}, optional
        Leave that split's test segments out of training (every condition).
    ids : sequence of str, optional
        Train on these segments only (before the holdout is applied).
    velocity : {"raw", "z"}
        How transcribed velocities enter the features (:class:`AudioRater`); "z", the
        default, standardises them per performance, which held-out pianos need
        (docs/audio-rater.md).
    benchmark : mapping, optional
        Figures to record in the bundle (the benchmark passes its summary).
    caution : str, optional
        What ``analyze`` says with every rating by this rater (recorded in the bundle).
    jobs, progress
        Feature computation.
    **rater_kwargs
        Passed to :class:`AudioRater` (``projections``) and its symbolic raters
        (``n_threads`` defaults to 1 here: LightGBM's OpenMP threads spin-wait and slow
        down by an order of magnitude when the cores are busy, as during a corpus build).
    """
    from pianoeval.data.audio_corpus import get_condition
    from pianoeval.licences import combine_licences
    from pianoeval.render import get_soundfont
    from pianoeval.symbolic.rater_inputs import performance_only_columns

    held = set(holdout_ids(holdout))
    xs, ys = audio_training_tables(data_root, conditions, with_scores=True, ids=ids,
                                   velocity=velocity, jobs=jobs, progress=progress)  # fmt: skip
    x0, y0 = audio_training_tables(data_root, conditions, with_scores=False, ids=ids,
                                   velocity=velocity, jobs=jobs, progress=progress)  # fmt: skip
    keep_s = [i not in held for i in xs.index]
    keep_0 = [i not in held for i in x0.index]
    xs, ys, x0, y0 = xs.loc[keep_s], ys.loc[keep_s], x0.loc[keep_0], y0.loc[keep_0]
    x0 = x0[
        [*performance_only_columns(x0.columns), *(c for c in x0.columns if c.startswith("emb."))]
    ]
    rater = AudioRater(velocity=velocity, **{"n_threads": 1, **rater_kwargs})
    rater.fit(xs, ys, x_no_score=x0, y_no_score=y0, progress="audio rater" if progress else False)
    ids = sorted(set(xs.index))
    training: dict[str, Any] = {
        "dataset": "percepiano",
        "n_segments": len(ids),
        "n_rows": len(xs),
        "conditions": list(conditions),
        "renderers": {c: get_soundfont(get_condition(c).soundfont).description for c in conditions},
        "inputs": "transkun transcription of each render (never the true MIDI), transkun's "
        "pooled context of the same pass, fixed-reference mel statistics",
        "velocity": velocity,
        "labels": "released means (mean rating / 7)",
    }
    if holdout is not None:
        training["holdout"] = {
            "split": holdout,
            "n_segments": len(held),
            "ids_sha256": hashlib.sha256("\n".join(sorted(held)).encode()).hexdigest(),
        }
    rater.metadata = {
        "model_id": AUDIO_MODEL_ID if holdout is None else f"{AUDIO_MODEL_ID}-holdout-{holdout}",
        "created": dt.date.today().isoformat(),
        "licences": combine_licences(["MIT"]),
        "training_data": training,
        "benchmark": dict(benchmark) if benchmark is not None else None,
        **({"caution": caution} if caution else {}),
    }
    rater.save(out_dir)
    return rater
