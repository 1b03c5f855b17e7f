"""Worker counts and process pools that are safe to start from a threaded process.

Every function that spreads work over processes takes one keyword, ``jobs`` (an int >= 1,
or None for :func:`default_jobs`), resolved by :func:`resolve_jobs`; the CLI spells it
``--jobs``.

``fork`` copies a process with only the calling thread: a lock another thread held at that
moment (torch's thread pool after a transcription, a tqdm monitor, a web server's
threads) stays locked in the child for ever. ``render_files`` hung exactly so after
transkun had run in the same process. Every pool in pianoeval therefore starts its
workers with ``forkserver`` (forked from a clean single-threaded server process), or
``spawn`` where there is no forkserver.
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.context import BaseContext

from pianoeval.errors import ParameterError

__all__ = ["MAX_DEFAULT_JOBS", "default_jobs", "pool_context", "resolve_jobs"]

#: The default never starts more workers than this, whatever the machine: each worker
#: loads its own models (a SoundFont, a transcriber), so memory grows with the count.
MAX_DEFAULT_JOBS = 8


def pool_context() -> BaseContext:
    """Return the start-method context for worker pools (``forkserver``, else ``spawn``).

    Examples
    --------
    >>> pool_context().get_start_method() in {"forkserver", "spawn"}
    True
    """
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def default_jobs() -> int:
    """Return the CPUs this process may use, at most :data:`MAX_DEFAULT_JOBS`.

    Examples
    --------
    >>> 1 <= default_jobs() <= MAX_DEFAULT_JOBS
    True
    """
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, MAX_DEFAULT_JOBS))


def resolve_jobs(jobs: int | None, n_tasks: int | None = None) -> int:
    """Return the worker count to use: ``jobs`` (None: :func:`default_jobs`), at most ``n_tasks``.

    Raises
    ------
    ParameterError
        If ``jobs`` is not None and below 1.

    Examples
    --------
    >>> resolve_jobs(4, n_tasks=2)
    2
    >>> resolve_jobs(None, n_tasks=0)
    1
    """
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ParameterError(f"jobs must be an integer >= 1 (or None for all CPUs), not {jobs!r}")
    n = default_jobs() if jobs is None else jobs
    if n_tasks is not None:
        n = min(n, max(1, n_tasks))
    return n
