"""Content-addressed on-disk stores, shared by the render, transcription and feature caches.

Each of those caches keeps the result of a pure function under the SHA-256 of everything
that determines it (input bytes, settings, code versions: :func:`content_key`), so a moved
or renamed input still hits and any change misses. Entries live in
``<root>/<key[:2]>/<key><suffix>``; every file is written to a temporary name beside it and
renamed (:func:`replace_atomically`), metadata last, so an interrupted run never leaves an
entry that looks complete. The roots are ``$PIANOEVAL_CACHE/<kind>``, else
``~/.cache/pianoeval/<kind>`` (:func:`cache_dir`).

Checksums. The metadata JSON of an entry records the SHA-256 of its own content and of
every other file of the entry (``<key>.mid``, ``<key>.flac``...) under
:data:`CHECKSUMS_FIELD`. :meth:`ContentStore.read_json` verifies them: an entry whose JSON
does not decode, whose content or files do not match, or whose files are missing is
dropped with a :class:`CorruptCacheEntryWarning` and reads as a miss, so the caller
recomputes it. Entries written before checksums existed are adopted: their checksums are
computed and recorded on first read (corruption from before then is not detectable).

Folders. A cache folder that is a file, or that cannot be written, is found before any
work: :func:`check_cache_dir` (front ends call it first) and every :class:`ContentStore`
at construction raise :class:`pianoeval.errors.CacheDirError` naming the folder, and
``PIANOEVAL_CACHE`` when the folder came from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pianoeval._typing import PathLike
from pianoeval.errors import CacheDirError

__all__ = [
    "CACHE_ENV_VAR",
    "CHECKSUMS_FIELD",
    "ContentStore",
    "CorruptCacheEntryWarning",
    "cache_dir",
    "cache_root",
    "check_cache_dir",
    "content_key",
    "file_sha256",
    "replace_atomically",
]

#: The environment variable naming the folder that holds every pianoeval cache.
CACHE_ENV_VAR = "PIANOEVAL_CACHE"
#: Field of an entry's metadata JSON holding the SHA-256 of the JSON's content (key
#: ``"self"``) and of each other file of the entry (key: its suffix). Never returned.
CHECKSUMS_FIELD = "_checksums"


class CorruptCacheEntryWarning(UserWarning):
    """A cache entry failed its checksum (or did not decode) and was dropped to be rebuilt."""


def cache_root() -> Path:
    """Return the folder holding every cache: ``$PIANOEVAL_CACHE``, else ``~/.cache/pianoeval``.

    Examples
    --------
    >>> cache_root().name in ("pianoeval", __import__("os").environ.get("PIANOEVAL_CACHE", "")
    ...                       .rstrip("/").rsplit("/", 1)[-1])
    True
    """
    root = os.environ.get(CACHE_ENV_VAR)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "pianoeval"


def _origin(path: Path) -> str:
    """Say where a cache folder came from, for messages."""
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        base = Path(env).expanduser()
        if path == base or base in path.parents:
            return f"the cache folder (set by {CACHE_ENV_VAR}={env})"
    return "the cache folder"


def _check_usable(path: Path, *, write_test: bool) -> None:
    """Raise CacheDirError if ``path`` (or its nearest existing ancestor) cannot hold a cache."""
    probe = path
    while True:
        try:
            st = os.stat(probe)
            break
        except (FileNotFoundError, NotADirectoryError):  # look at the folder above
            if probe.parent == probe:
                raise CacheDirError(path, f"{_origin(path)} cannot be created") from None
            probe = probe.parent
        except OSError as exc:
            from pianoeval._paths import os_error_problem

            raise CacheDirError(path, f"{_origin(path)}: {os_error_problem(exc, probe)}") from None
    import stat

    if not stat.S_ISDIR(st.st_mode):
        where = "is a file" if probe == path else f"is inside {probe}, which is a file"
        origin = _origin(path)
        fix = f"point {CACHE_ENV_VAR} at a folder" if CACHE_ENV_VAR in origin else "give a folder"
        raise CacheDirError(path, f"{origin} {where}, not a folder; {fix}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise CacheDirError(path, f"{_origin(path)} is not writable ({probe} is read-only)")
    if not write_test:
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".write-test.", dir=path)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        from pianoeval._paths import os_error_problem

        raise CacheDirError(
            path, f"{_origin(path)} is not writable: {os_error_problem(exc, path)}"
        ) from None


def check_cache_dir(path: PathLike | None = None) -> Path:
    """Check, before any work, that a cache folder can be written; create it if needed.

    Parameters
    ----------
    path : path-like, optional
        The folder; default :func:`cache_root` (``$PIANOEVAL_CACHE`` or
        ``~/.cache/pianoeval``).

    Returns
    -------
    Path
        The folder, which now exists.

    Raises
    ------
    CacheDirError
        If it is a file (or inside one), cannot be created, or cannot be written; the
        message names the folder and ``PIANOEVAL_CACHE`` when the folder came from it.

    Examples
    --------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "not-a-folder")
    >>> _ = open(f, "w").write("x")
    >>> check_cache_dir(f)
    Traceback (most recent call last):
    ...
    pianoeval.errors.CacheDirError: ...: the cache folder is a file, not a folder; ...
    """
    folder = Path(path).expanduser() if path is not None else cache_root()
    _check_usable(folder, write_test=True)
    return folder


def cache_dir(kind: str) -> Path:
    """Return ``$PIANOEVAL_CACHE/<kind>`` when that is set, else ``~/.cache/pianoeval/<kind>``.

    Examples
    --------
    >>> cache_dir("render").name
    'render'
    """
    return cache_root() / kind


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


def _json_sha256(obj: Mapping[str, Any]) -> str:
    """SHA-256 of a metadata object's content (checksums left out), independent of layout."""
    body = {k: v for k, v in obj.items() if k != CHECKSUMS_FIELD}
    return content_key(body)


