"""Content-addressed on-disk stores, shared by the render, transcription and feature caches.

Each of those caches keeps the result of a pure function under the SHA-256 of everything
that determines it (input bytes, settings, code versions: :func:`content_key`), so a moved
or renamed input still hits and any change misses. Entries live in
``<root>/<key[:2]>/<key><suffix>``; every file is written to a temporary name beside it and
renamed (:func:`replace_atomically`), metadata last, so an interrupted run never leaves an
entry that looks complete. The roots are ``$PIANOEVAL_CACHE/<kind>``, else
``~/.cache/pianoeval/<kind>`` (:func:`cache_dir`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pianoeval._typing import PathLike

__all__ = [
    "CACHE_ENV_VAR",
    "ContentStore",
    "cache_dir",
    "content_key",
    "file_sha256",
    "replace_atomically",
]

#: The environment variable naming the folder that holds every pianoeval cache.
CACHE_ENV_VAR = "PIANOEVAL_CACHE"


def cache_dir(kind: str) -> Path:
    """Return ``$PIANOEVAL_CACHE/<kind>`` when that is set, else ``~/.cache/pianoeval/<kind>``.

    Examples
    --------
    >>> cache_dir("render").name
    'render'
    """
    root = os.environ.get(CACHE_ENV_VAR)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "pianoeval"
    return base / kind


def file_sha256(path: PathLike) -> str:
    """Return the SHA-256 of a file's bytes (64 hex digits), read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def content_key(payload: Mapping[str, Any]) -> str:
    """Return the SHA-256 of a JSON-serialisable mapping, independent of key order.

    Examples
    --------
    >>> content_key({"a": 1, "b": [2]}) == content_key({"b": [2], "a": 1})
    True
    >>> len(content_key({}))
    64
    """
    text = json.dumps(dict(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@contextlib.contextmanager
def replace_atomically(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` that replaces it if the block succeeds.

    The temporary file is removed when the block raises; ``target`` is then untouched.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class ContentStore:
    """Files stored by content key under one folder.

    Parameters
    ----------
    root : path-like
        The folder (created on first write).

    Examples
    --------
    >>> import tempfile
    >>> store = ContentStore(tempfile.mkdtemp())
    >>> store.read_json("ab" + "0" * 62) is None
    True
    >>> store.write_json("ab" + "0" * 62, {"x": 1})
    >>> store.read_json("ab" + "0" * 62), store.entry("ab" + "0" * 62, ".json").parent.name
    ({'x': 1}, 'ab')
    """

    def __init__(self, root: PathLike) -> None:
        self.root = Path(root)

    def entry(self, key: str, suffix: str) -> Path:
        """Return where the file of ``key`` with ``suffix`` is (or would be) stored."""
        return self.root / key[:2] / f"{key}{suffix}"

    def read_json(self, key: str, suffix: str = ".json") -> dict[str, Any] | None:
        """Return the JSON object stored for ``key``; None if missing, unreadable or no object."""
        try:
            obj = json.loads(self.entry(key, suffix).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return obj if isinstance(obj, dict) else None

    def write_json(
        self, key: str, obj: Mapping[str, Any], suffix: str = ".json", *, indent: int | None = None
    ) -> None:
        """Store a JSON object for ``key`` (atomically)."""
        target = self.entry(key, suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        with replace_atomically(target) as tmp:
            tmp.write_text(json.dumps(obj, indent=indent, sort_keys=True), encoding="utf-8")
