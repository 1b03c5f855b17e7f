"""Agreement metrics between human labels (``ref_*``) and a rater's scores (``est_*``).

See :mod:`pianoeval.metrics.regression` for the definitions every benchmark uses (pooled
R2 per dimension and its mean over dimensions, MAE, Pearson, Spearman, pairwise ranking
accuracy within groups), and :mod:`pianoeval.metrics.grouped` for correlations within groups
(the within-excerpt Spearman that validates pseudo-label proxies).
"""

from __future__ import annotations

from pianoeval.metrics.grouped import GroupedCorrelation, within_group_spearman
from pianoeval.metrics.regression import (
    DEFAULT_MIN_DIFF,
    BootstrapCI,
    PairwiseResult,
    bootstrap_r2,
    mae_per_dim,
    mean_r2,
    pairwise_accuracy,
    pearson_per_dim,
    r2_per_dim,
    regression_report,
    spearman_per_dim,
    validate,
)

__all__ = [
    "DEFAULT_MIN_DIFF",
    "BootstrapCI",
    "GroupedCorrelation",
    "PairwiseResult",
    "bootstrap_r2",
    "mae_per_dim",
    "mean_r2",
    "pairwise_accuracy",
    "pearson_per_dim",
    "r2_per_dim",
    "regression_report",
    "spearman_per_dim",
    "validate",
    "within_group_spearman",
]