class ContentStore:
    """Files stored by content key under one folder, each entry checked by SHA-256.

    Parameters
    ----------
    root : path-like
        The folder (created on first write).

    Raises
    ------
    CacheDirError
        If ``root`` (or a folder above it) is a file, or cannot be written.

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
        _check_usable(self.root, write_test=False)

    def entry(self, key: str, suffix: str) -> Path:
        """Return where the file of ``key`` with ``suffix`` is (or would be) stored."""
        return self.root / key[:2] / f"{key}{suffix}"

    def _companions(self, key: str, suffix: str) -> list[Path]:
        """List the entry's other files: ``<key><suffix>`` beside its JSON, no temporaries."""
        folder = self.entry(key, suffix).parent
        main = self.entry(key, suffix).name
        return sorted(
            p for p in folder.glob(f"{key}.*") if p.name != main and not p.name.endswith(".tmp")
        )

    def drop(self, key: str, suffix: str = ".json") -> None:
        """Remove every file of an entry (the metadata first, so no half entry looks whole)."""
        for p in [self.entry(key, suffix), *self._companions(key, suffix)]:
            with contextlib.suppress(OSError):  # gone already, or not ours to remove
                p.unlink()

    def _corrupt(self, key: str, suffix: str, why: str) -> None:
        warnings.warn(
            f"cache entry {self.entry(key, suffix)} {why}: dropped, it will be rebuilt",
            CorruptCacheEntryWarning,
            stacklevel=4,
        )
        self.drop(key, suffix)

    def read_json(self, key: str, suffix: str = ".json") -> dict[str, Any] | None:
        """Return the JSON object stored for ``key`` after checking the entry's checksums.

        None when there is no entry; also None, with a :class:`CorruptCacheEntryWarning`,
        when the entry does not decode or fails a checksum (it is then removed, so the
        caller's recomputation replaces it). The checksum field is not returned.
        """
        path = self.entry(key, suffix)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self._corrupt(key, suffix, f"cannot be read ({type(exc).__name__}: {exc})")
            return None
        try:
            obj = json.loads(text)
        except ValueError:
            self._corrupt(key, suffix, "is not valid JSON")
            return None
        if not isinstance(obj, dict):
            self._corrupt(key, suffix, "does not hold a JSON object")
            return None
        sums = obj.pop(CHECKSUMS_FIELD, None)
        if sums is None:  # written before checksums: adopt it (a read-only cache stays as is)
            with contextlib.suppress(OSError):
                self._record_checksums(key, suffix, obj, indent=1 if "\n" in text.strip() else None)
            return obj
        if not isinstance(sums, dict) or sums.get("self") != _json_sha256(obj):
            self._corrupt(key, suffix, "fails its checksum")
            return None
        for other, digest in sums.items():
            if other == "self":
                continue
            try:
                actual = file_sha256(self.entry(key, other))
            except FileNotFoundError:
                self._corrupt(key, suffix, f"has lost its {other} file")
                return None
            except OSError as exc:
                self._corrupt(key, suffix, f"has an unreadable {other} file ({exc})")
                return None
            if actual != digest:
                self._corrupt(key, suffix, f"has a {other} file that fails its checksum")
                return None
        return obj

    def _record_checksums(
        self, key: str, suffix: str, obj: Mapping[str, Any], *, indent: int | None = None
    ) -> None:
        sums = {"self": _json_sha256(obj)}
        for p in self._companions(key, suffix):
            sums[p.name[len(key) :]] = file_sha256(p)
        target = self.entry(key, suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        record = {**obj, CHECKSUMS_FIELD: sums}
        with replace_atomically(target) as tmp:
            tmp.write_text(json.dumps(record, indent=indent, sort_keys=True), encoding="utf-8")

    def write_json(
        self, key: str, obj: Mapping[str, Any], suffix: str = ".json", *, indent: int | None = None
    ) -> None:
        """Store a JSON object for ``key`` (atomically), with the checksums of the entry.

        Write the entry's other files (``<key>.mid``...) first: their SHA-256 is recorded
        here, and the JSON, written last, marks the entry complete.
        """
        if CHECKSUMS_FIELD in obj:
            obj = {k: v for k, v in obj.items() if k != CHECKSUMS_FIELD}
        self._record_checksums(key, suffix, obj, indent=indent)
