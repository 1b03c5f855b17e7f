"""Rate performances: the rater bundle and the pipeline every front end calls.

:func:`evaluate` rates one performance (MIDI or audio, optionally with its score) and
returns a typed, versioned :class:`Rating`; :func:`evaluate_many` rates a batch and reports
the inputs it cannot rate. :func:`default_rater` loads the rater shipped with the package
(:class:`~pianoeval.model.symbolic.SymbolicRater`: per dimension, a blend of two LightGBM
models and a ridge regression on symbolic performance features); :func:`load_rater` loads
any bundle, symbolic or neural (:class:`NeuralRater`).

Training and cross-validation live in :mod:`pianoeval.train`; the PercePiano tables in
:mod:`pianoeval.data.percepiano_table`.

Examples
--------
>>> from pianoeval.examples import example_midi_path, example_score_path
>>> rating = evaluate(example_midi_path(), score=example_score_path())
>>> scores = rating.score_dict()
>>> len(scores), all(1 / 7 <= v <= 1 for v in scores.values())
(19, True)
"""

from __future__ import annotations

from pianoeval.model.symbolic import SymbolicRater
from pianoeval.rater.bundle import DEFAULT_DIR, AnyRater, default_rater, load_rater
from pianoeval.rater.evaluate import AUDIO_CAUTION, evaluate, evaluate_many
from pianoeval.rater.neural_bundle import NeuralRater, is_neural_bundle, load_neural_rater
from pianoeval.rater.result import (
    RESULT_SCHEMA_VERSION,
    AnalysisReport,
    DimensionScore,
    FailedInput,
    InputInfo,
    Rating,
    ScoreUse,
    SummaryItem,
)
from pianoeval.symbolic.rater_inputs import rater_features

__all__ = [
    "AUDIO_CAUTION",
    "DEFAULT_DIR",
    "RESULT_SCHEMA_VERSION",
    "AnalysisReport",
    "AnyRater",
    "DimensionScore",
    "FailedInput",
    "InputInfo",
    "NeuralRater",
    "Rating",
    "ScoreUse",
    "SummaryItem",
    "SymbolicRater",
    "default_rater",
    "evaluate",
    "evaluate_many",
    "is_neural_bundle",
    "load_neural_rater",
    "load_rater",
    "rater_features",
]
