"""Per-segment embedding cache and the embeddings files committed for what took hours.

Cache
-----
:class:`EmbeddingCache` keeps one entry per (audio content, span, encoder): the key is the
SHA-256 of the audio file's bytes, ``t0``/``t1``, the encoder's name, version and settings
(:func:`embedding_key`), so a renamed file still hits and any change of encoder or span
misses. An entry is ``<key>.npy`` (float32, shape ``(dim,)``) plus ``<key>.json``
(metadata with the checksums of both), written atomically through
:class:`pianoeval._cache.ContentStore`: an interrupted run leaves no half entry, and the
next run resumes where it stopped. The default folder is ``$PIANOEVAL_CACHE/embeddings``.

Files
-----
:func:`save_embeddings` / :func:`load_embeddings` write and read a compressed ``.npz``:
``embeddings`` (float32, ``[n, dim]``), ``ids`` (unicode) and ``meta`` (a JSON string:
encoder, version, settings, ids count, schema version). No pickle is written or read.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pianoeval._cache import ContentStore, cache_dir, content_key, replace_atomically
from pianoeval._typing import FloatArray, PathLike
from pianoeval.errors import FileProblemError, ParameterError

__all__ = [
    "EMBEDDINGS_SCHEMA_VERSION",
    "EMBED_CACHE_VERSION",
    "EmbeddingCache",
    "default_cache_dir",
    "embedding_key",
    "load_embeddings",
    "save_embeddings",
]

#: Bump when what an entry holds changes for the same key inputs.
EMBED_CACHE_VERSION = "pianoeval-embed/1"
#: ``schema_version`` of the embeddings files written by :func:`save_embeddings`.
EMBEDDINGS_SCHEMA_VERSION = 1


def default_cache_dir() -> Path:
    """Return ``$PIANOEVAL_CACHE/embeddings`` (else ``~/.cache/pianoeval/embeddings``).

    Examples
    --------
    >>> default_cache_dir().name
    'embeddings'
    """
    return cache_dir("embeddings")


def embedding_key(
    *,
    audio_sha256: str,
    t0: float | None,
    t1: float | None,
    encoder: str,
    version: str,
    settings: Mapping[str, Any],
) -> str:
    """Return the cache key of one segment's embedding.

    Examples
    --------
    >>> k = embedding_key(audio_sha256="0" * 64, t0=0.0, t1=2.0, encoder="mert",
    ...                   version="v", settings={"layers": [7, 8]})
    >>> k == embedding_key(audio_sha256="0" * 64, t0=0.0, t1=2.5, encoder="mert",
    ...                    version="v", settings={"layers": [7, 8]})
    False
    """
    return content_key(
        {
            "cache": EMBED_CACHE_VERSION,
            "audio_sha256": audio_sha256,
            "t0": None if t0 is None else float(t0),
            "t1": None if t1 is None else float(t1),
            "encoder": encoder,
            "version": version,
            "settings": dict(settings),
        }
    )


class EmbeddingCache(ContentStore):
    """Embeddings by key: ``<key>.npy`` and its metadata ``<key>.json``.

    Examples
    --------
    >>> import tempfile
    >>> c = EmbeddingCache(tempfile.mkdtemp())
    >>> c.put("ab" + "0" * 62, np.ones(3, dtype=np.float32), {"encoder": "x"})
    >>> c.get("ab" + "0" * 62)
    array([1., 1., 1.], dtype=float32)
    """

    def get(self, key: str) -> FloatArray | None:
        """Return the stored vector, or None on a miss (or a corrupt entry, then dropped)."""
        meta = self.read_json(key)
        if meta is None:
            return None
        try:
            arr = np.load(self.entry(key, ".npy"), allow_pickle=False)
        except (OSError, ValueError):
            self.drop(key)
            return None
        if arr.dtype != np.float32 or arr.ndim != 1 or arr.shape[0] != meta.get("dim"):
            self.drop(key)
            return None
        out: FloatArray = arr
        return out

    def put(self, key: str, vector: FloatArray, meta: Mapping[str, Any]) -> None:
        """Store ``vector`` (the ``.npy`` first, the metadata last: it marks completion)."""
        target = self.entry(key, ".npy")
        target.parent.mkdir(parents=True, exist_ok=True)
        with replace_atomically(target) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.asarray(vector, dtype=np.float32), allow_pickle=False)
        self.write_json(key, {**meta, "dim": int(vector.shape[0])})


def save_embeddings(
    path: PathLike, ids: Sequence[str], array: FloatArray, meta: Mapping[str, Any]
) -> Path:
    """Write embeddings, their ids and metadata to a compressed ``.npz`` (atomically).

    Parameters
    ----------
    path : path-like
        The file (``.npz``).
    ids : sequence of str
        One id per row (segment ids), unique.
    array : np.ndarray [float32], shape=(n, dim)
    meta : mapping
        JSON-serialisable: encoder, version, settings, the command that made them...

    Returns
    -------
    Path

    Raises
    ------
    ParameterError
        If the ids and rows differ in number, ids repeat, the array is not 2-D and finite,
        or ``meta`` does not serialise to JSON.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "e.npz")
    >>> _ = save_embeddings(p, ["a", "b"], np.eye(2, dtype=np.float32), {"encoder": "x"})
    >>> ids, x, meta = load_embeddings(p)
    >>> ids, x.shape, meta["encoder"], meta["n"]
    (['a', 'b'], (2, 2), 'x', 2)
    """
    arr = np.asarray(array)
    ids_list = [str(i) for i in ids]
    if arr.ndim != 2 or arr.shape[0] != len(ids_list):
        raise ParameterError(
            f"embeddings must have shape (n_ids, dim) = ({len(ids_list)}, dim), got {arr.shape}"
        )
    if len(set(ids_list)) != len(ids_list):
        raise ParameterError("embedding ids must be unique")
    if not np.isfinite(arr).all():
        raise ParameterError("embeddings hold non-finite values")
    record = {
        **dict(meta),
        "schema_version": EMBEDDINGS_SCHEMA_VERSION,
        "n": len(ids_list),
        "dim": int(arr.shape[1]),
    }
    try:
        meta_text = json.dumps(record, sort_keys=True)
    except (TypeError, ValueError) as e:
        raise ParameterError(f"embeddings meta must be JSON-serialisable: {e}") from None
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        embeddings=arr.astype(np.float32),
        ids=np.array(ids_list, dtype=np.str_),
        meta=np.array(meta_text, dtype=np.str_),
    )
    with replace_atomically(target) as tmp:
        tmp.write_bytes(buf.getvalue())
    return target


def load_embeddings(path: PathLike) -> tuple[list[str], FloatArray, dict[str, Any]]:
    """Read a file written by :func:`save_embeddings`.

    Returns
    -------
    ids : list of str
    embeddings : np.ndarray [float32], shape=(n, dim)
    meta : dict

    Raises
    ------
    FileProblemError
        If the file is missing, not an embeddings file, or inconsistent.
    """
    p = os.fspath(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            missing = {"embeddings", "ids", "meta"} - set(z.files)
            if missing:
                raise FileProblemError(p, f"not an embeddings file (no {sorted(missing)[0]!r})")
            arr = np.asarray(z["embeddings"], dtype=np.float32)
            ids = [str(i) for i in z["ids"].tolist()]
            meta = json.loads(str(z["meta"]))
    except FileNotFoundError:
        raise FileProblemError(p, "no such file") from None
    except (OSError, ValueError) as e:
        raise FileProblemError(p, f"cannot be read as an embeddings file ({e})") from None
    if not isinstance(meta, dict) or arr.ndim != 2 or arr.shape[0] != len(ids):
        raise FileProblemError(p, "inconsistent embeddings file (ids, rows and meta disagree)")
    return ids, arr, meta
