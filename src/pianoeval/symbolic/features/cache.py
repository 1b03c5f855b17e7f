"""The feature cache: one JSON file per (performance content, score content, feature code).

Features are a pure function of the performance MIDI's bytes, the score MIDI's bytes (if
any), the families asked for and their versions (:data:`FEATURE_VERSION` plus each
family's ``version``). The key is the SHA-256 of all of them, so moving or renaming a file
still hits, and changing a family's code (with its version bumped) misses. Entries live in
``<root>/<key[:2]>/<key>.json`` and are written to a temporary name and renamed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pianoeval._cache import CACHE_ENV_VAR, ContentStore, cache_dir, content_key, file_sha256
from pianoeval._typing import PathLike
from pianoeval.symbolic.features.base import ScoreNotes
from pianoeval.symbolic.midi import PerformanceMidi

#: Bump when the shared machinery (context, alignment) changes the output of every family.
FEATURE_VERSION = "pianoeval-features/1"
SCHEMA_VERSION = 1
__all__ = [
    "CACHE_ENV_VAR",
    "FEATURE_VERSION",
    "FeatureCache",
    "content_sha256",
    "default_cache_dir",
    "feature_key",
]


def default_cache_dir() -> Path:
    """Return ``$PIANOEVAL_CACHE/features``, else ``~/.cache/pianoeval/features``.

    Examples
    --------
    >>> default_cache_dir().name
    'features'
    """
    return cache_dir("features")


def content_sha256(x: PerformanceMidi | ScoreNotes | PathLike) -> str:
    """Digest of a MIDI file's bytes, or of a loaded performance's (or score's) arrays.

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path
    >>> len(content_sha256(example_midi_path()))
    64
    """
    if not isinstance(x, ScoreNotes | PerformanceMidi):
        return file_sha256(x)
    h = hashlib.sha256()
    if isinstance(x, ScoreNotes):
        h.update(b"score")
        for a in (x.onset, x.offset, x.pitch, x.velocity, x.beats_sec, x.downbeats_sec):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(repr(x.beats_per_bar).encode())
    elif isinstance(x, PerformanceMidi):
        h.update(b"arrays")
        for arr in (x.notes, x.sustain, x.sostenuto, x.soft):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update(repr(x.end_sec).encode())
        # the score grid is read from the file behind a loaded score, so its path counts
        h.update(x.path.encode())
    return h.hexdigest()


def feature_key(
    perf_sha256: str, score_sha256: str | None, family_versions: Sequence[tuple[str, int]]
) -> str:
    """Cache key of one feature computation (64 hex digits).

    Examples
    --------
    >>> k1 = feature_key("a", None, [("timing", 1)])
    >>> len(k1), k1 == feature_key("a", None, [("timing", 2)])
    (64, False)
    """
    return content_key(
        {
            "version": FEATURE_VERSION,
            "perf": perf_sha256,
            "score": score_sha256,
            "families": [list(fv) for fv in family_versions],
        }
    )


class FeatureCache(ContentStore):
    """Feature dictionaries stored by key under one folder.

    Parameters
    ----------
    root : path-like
        The cache folder (created on first write).

    Examples
    --------
    >>> import tempfile
    >>> cache = FeatureCache(tempfile.mkdtemp())
    >>> cache.get("0" * 64) is None
    True
    >>> cache.put("0" * 64, {"timing.drift": 0.5})
    >>> cache.get("0" * 64)
    {'timing.drift': 0.5}
    """

    def path(self, key: str) -> Path:
        """Where the entry of ``key`` is (or would be) stored."""
        return self.entry(key, ".json")

    def get(self, key: str) -> dict[str, float] | None:
        """Return the cached features of ``key``, or None."""
        record = self.read_json(key)
        if record is None or record.get("schema_version") != SCHEMA_VERSION:
            return None
        feats = record.get("features")
        if not isinstance(feats, dict):
            return None
        return {str(k): float(v) for k, v in feats.items()}

    def put(self, key: str, features: dict[str, float]) -> None:
        """Store ``features`` under ``key`` (atomically)."""
        record = {
            "schema_version": SCHEMA_VERSION,
            "feature_version": FEATURE_VERSION,
            "key": key,
            "features": features,
        }
        self.write_json(key, record)
