"""The exception hierarchy of pianoeval.

Small on purpose (after ``librosa.util.exceptions``): callers catch :class:`PianoEvalError`
for anything the library raises on purpose, and a subclass when they can act on it.
Front ends map these to exit codes or HTTP statuses at the edge, never inside the library.
"""

from __future__ import annotations

import os


class PianoEvalError(Exception):
    """Root of every error pianoeval raises on purpose."""


class ParameterError(PianoEvalError, ValueError):
    """A function argument has a value that cannot be used (the message names it)."""


class SchemaError(PianoEvalError, ValueError):
    """A record (manifest row, label export, prediction) does not follow its schema."""


class BackendUnavailableError(PianoEvalError, ImportError):
    """An optional backend is not installed; the message gives the command that installs it."""

    def __init__(self, backend: str, install: str, reason: str | None = None) -> None:
        self.backend = backend
        self.install = install
        detail = f" ({reason})" if reason else ""
        super().__init__(f"{backend} is not available{detail}. Install it with: {install}")


class AlignmentError(PianoEvalError):
    """A performance could not be aligned to its score."""


class FileProblemError(PianoEvalError):
    """An input file cannot be used; the message names the file and the problem.

    Attributes
    ----------
    path : str
        The file the problem is about.
    problem : str
        What is wrong with it, in a few words.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class AudioError(FileProblemError):
    """An audio file cannot be used: missing, unreadable, corrupt, empty, too short, silent..."""


class MidiError(FileProblemError):
    """A MIDI file cannot be used: missing, empty, corrupt, or without notes."""


class NotRatableError(FileProblemError):
    """A readable input that holds too little music to rate (nothing played, a few notes).

    Raised instead of making up a rating; the message says what was found and what is needed.
    """


class CacheDirError(FileProblemError):
    """The cache folder cannot be used: a file, not a folder, or not writable.

    Raised before any work (by :func:`pianoeval._cache.check_cache_dir` and when a cache is
    built), so a long transcription is not lost at its end; the message names the
    variable (``PIANOEVAL_CACHE``) when the folder came from it.
    """


class DataRootError(PianoEvalError):
    """No dataset folder was found where pianoeval looks for one."""


class PianoEvalWarning(UserWarning):
    """Root of the warnings pianoeval gives on purpose: degenerate but usable input.

    :func:`pianoeval.rater.evaluate` collects them into the rating's ``warnings``.
    """
