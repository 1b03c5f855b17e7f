"""Training: the symbolic rater's fitting and cross-validation (neural training comes next).

Training code knows the datasets (:mod:`pianoeval.data`) and the models
(:mod:`pianoeval.model`); the rater unit that serves ratings imports neither.
"""

from pianoeval.train.symbolic import CrossValidation, cross_validate, train_default_rater

__all__ = ["CrossValidation", "cross_validate", "train_default_rater"]
