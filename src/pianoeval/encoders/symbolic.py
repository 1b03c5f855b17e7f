"""``symbolic``: the performance features of a MIDI as a fixed-width vector.

The vector is every performance-only column of the symbolic rater's inputs
(:func:`pianoeval.symbolic.rater_inputs.rater_features` without a score, filtered by
:func:`~pianoeval.symbolic.rater_inputs.performance_only_columns`): timing, articulation,
dynamics, voicing, pedal, pace and texture, no score or delta columns. The column order
is fixed when the encoder is built (:attr:`SymbolicEncoder.columns`) and recorded in its
settings; ``version`` is the feature code's version.

Audio goes through transcription and only through it: :meth:`SymbolicEncoder.embed` and
:meth:`~SymbolicEncoder.embed_file` transcribe the audio with the encoder's backend
(default ``transkun``) and describe the MIDI so obtained. The true MIDI of a recording never
enters an audio figure; :meth:`~SymbolicEncoder.embed_midi` is for MIDI inputs.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from pianoeval._typing import FloatArray, PathLike
from pianoeval.encoders.base import FrozenEncoder, validate_embedding
from pianoeval.symbolic.midi import PerformanceMidi

__all__ = ["SymbolicEncoder", "symbolic_columns"]


def symbolic_columns() -> list[str]:
    """Return the performance-only feature columns, in the encoder's order.

    Examples
    --------
    >>> cols = symbolic_columns()
    >>> "pedal.on_frac" in cols, any(c.startswith(("delta.", "score.")) for c in cols)
    (True, False)
    """
    from pianoeval.symbolic.features import feature_columns
    from pianoeval.symbolic.rater_inputs import performance_only_columns

    return performance_only_columns(feature_columns())


class SymbolicEncoder(FrozenEncoder):
    """Performance features of a MIDI, or of the MIDI transcribed from audio.

    Parameters
    ----------
    backend : str
        Transcription backend for audio (a name in
        :data:`pianoeval.symbolic.transcribe.BACKENDS`).
    transcribe_options : mapping, optional
        Backend settings (``TranscriptionBackend.defaults``).
    cache_dir : path-like, optional
        Transcription cache for :meth:`embed_file` (default: the transcription cache).

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path
    >>> enc = SymbolicEncoder()
    >>> x = enc.embed_midi(example_midi_path())
    >>> x.shape == (enc.dim,), x.dtype
    (True, dtype('float32'))
    """

    name = "symbolic"
    sr = None

    def __init__(
        self,
        *,
        backend: str = "transkun",
        transcribe_options: dict[str, Any] | None = None,
        cache_dir: PathLike | None = None,
    ) -> None:
        from pianoeval.symbolic.features import FEATURE_VERSION
        from pianoeval.symbolic.transcribe import get_backend

        self.backend = get_backend(backend)  # ParameterError for an unknown name
        self.transcribe_options = self.backend.resolve_settings(**(transcribe_options or {}))
        self.cache_dir = cache_dir
        self.columns = symbolic_columns()
        self.dim = len(self.columns)
        self.version = f"symbolic/1+{FEATURE_VERSION}"

    def settings(self) -> dict[str, Any]:
        """Return the backend, its version and settings, and the column order."""
        installed = self.backend.installed_version()
        return {
            "backend": self.backend.name,
            "backend_version": self.backend.version() if installed else None,
            "transcribe_options": self.transcribe_options,
            "columns": self.columns,
        }

    def embed_midi(self, midi: PerformanceMidi | PathLike) -> FloatArray:
        """Embed a performance MIDI (a file or a :class:`PerformanceMidi`).

        Raises
        ------
        MidiError
            If the file cannot be read or has no notes.
        """
        from pianoeval.symbolic.rater_inputs import rater_features

        feats = rater_features(midi)
        x = np.array([feats[c] for c in self.columns], dtype=np.float32)
        return validate_embedding(x, encoder=self.name, dim=self.dim)

    def _embed_transcription(self, performance: PerformanceMidi) -> FloatArray:
        from pianoeval.errors import NotRatableError

        if performance.n_notes == 0:
            raise NotRatableError(
                performance.path, f"{self.backend.name} transcribed no notes: nothing to describe"
            )
        return self.embed_midi(performance)

    def _embed(self, y: FloatArray, sr: int) -> FloatArray:
        from pianoeval.symbolic.midi import load_midi
        from pianoeval.symbolic.transcribe import output_to_midi_bytes

        output = self.backend.transcribe_array(y, sr, **self.transcribe_options)
        fd, tmp = tempfile.mkstemp(suffix=".mid", prefix="pianoeval-symbolic-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(output_to_midi_bytes(output))
            performance = load_midi(tmp, require_notes=False)
            return self._embed_transcription(performance)
        finally:
            os.unlink(tmp)

    def embed_file(
        self, path: PathLike, *, t0: float | None = None, t1: float | None = None
    ) -> FloatArray:
        """Embed an audio file (or its span) through its cached transcription.

        The whole file is transcribed once (and cached) when no span is given; a span is
        cut first and transcribed on its own, so the vector never sees audio outside it.

        Raises
        ------
        NotRatableError
            If the transcription holds no notes.
        """
        if t0 is not None or t1 is not None:
            return super().embed_file(path, t0=t0, t1=t1)
        from pianoeval.symbolic.transcribe import transcribe

        result = transcribe(
            path, backend=self.backend.name, cache_dir=self.cache_dir, **self.transcribe_options
        )
        return self._embed_transcription(result.performance)
