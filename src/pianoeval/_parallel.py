"""Process pools that are safe to start from a process that already runs threads.

``fork`` copies a process with only the calling thread: a lock another thread held at that
moment (torch's thread pool after a transcription, a tqdm monitor, a web server's
threads) stays locked in the child for ever. ``render_files`` hung exactly so after
transkun had run in the same process. Every pool in pianoeval therefore starts its
workers with ``forkserver`` (forked from a clean single-threaded server process), or
``spawn`` where there is no forkserver.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext

__all__ = ["pool_context"]


def pool_context() -> BaseContext:
    """Return the start-method context for worker pools (``forkserver``, else ``spawn``).

    Examples
    --------
    >>> pool_context().get_start_method() in {"forkserver", "spawn"}
    True
    """
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
