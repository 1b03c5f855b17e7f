"""Active learning: which unlabelled segments to send to the labelers next.

:mod:`~pianoeval.active.scoring` turns a rater's spread and its disagreement with the
calibrated pseudo-labels into acquisition scores (strategies ``mixed``, ``uncertainty``,
``disagreement``, ``random``); :mod:`~pianoeval.active.select` picks a batch balanced
across datasets and dimensions, skipping near-duplicates. ``pianoeval select`` writes the
batch as a queue manifest (docs/active-learning.md).
"""

from __future__ import annotations

from pianoeval.active.scoring import (
    DEFAULT_MIX_WEIGHT,
    STRATEGIES,
    acquisition_scores,
    disagreement_scores,
    pseudo_matrix,
    rank_normalise,
    uncertainty_scores,
)
from pianoeval.active.select import QueueItem, near_duplicate_key, select_batch

__all__ = [
    "DEFAULT_MIX_WEIGHT",
    "STRATEGIES",
    "QueueItem",
    "acquisition_scores",
    "disagreement_scores",
    "near_duplicate_key",
    "pseudo_matrix",
    "rank_normalise",
    "select_batch",
    "uncertainty_scores",
]
