"""Active learning: which unlabelled segments to send to the labelers next.

:mod:`~pianoeval.active.scoring` turns a rater's spread and its disagreement with the
calibrated pseudo-labels into acquisition scores (strategies ``mixed``, ``uncertainty``,
``disagreement``, ``random``); :mod:`~pianoeval.active.pseudo` refits the pseudo-labels
behind ``disagreement`` on the labels bought so far; :mod:`~pianoeval.active.select` picks
a batch balanced across datasets and dimensions, skipping near-duplicates.
``pianoeval select`` writes the batch as a queue manifest (docs/active-learning.md).
"""

from __future__ import annotations

from pianoeval.active.pseudo import (
    ProxyChoice,
    apply_proxy_choices,
    fit_proxy_choices,
    spearman_fisher_ci,
)
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
    "ProxyChoice",
    "QueueItem",
    "acquisition_scores",
    "apply_proxy_choices",
    "disagreement_scores",
    "fit_proxy_choices",
    "near_duplicate_key",
    "pseudo_matrix",
    "rank_normalise",
    "select_batch",
    "spearman_fisher_ci",
    "uncertainty_scores",
]
