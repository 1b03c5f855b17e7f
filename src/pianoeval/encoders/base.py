"""The frozen-encoder contract: waveform (or MIDI) in, one pooled float32 vector out.

A *frozen encoder* turns a segment into a fixed-width embedding that a rater head learns
from; its weights never change during training, so embeddings are computed once and cached
per segment (:mod:`pianoeval.encoders.cache`). Every entry of
:data:`pianoeval.encoders.ENCODERS` that is not trainable follows :class:`FrozenEncoder`:

- ``name`` (registry key), ``dim`` (width of the pooled vector), ``sr`` (rate in Hz the
  encoder wants, or None when it takes any rate), ``version`` (changes whenever the same
  input could give a different vector: it is part of every cache key) and
  :meth:`~FrozenEncoder.settings` (the options that change the output);
- :meth:`~FrozenEncoder.embed` ``(y, sr)`` for a mono waveform, and
  :meth:`~FrozenEncoder.embed_file` ``(path, t0=None, t1=None)`` which loads the file with
  :func:`pianoeval.audio.load_audio` at ``sr``, without normalising its level.

Outputs are checked at the boundary (:func:`validate_embedding`): shape ``(dim,)``,
float32, finite; anything else raises :class:`~pianoeval.errors.SchemaError` naming the
encoder, so a broken plugin fails where it broke and not inside a training run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from pianoeval._typing import FloatArray, PathLike
from pianoeval.errors import ParameterError, SchemaError

__all__ = ["FrozenEncoder", "validate_embedding", "validate_waveform"]


def validate_waveform(y: object, sr: object, *, encoder: str) -> FloatArray:
    """Check a mono waveform and its rate; return it as float32.

    Raises
    ------
    ParameterError
        If ``sr`` is not a positive integer or ``y`` is not a non-empty, finite, 1-D array.

    Examples
    --------
    >>> validate_waveform([0.0, 0.5], 22050, encoder="x").dtype
    dtype('float32')
    """
    if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr <= 0:
        raise ParameterError(
            f"encoder {encoder!r}: sr must be a positive integer in Hz, got {sr!r}"
        )
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.size == 0:
        raise ParameterError(
            f"encoder {encoder!r}: y must be a non-empty mono waveform of shape (n_samples,), "
            f"got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise ParameterError(f"encoder {encoder!r}: y must hold numbers, got dtype {arr.dtype}")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(out).all():
        raise ParameterError(f"encoder {encoder!r}: y holds non-finite samples (NaN or inf)")
    return out


def validate_embedding(x: object, *, encoder: str, dim: int) -> FloatArray:
    """Check what an encoder returned: shape ``(dim,)``, float32, finite.

    Parameters
    ----------
    x : object
        The encoder's output.
    encoder : str
        Its name, for the message.
    dim : int
        The width it declares.

    Returns
    -------
    np.ndarray [float32], shape=(dim,)

    Raises
    ------
    SchemaError
        If ``x`` is not a float32 array of shape ``(dim,)`` with finite values.

    Examples
    --------
    >>> validate_embedding(np.zeros(3, dtype=np.float32), encoder="x", dim=3).shape
    (3,)
    >>> validate_embedding(np.zeros(2, dtype=np.float32), encoder="x", dim=3)
    Traceback (most recent call last):
    ...
    pianoeval.errors.SchemaError: encoder 'x' returned shape (2,), declared (3,)
    """
    if not isinstance(x, np.ndarray):
        raise SchemaError(f"encoder {encoder!r} returned {type(x).__name__}, not a numpy array")
    if x.shape != (dim,):
        raise SchemaError(f"encoder {encoder!r} returned shape {x.shape}, declared ({dim},)")
    if x.dtype != np.float32:
        raise SchemaError(f"encoder {encoder!r} returned dtype {x.dtype}, not float32")
    bad = ~np.isfinite(x)
    if bad.any():
        raise SchemaError(
            f"encoder {encoder!r} returned {int(bad.sum())} non-finite values "
            f"(first at index {int(np.flatnonzero(bad)[0])})"
        )
    return x


class FrozenEncoder(ABC):
    """A pretrained encoder whose output is cached: one pooled vector per segment.

    Subclasses set :attr:`name`, :attr:`dim`, :attr:`sr`, :attr:`version` (as class or
    instance attributes), implement :meth:`_embed` and, when options change the output,
    :meth:`settings`.

    Attributes
    ----------
    name : str
        Registry key (``"mert"``).
    dim : int
        Width of the pooled vector.
    sr : int or None
        Sampling rate in Hz the encoder works at (:meth:`embed` resamples to it); None
        when any rate is accepted as is.
    version : str
        Identifies the code and weights; part of every cache key.
    """

    name: str
    dim: int
    sr: int | None
    version: str

    def settings(self) -> dict[str, Any]:
        """Return the JSON-serialisable options that change the output (part of cache keys)."""
        return {}

    @abstractmethod
    def _embed(self, y: FloatArray, sr: int) -> FloatArray:
        """Embed a checked mono waveform already at :attr:`sr` (any rate when it is None)."""

    def embed(self, y: FloatArray | np.ndarray[Any, Any], sr: int) -> FloatArray:
        """Embed a mono waveform.

        Parameters
        ----------
        y : np.ndarray [float], shape=(n_samples,)
            Mono waveform in full-scale units, not normalised.
        sr : int
            Its rate in Hz; resampled to :attr:`sr` when that is set and differs.

        Returns
        -------
        np.ndarray [float32], shape=(dim,)

        Raises
        ------
        ParameterError
            If ``y`` or ``sr`` is unusable.
        SchemaError
            If the encoder's output breaks the contract.
        """
        from pianoeval.audio import resample

        y32 = validate_waveform(y, sr, encoder=self.name)
        if self.sr is not None and int(sr) != self.sr:
            y32, sr = resample(y32, int(sr), self.sr), self.sr
        return validate_embedding(self._embed(y32, int(sr)), encoder=self.name, dim=self.dim)

    def embed_file(
        self, path: PathLike, *, t0: float | None = None, t1: float | None = None
    ) -> FloatArray:
        """Embed an audio file, or its span ``[t0, t1]`` in seconds.

        The file is read with :func:`pianoeval.audio.load_audio` at :attr:`sr` (its own
        rate when None), mono, level untouched.

        Raises
        ------
        AudioError
            If the file or span cannot be read (silent audio is accepted).
        """
        from pianoeval.audio import load_audio

        y, sr = load_audio(path, sr=self.sr, t0=t0, t1=t1, silence_dbfs=None)
        return self.embed(y, sr)

    def describe(self) -> dict[str, Any]:
        """Return name, dim, sr, version and settings (what an embeddings file records)."""
        return {
            "encoder": self.name,
            "dim": int(self.dim),
            "sr": self.sr,
            "version": self.version,
            "settings": self.settings(),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, sr={self.sr})"
