"""Input paths checked before reading, and folders walked for the files a command reads.

Every reader (audio, MIDI, scores, manifests) checks its input with :func:`check_input_file`
before decoding it, so the user gets one line naming the file and the problem ("file name
too long", "a symbolic link loop", "permission denied", "is a directory") instead of an
``OSError`` traceback from deep inside a decoder. The check is cheap (one ``stat``, one
``open``), so it runs before any expensive work.

:func:`expand_inputs` turns a mix of files and folders into the list of files a batch
command reads: files are kept as given (the reader reports what it cannot read), folders are
walked recursively, in sorted order, for the suffixes asked for (the sets live in
:mod:`pianoeval.constants`: ``AUDIO_SUFFIXES``, ``MIDI_SUFFIXES``).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Collection, Iterable
from pathlib import Path

from pianoeval._typing import PathLike
from pianoeval.errors import FileProblemError

__all__ = ["check_input_file", "describe_exception", "expand_inputs", "os_error_problem"]

#: Plain words for the errno values a path can fail with.
_ERRNO_PROBLEMS: dict[int, str] = {
    errno.ENOENT: "file does not exist",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ELOOP: "a symbolic link loop (too many levels of symbolic links)",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "is a directory, not a file",
    errno.EIO: "input/output error while reading (a failing disk or network share?)",
    errno.ENXIO: "no such device",
    errno.ENODEV: "no such device",
}

#: What an exception with an empty message means, for the types decoders raise bare.
_EMPTY_MESSAGE_MEANING: dict[type[BaseException], str] = {
    EOFError: "the file ends early (truncated)",
    IndexError: "the file ends early or an index in it points past its end (corrupt)",
    KeyError: "an unknown or missing field (corrupt or unsupported)",
    MemoryError: "out of memory while reading it",
}


def _name_too_long(path_str: str) -> str:
    """Say which limit a path breaks: a component over NAME_MAX or the whole over PATH_MAX."""
    try:
        name_max = os.pathconf(Path(path_str).anchor or ".", "PC_NAME_MAX")
        path_max = os.pathconf(Path(path_str).anchor or ".", "PC_PATH_MAX")
    except (OSError, ValueError):  # no pathconf for this file system
        name_max, path_max = 255, 4096
    longest = max((len(part.encode()) for part in Path(path_str).parts), default=0)
    if longest > name_max:
        return (
            f"file name too long: a name in the path has {longest} bytes, more than this "
            f"system allows ({name_max})"
        )
    return (
        f"path too long: {len(path_str.encode())} bytes, more than this system allows ({path_max})"
    )


def os_error_problem(exc: OSError, path: PathLike | None = None) -> str:
    """Return a few plain words for what an ``OSError`` says about a path.

    Parameters
    ----------
    exc : OSError
        The error (``FileNotFoundError``, ``PermissionError``, ENAMETOOLONG, ELOOP...).
    path : path-like, optional
        The path it is about, to say which length limit a too-long name breaks.

    Returns
    -------
    str
        E.g. ``"permission denied"``; the system's own message for an errno not listed.

    Examples
    --------
    >>> import errno
    >>> os_error_problem(OSError(errno.ELOOP, "Too many levels of symbolic links"))
    'a symbolic link loop (too many levels of symbolic links)'
    """
    if exc.errno == errno.ENAMETOOLONG:
        target = path if path is not None else exc.filename
        return _name_too_long(os.fspath(target)) if target is not None else "file name too long"
    if exc.errno in _ERRNO_PROBLEMS:
        return _ERRNO_PROBLEMS[exc.errno]
    return str(exc.strerror or exc).strip() or type(exc).__name__


def describe_exception(exc: BaseException) -> str:
    """Return ``"Type: message"`` for an exception, never a bare ``"Type: "``.

    Decoders often raise with an empty message (``EOFError()`` from a truncated MIDI file);
    printing ``"EOFError: "`` tells the user nothing, so an empty message is replaced by
    what that exception type means.

    Examples
    --------
    >>> describe_exception(EOFError())
    'the file ends early (truncated)'
    >>> describe_exception(ValueError("bad tempo"))
    'ValueError: bad tempo'
    """
    if isinstance(exc, OSError) and exc.errno is not None:
        return os_error_problem(exc)
    message = str(exc).strip()
    if isinstance(exc, KeyError) and exc.args:
        message = f"missing or unknown field {exc.args[0]!r}"
    if message:
        return f"{type(exc).__name__}: {message}"
    for kind, meaning in _EMPTY_MESSAGE_MEANING.items():
        if isinstance(exc, kind):
            return meaning
    return f"{type(exc).__name__} (no detail given)"


def check_input_file(
    path: PathLike, kind: type[FileProblemError] = FileProblemError, *, what: str = "file"
) -> Path:
    """Check that ``path`` names a readable, non-empty regular file, before any work.

    Parameters
    ----------
    path : path-like
        The input.
    kind : type of FileProblemError
        The error to raise (``AudioError``, ``MidiError``, ...), so callers that catch their
        own subclass keep working.
    what : str
        What the file should be, for the messages ("audio file", "score", "manifest").

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    FileProblemError
        Of type ``kind``, naming the file and the problem: not found, a broken symbolic link,
        a symbolic link loop, a name or path longer than the system allows, a part of the
        path that is not a folder, a directory, not a regular file, permission denied, an
        empty (0-byte) file.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> check_input_file(folder, what="MIDI file")
    Traceback (most recent call last):
    ...
    pianoeval.errors.FileProblemError: ...: is a directory, not a MIDI file
    """
    path_str = os.fspath(path)
    if path_str == "":
        raise kind(path_str, f"empty path: no {what} named")
    if "\0" in path_str:
        raise kind(path_str, "the path contains a NUL character")
    p = Path(path_str)
    try:
        st = os.stat(path_str)
    except FileNotFoundError:
        if os.path.islink(path_str):
            raise kind(
                path_str, f"broken symbolic link (points to {os.readlink(path_str)!r})"
            ) from None
        raise kind(path_str, "file does not exist") from None
    except OSError as exc:
        raise kind(path_str, os_error_problem(exc, path_str)) from None
    if stat.S_ISDIR(st.st_mode):
        raise kind(path_str, f"is a directory, not a{'n' if what[:1] in 'aeiou' else ''} {what}")
    if not stat.S_ISREG(st.st_mode):
        raise kind(path_str, "is not a regular file (a device, pipe or socket)")
    try:
        fd = os.open(path_str, os.O_RDONLY)
    except OSError as exc:
        raise kind(path_str, f"cannot be read: {os_error_problem(exc, path_str)}") from None
    os.close(fd)
    if st.st_size == 0:
        raise kind(path_str, "empty file (0 bytes)")
    return p


def expand_inputs(
    paths: Iterable[PathLike],
    suffixes: Collection[str],
    *,
    kind: type[FileProblemError] = FileProblemError,
) -> tuple[list[Path], list[FileProblemError]]:
    """Expand folders into the files with ``suffixes`` they hold (recursive, sorted).

    Files given by name are kept as they are, whatever their suffix: the reader reports
    what it cannot read. Hidden files and folders (names starting with ``.``, such as the
    ``._song.wav`` resource forks macOS leaves on shared drives) are not collected.

    Parameters
    ----------
    paths : iterable of path-like
        Files and folders, in the order given.
    suffixes : collection of str
        Lower-case suffixes with the dot (``pianoeval.constants.AUDIO_SUFFIXES``).
    kind : type of FileProblemError
        The error type of the problems returned.

    Returns
    -------
    files : list of Path
        The files to read, in the order given, each folder's files sorted.
    problems : list of FileProblemError
        One per folder that holds no such file or cannot be listed, naming it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b.WAV", "a.flac", "notes.txt", ".a.wav"):
    ...     _ = (d / name).write_bytes(b"x")
    >>> files, problems = expand_inputs([d], {".wav", ".flac"})
    >>> [f.name for f in files], problems
    (['a.flac', 'b.WAV'], [])
    """
    wanted = {s.lower() for s in suffixes}
    files: list[Path] = []
    problems: list[FileProblemError] = []
    for raw in paths:
        p = Path(raw)
        try:
            is_dir = p.is_dir()
        except (OSError, ValueError):  # too long, a loop: the reader names the problem
            is_dir = False
        if not is_dir:
            files.append(p)
            continue
        found: list[Path] = []
        walk_errors: list[OSError] = []
        for dirpath, dirnames, filenames in os.walk(p, onerror=walk_errors.append):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            found.extend(
                Path(dirpath) / name
                for name in filenames
                if not name.startswith(".") and Path(name).suffix.lower() in wanted
            )
        for exc in walk_errors:
            where = exc.filename if exc.filename is not None else p
            problems.append(kind(where, f"cannot list the folder: {os_error_problem(exc)}"))
        if not found and not walk_errors:
            listed = ", ".join(sorted(wanted))
            problems.append(kind(p, f"folder holds no file of the kinds read here ({listed})"))
        files.extend(sorted(found))
    return files, problems
