"""The transcription cache: one MIDI file per (audio content, backend, settings, versions).

A transcription is a pure function of the audio file's bytes, the backend, its settings and
the code that ran (the backend wrapper's version and the backend package's version,
:meth:`TranscriptionBackend.version`, plus :data:`TRANSCRIBE_VERSION` for the code shared by
all backends). The cache key is the SHA-256 of all of them, so a renamed or moved audio file
still hits, and any change misses. Thread counts are not part of the key: they change the
speed, not the notes (beyond float round-off).

Entries are ``<root>/<key[:2]>/<key>.mid`` plus ``<key>.json`` (what made it, how long the
audio was, how long transcribing it took). Both are written to a temporary name and renamed,
the JSON last, so an interrupted run never leaves an entry that looks complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pianoeval._cache import (
    CACHE_ENV_VAR,
    ContentStore,
    cache_dir,
    content_key,
    file_sha256,
    replace_atomically,
)

__all__ = [
    "CACHE_ENV_VAR",
    "TRANSCRIBE_VERSION",
    "TranscriptionCache",
    "audio_sha256",
    "default_cache_dir",
    "transcription_key",
]

#: Bump when the code shared by all backends (MIDI writing, pedal events) changes its output.
TRANSCRIBE_VERSION = "pianoeval-transcribe/1"
#: The SHA-256 of a file's bytes (64 hex digits).
audio_sha256 = file_sha256


def default_cache_dir() -> Path:
    """Return the transcription cache folder.

    ``$PIANOEVAL_CACHE/transcribe`` when the variable is set, else
    ``~/.cache/pianoeval/transcribe`` (beside the render cache).

    Examples
    --------
    >>> default_cache_dir().name
    'transcribe'
    """
    return cache_dir("transcribe")


def transcription_key(
    *, audio_sha256: str, backend: str, backend_version: str, settings: Mapping[str, Any]
) -> str:
    """Return the cache key of a transcription: SHA-256 of everything that determines it.

    Parameters
    ----------
    audio_sha256 : str
        Digest of the audio file's bytes (:func:`audio_sha256`).
    backend : str
        Registry name of the backend.
    backend_version : str
        :meth:`TranscriptionBackend.version` (wrapper and package versions).
    settings : mapping
        The resolved, JSON-serialisable settings.

    Returns
    -------
    str
        64 hex digits.

    Examples
    --------
    >>> a = transcription_key(audio_sha256="0", backend="b", backend_version="1", settings={})
    >>> b = transcription_key(audio_sha256="0", backend="b", backend_version="2", settings={})
    >>> len(a), a == b
    (64, False)
    """
    return content_key(
        {
            "transcribe": TRANSCRIBE_VERSION,
            "audio_sha256": audio_sha256,
            "backend": backend,
            "backend_version": backend_version,
            "settings": dict(settings),
        }
    )


class TranscriptionCache(ContentStore):
    """Transcribed MIDI files stored by cache key under one folder.

    Parameters
    ----------
    root : path-like
        The cache folder (created on first write).

    Examples
    --------
    >>> import tempfile
    >>> cache = TranscriptionCache(tempfile.mkdtemp())
    >>> cache.get("0" * 64) is None
    True
    """

    def midi_path(self, key: str) -> Path:
        """Return where the MIDI file of ``key`` is (or would be) stored."""
        return self.entry(key, ".mid")

    def meta_path(self, key: str) -> Path:
        """Return where the metadata of ``key`` is (or would be) stored."""
        return self.entry(key, ".json")

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the metadata of a complete entry, or None when there is none."""
        meta = self.read_json(key)
        return meta if meta is not None and self.midi_path(key).is_file() else None

    def put(self, key: str, midi_bytes: bytes, meta: Mapping[str, Any]) -> dict[str, Any]:
        """Store a MIDI file's bytes and its metadata (``key`` added); return the metadata."""
        midi = self.midi_path(key)
        midi.parent.mkdir(parents=True, exist_ok=True)
        full = {**meta, "key": key}
        with replace_atomically(midi) as tmp:
            tmp.write_bytes(midi_bytes)
        self.write_json(key, full, indent=1)
        return full
