"""The PercePiano rater table: rater inputs and released labels of the labelled segments.

Each performance is aligned to its excerpt's score from the one PercePiano score lookup
(:func:`pianoeval.data.percepiano.percepiano_score_paths`, the ``Score`` rendition in
``midi/`` by default: what every committed figure used).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from pianoeval._typing import PathLike

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["percepiano_table"]


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

    from pianoeval.data.percepiano import (
        DATASET,
        load_released_labels,
        parse_name,
        percepiano_midi_paths,
        percepiano_score_paths,
    )
    from pianoeval.data.root import find_data_root
    from pianoeval.dims import get_taxonomy
    from pianoeval.symbolic.rater_inputs import rater_inputs

    root = find_data_root(data_root, dataset=DATASET)
    means, _ = load_released_labels(root)
    midis = percepiano_midi_paths(root)
    ids = sorted(k for k in (means if ids is None else ids) if k in midis and k in means)
    scores = percepiano_score_paths(root)
    perf_paths = [midis[i] for i in ids]
    score_paths = [scores.get(parse_name(i).excerpt) for i in ids] if with_scores else None
    x = rater_inputs(perf_paths, score_paths, ids=ids, jobs=jobs, cache=cache, progress=progress)
    y = pd.DataFrame(
        np.stack([means[i] for i in ids]),
        index=x.index,
        columns=list(get_taxonomy("percepiano19").names),
    )
    return x, y
