"""Rater inputs of the audio corpus: features of each transcription plus pooled audio vectors.

:func:`audio_table` is to audio what :func:`pianoeval.data.percepiano_table.percepiano_table`
is to MIDI: one row per labelled PercePiano segment, indexed by segment id, for one
condition of the audio corpus (:mod:`pianoeval.data.audio_corpus`). The symbolic columns
are computed from transkun's transcription of the rendered audio (never from the true
MIDI); the ``emb.<encoder>.<i>`` columns hold the pooled vectors the same transkun pass
and the fixed-reference mel gave.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pianoeval._typing import PathLike
from pianoeval.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

    from pianoeval.data.audio_corpus import CorpusCondition

__all__ = ["EMBEDDING_ENCODERS", "audio_table", "embedding_columns", "embedding_frame"]

#: The pooled vectors an audio corpus condition carries.
EMBEDDING_ENCODERS = ("transkun", "mel_stats")


def embedding_columns(encoder: str, dim: int) -> list[str]:
    """Column names of an encoder's pooled vector: ``emb.<encoder>.000`` ..."""
    return [f"emb.{encoder}.{i:03d}" for i in range(dim)]


def embedding_frame(vectors: np.ndarray, encoder: str, ids: Sequence[str]) -> pd.DataFrame:
    """Pooled vectors as a DataFrame with :func:`embedding_columns`, indexed by ``ids``."""
    import pandas as pd

    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != len(ids):
        raise ParameterError(f"{encoder}: expected ({len(ids)}, dim) vectors, got {arr.shape}")
    return pd.DataFrame(
        arr, index=pd.Index(list(ids), name="id"), columns=embedding_columns(encoder, arr.shape[1])
    )


def audio_table(
    data_root: PathLike,
    corpus: CorpusCondition,
    *,
    with_scores: bool = False,
    encoders: Sequence[str] = EMBEDDING_ENCODERS,
    velocity: str = "raw",
    midi_dir: PathLike | None = None,
    jobs: int | None = 2,
    cache: bool | PathLike = True,
    progress: bool = False,
) -> pd.DataFrame:
    """Rater inputs of one audio corpus condition.

    Parameters
    ----------
    data_root : path-like
        The data root holding ``percepiano/`` (for the scores).
    corpus : CorpusCondition
        A condition read with :func:`pianoeval.data.audio_corpus.load_condition`.
    with_scores : bool
        Align each transcription to its excerpt's score (score-relative features and score
        deltas); False keeps the performance-only columns (what a user without a score gets).
    encoders : sequence of str
        Which pooled vectors to add as ``emb.<encoder>.<i>`` columns (empty: none).
    velocity : {"raw", "z"}
        "z": features of the transcriptions with their velocities standardised per
        performance (:func:`pianoeval.symbolic.midi.normalise_velocities`), as an audio
        rater built with ``velocity="z"`` sees them.
    midi_dir : path-like, optional
        Where the transcriptions are written for the feature code (default: the cache).
    jobs, cache, progress
        As in :func:`~pianoeval.symbolic.features.features_table`.

    Returns
    -------
    pandas.DataFrame
        Indexed by segment id (the corpus's ids, sorted).
    """
    import pandas as pd

    from pianoeval._cache import cache_root
    from pianoeval.data.percepiano import parse_name, percepiano_score_paths
    from pianoeval.model.audio import VELOCITY_MODES
    from pianoeval.symbolic.midi import PerformanceMidi, load_midi, normalise_velocities
    from pianoeval.symbolic.rater_inputs import performance_only_columns, rater_inputs

    if velocity not in VELOCITY_MODES:
        raise ParameterError(f"velocity must be one of {VELOCITY_MODES}, not {velocity!r}")
    unknown = [e for e in encoders if e not in EMBEDDING_ENCODERS]
    if unknown:
        raise ParameterError(f"unknown corpus encoders {unknown}; known: {EMBEDDING_ENCODERS}")
    folder = Path(midi_dir) if midi_dir is not None else cache_root() / "audio_corpus_midi"
    paths = corpus.write_midi(folder / corpus.name)
    ids = list(corpus.ids)
    scores: list[PathLike | None] | None = None
    if with_scores:
        by_excerpt = percepiano_score_paths(data_root)
        scores = [by_excerpt.get(parse_name(i).excerpt) for i in ids]
    perfs: list[PerformanceMidi | Path] = [paths[i] for i in ids]
    if velocity == "z":
        perfs = [normalise_velocities(load_midi(paths[i], require_notes=False)) for i in ids]
    x = rater_inputs(perfs, scores, ids=ids, jobs=jobs, cache=cache, progress=progress)
    if not with_scores:
        x = x[performance_only_columns(x.columns)]
    parts = [x]
    for enc in encoders:
        parts.append(embedding_frame(getattr(corpus, enc), enc, ids))
    out = pd.concat(parts, axis=1)
    out.index.name = "id"
    return out
