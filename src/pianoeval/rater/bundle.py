"""The shipped rater: where it lives and how it is loaded.

A rater bundle is a directory written by :meth:`pianoeval.model.symbolic.SymbolicRater.save`
(``rater.json`` with dimensions, feature columns, training data, licences and benchmark
figures, checksummed model files; nothing pickled), an audio rater bundle written by
:meth:`pianoeval.model.audio.AudioRater.save`, or a neural bundle written by
:func:`pianoeval.rater.neural_bundle.save_neural_rater`; :func:`load_rater` reads each.
The default one ships inside the package and is rebuilt with ``pianoeval rater build``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TypeAlias

from pianoeval.errors import SchemaError
from pianoeval.model.audio import AudioRater, is_audio_bundle
from pianoeval.model.symbolic import SymbolicRater
from pianoeval.rater.neural_bundle import NeuralRater, is_neural_bundle, load_neural_rater

__all__ = ["DEFAULT_DIR", "AnyRater", "default_rater", "load_rater"]

#: What :func:`load_rater` returns: a symbolic, audio or neural rater.
AnyRater: TypeAlias = SymbolicRater | AudioRater | NeuralRater

#: The shipped rater's bundle.
DEFAULT_DIR = Path(__file__).resolve().parent / "weights" / "symbolic_v1"


def load_rater(path: Path | str) -> AnyRater:
    """Load a rater bundle (checksums verified), whichever kind it is.

    An audio bundle (``audio_rater.json``) is read by :meth:`AudioRater.load`, a neural
    bundle (:func:`~pianoeval.rater.neural_bundle.is_neural_bundle`) by
    :func:`~pianoeval.rater.neural_bundle.load_neural_rater`; anything else by
    :meth:`SymbolicRater.load`.
    """
    if is_audio_bundle(path):
        return AudioRater.load(path)
    if is_neural_bundle(path):
        return load_neural_rater(path)
    return SymbolicRater.load(path)


@lru_cache(maxsize=1)
def _default() -> SymbolicRater:
    if not (DEFAULT_DIR / "rater.json").is_file():
        raise SchemaError(
            f"the default rater is missing from {DEFAULT_DIR}; rebuild it with "
            "`pianoeval rater build` (pianoeval.train.train_default_rater)"
        )
    return SymbolicRater.load(DEFAULT_DIR)


def default_rater() -> SymbolicRater:
    """Return the rater shipped with pianoeval (``pianoeval/rater/weights/symbolic_v1``).

    Loaded once per process (about a second) and shared: do not modify it.

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path, example_score_path
    >>> scores = default_rater().predict(example_midi_path(), score=example_score_path())
    >>> scores.shape
    (19,)
    """
    return _default()
