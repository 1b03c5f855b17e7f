"""Raters: models that score a performance on perceptual dimensions.

The first rater (:mod:`pianoeval.rater.symbolic`) maps symbolic performance features
(:mod:`pianoeval.symbolic.features`) to the 19 PercePiano dimensions with, per dimension,
a weighted mean of two LightGBM models and a ridge regression. :func:`default_rater`
loads the one shipped with the package.

Examples
--------
>>> from pianoeval.examples import example_midi_path, example_score_path
>>> rater = default_rater()
>>> scores = rater.predict_dict(example_midi_path(), score=example_score_path())
>>> len(scores), all(1 / 7 <= v <= 1 for v in scores.values())
(19, True)
"""

from __future__ import annotations

from pianoeval.rater.symbolic import (
    DEFAULT_DIR,
    CrossValidation,
    SymbolicRater,
    cross_validate,
    default_rater,
    percepiano_scores,
    percepiano_table,
    performance_only_columns,
    quantile_normal,
    rater_features,
    rater_inputs,
    rater_table,
    score_deltas,
    train_default_rater,
)

__all__ = [
    "DEFAULT_DIR",
    "CrossValidation",
    "SymbolicRater",
    "cross_validate",
    "default_rater",
    "percepiano_scores",
    "percepiano_table",
    "performance_only_columns",
    "quantile_normal",
    "rater_features",
    "rater_inputs",
    "rater_table",
    "score_deltas",
    "train_default_rater",
]
