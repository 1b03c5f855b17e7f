"""Run one task over many inputs, here or on a Dask cluster, one record per input.

Task and conventions
--------------------
A batch applies a :class:`BatchTask` (a small, picklable object holding its options) to
every item (a path, or a mapping with a ``"path"`` key and what else the task reads).
Each process that runs items sets the task up once (:meth:`BatchTask.setup`: load the
rater, the transcriber, the encoder) and keeps it in a per-process cache keyed by the
task's identity (its class and options), so a Dask worker loads its models once however
many items it gets, and a second batch with the same task reuses them.

Each item gives one record (:data:`BATCH_SCHEMA_VERSION`)::

    {"schema_version": 1, "kind": "batch_result", "task": "evaluate", "index": 3,
     "path": "takes/a.mid", "ok": true, "result": {...}, "elapsed_sec": 0.41,
     "worker": "12345@host"}

and a bad item (a :class:`~pianoeval.errors.PianoEvalError` or an ``OSError`` about it)
gives ``"ok": false`` with ``"error"`` (the message, naming the file) and ``"error_type"``
instead of ``"result"``: it is reported and the batch goes on. A problem every other item
would hit too (a missing backend, a bad option: :class:`~pianoeval.errors.ParameterError`,
:class:`~pianoeval.errors.BackendUnavailableError`, or any error while setting the task
up) stops the batch and is raised as itself, also from a Dask worker. Any other exception
is a bug and propagates with its traceback.

Records reach ``on_result`` in completion order (they carry ``index`` and ``path``);
:attr:`BatchReport.records` is in input order.

Engines
-------
``"local"``: this process, one item after the other (the reference), its OpenMP/BLAS and
torch threads limited to ``threads_per_worker`` during the batch, like a worker's.
``"dask"``: a Dask ``distributed`` cluster: a :class:`distributed.LocalCluster` of
``n_workers`` processes with ``threads_per_worker`` threads each when no ``scheduler`` is
given (BLAS/OpenMP/torch threads are pinned to ``threads_per_worker`` in each worker),
else the cluster at the ``scheduler`` address (workers must see the same files).
Results are the same on both engines: the tasks are deterministic and thread counts are
fixed; only the timings differ (tests/batch/test_dask.py compares them).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pianoeval._typing import PathLike
from pianoeval.errors import (
    BackendUnavailableError,
    FileProblemError,
    ParameterError,
    PianoEvalError,
)

__all__ = [
    "BATCH_SCHEMA_VERSION",
    "ENGINES",
    "TIMING_KEYS",
    "BatchItem",
    "BatchReport",
    "BatchTask",
    "item_path",
    "run_batch",
    "setup_count",
    "strip_timings",
]

#: Version of the per-item record.
BATCH_SCHEMA_VERSION = 1

#: The engines :func:`run_batch` knows.
ENGINES = ("local", "dask")

#: Record and result keys that hold wall-clock figures or where the work ran: they differ
#: between two runs of the same batch, everything else must not (``timings``: a whole
#: evaluation's seconds per stage).
TIMING_KEYS = frozenset({"elapsed_sec", "seconds", "worker", "cached", "timings"})

#: What a batch works on: a path, or a mapping with a ``"path"`` key.
BatchItem = PathLike | Mapping[str, Any]

Engine = Literal["local", "dask"]


def item_path(item: BatchItem) -> str:
    """Return the path an item is about (the item itself, or its ``"path"``).

    Examples
    --------
    >>> item_path("a.mid"), item_path({"path": "b.wav", "t0": 0.0})
    ('a.mid', 'b.wav')
    """
    if isinstance(item, Mapping):
        return os.fspath(item["path"])
    return os.fspath(item)


class BatchTask(ABC):
    """What a batch does to one item; picklable, set up once per process.

    Subclasses are dataclasses whose public fields are their options (JSON-ready: str,
    numbers, bools, lists, dicts); loaded models go in attributes starting with ``_``,
    which are never pickled (a worker loads its own in :meth:`setup`).
    """

    #: Short name, written in every record (``"evaluate"``, ``"transcribe"``...).
    name: ClassVar[str] = "task"

    def config(self) -> dict[str, Any]:
        """Return the task's options (its public attributes), as recorded in a report."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def identity(self) -> str:
        """Key of the per-process cache: the class and its options."""
        import json

        cls = type(self)
        opts = json.dumps(self.config(), sort_keys=True, default=str)
        return f"{cls.__module__}.{cls.__qualname__}:{opts}"

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Load what :meth:`__call__` needs (models, SoundFonts); once per process."""

    @abstractmethod
    def __call__(self, item: BatchItem) -> dict[str, Any]:
        """Process one item and return a JSON-ready dict.

        Raises
        ------
        PianoEvalError, OSError
            About this item: it becomes a failure record (a ParameterError or
            BackendUnavailableError stops the batch).
        """

    def __getstate__(self) -> dict[str, Any]:
        return self.config()


# --- per-process state (a Dask worker's, or this process's for the local engine) ---------

_READY: dict[str, BatchTask] = {}
_SETUPS: dict[str, int] = {}
_LOCK = threading.Lock()


def setup_count(identity: str) -> int:
    """How many times this process has set up the task with this identity (0 or 1)."""
    return _SETUPS.get(identity, 0)


def _pin_threads(n: int) -> None:
    """Fix a worker's torch, OpenMP and BLAS threads (for good: it is the worker's process).

    Environment variables reach the libraries loaded later; threadpoolctl (when installed,
    with scikit-learn) limits those already loaded, LightGBM's OpenMP among them.
    """
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:
        pass
    else:
        threadpool_limits(limits=n)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(n)


@contextmanager
def _limited_threads(n: int) -> Iterator[None]:
    """Limit this process's OpenMP/BLAS and torch threads to ``n`` for a while.

    Why: LightGBM predicts one row at a time here, and on a busy machine its OpenMP
    threads spin waiting for a core (measured: 0.65 s per rating with 2 threads on
    2 loaded cores, 0.04 s with 1). The local engine runs with the threads a Dask
    worker gets, so the two engines are compared like for like.
    """
    with ExitStack() as stack:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            pass
        else:
            stack.enter_context(threadpool_limits(limits=n))
        previous = None
        if "torch" in sys.modules:
            import torch

            previous = torch.get_num_threads()
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if previous is not None:
                import torch

                torch.set_num_threads(previous)


def _ready(task: BatchTask, threads: int | None) -> BatchTask:
    key = task.identity()
    with _LOCK:
        got = _READY.get(key)
        if got is None:
            if threads is not None:
                _pin_threads(threads)
            task.setup()
            if threads is not None:
                _pin_threads(threads)  # the setup may have imported torch
            _SETUPS[key] = _SETUPS.get(key, 0) + 1
            _READY[key] = got = task
    return got


def _is_global(exc: BaseException) -> bool:
    return isinstance(exc, ParameterError | BackendUnavailableError)


def _item_error(exc: BaseException, path: str) -> str:
    from pianoeval._paths import describe_exception, os_error_problem

    if isinstance(exc, FileProblemError):
        return str(exc)
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else path
        return f"{where}: {os_error_problem(exc)}"
    return f"{path}: {describe_exception(exc) if not str(exc) else exc}"


def _pack(exc: BaseException) -> tuple[type[BaseException], tuple[Any, ...], dict[str, Any]]:
    """Return an exception as (class, args, attributes), to rebuild it elsewhere.

    It is rebuilt without calling ``__init__``, so the subclasses whose ``__init__`` takes
    other arguments than their message (FileProblemError, BackendUnavailableError) survive
    the trip from a worker.
    """
    return type(exc), exc.args, dict(vars(exc))


def _unpack(packed: tuple[type[BaseException], tuple[Any, ...], dict[str, Any]]) -> BaseException:
    cls, args, state = packed
    exc = cls.__new__(cls)
    exc.args = args
    vars(exc).update(state)
    return exc


def _worker_name() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


def _run_one(
    task: BatchTask, index: int, item: BatchItem, threads: int | None, capture: bool
) -> dict[str, Any]:
    """Run one item; a global problem is raised (``capture=False``) or packed in the record."""
    path = item_path(item)
    record: dict[str, Any] = {
        "schema_version": BATCH_SCHEMA_VERSION,
        "kind": "batch_result",
        "task": task.name,
        "index": index,
        "path": path,
    }
    try:
        ready = _ready(task, threads)
    except (PianoEvalError, OSError) as exc:  # setting up fails for every item alike
        if not capture:
            raise
        return {**record, "ok": False, "_fatal": _pack(exc)}
    start = time.perf_counter()  # the item's own time, not its worker's setup
    try:
        result = ready(item)
    except (PianoEvalError, OSError) as exc:
        if _is_global(exc):
            if not capture:
                raise
            return {**record, "ok": False, "_fatal": _pack(exc)}
        record.update(ok=False, error=_item_error(exc, path), error_type=type(exc).__name__)
    else:
        record.update(ok=True, result=result)
    record["elapsed_sec"] = round(time.perf_counter() - start, 4)
    record["worker"] = _worker_name()
    return record


def _worker_setup_count(identity: str) -> int:  # runs on each Dask worker
    return setup_count(identity)


@dataclass
class BatchReport:
    """What a batch did.

    Attributes
    ----------
    task : str
    config : dict
        The task's options.
    engine : str
    n_workers, threads_per_worker : int
        1 worker for the local engine.
    records : list of dict
        One per item, in input order (see the module docstring for the keys).
    elapsed_sec : float
        Wall-clock seconds of the whole batch, cluster start included.
    setups : dict of str to int
        Per worker (``"local"`` for this process): how many times it set the task up
        (1 for every worker that got an item: models are loaded once per worker).
    """

    task: str
    config: dict[str, Any]
    engine: str
    n_workers: int
    threads_per_worker: int
    records: list[dict[str, Any]] = field(default_factory=list)
    elapsed_sec: float = 0.0
    setups: dict[str, int] = field(default_factory=dict)

    @property
    def failures(self) -> list[dict[str, Any]]:
        """The records of the items that failed (``path``, ``error``)."""
        return [r for r in self.records if not r["ok"]]

    @property
    def ok(self) -> bool:
        """Whether every item succeeded."""
        return not self.failures

    def results(self) -> list[dict[str, Any]]:
        """Return the results of the items that succeeded, in input order."""
        return [r["result"] for r in self.records if r["ok"]]

    def summary(self) -> dict[str, Any]:
        """Return the counts and timing, JSON-ready (no per-item records)."""
        return {
            "schema_version": BATCH_SCHEMA_VERSION,
            "kind": "batch_summary",
            "task": self.task,
            "engine": self.engine,
            "n_workers": self.n_workers,
            "threads_per_worker": self.threads_per_worker,
            "n_items": len(self.records),
            "n_failed": len(self.failures),
            "elapsed_sec": round(self.elapsed_sec, 3),
            "setups": self.setups,
        }


def strip_timings(value: Any) -> Any:
    """Drop :data:`TIMING_KEYS` at every depth: what must agree between two runs.

    Examples
    --------
    >>> strip_timings({"path": "a", "elapsed_sec": 1.2, "result": {"seconds": 3, "n": 4}})
    {'path': 'a', 'result': {'n': 4}}
    """
    if isinstance(value, dict):
        return {k: strip_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [strip_timings(v) for v in value]
    return value


def _check_options(engine: str, scheduler: str | None, n_workers: int, threads: int) -> None:
    if engine not in ENGINES:
        raise ParameterError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    for name, value in (("n_workers", n_workers), ("threads_per_worker", threads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterError(f"{name} must be an integer >= 1, not {value!r}")
    if scheduler is not None and engine != "dask":
        raise ParameterError("a scheduler address is used by the dask engine only (--engine dask)")


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="file", file=sys.stderr, disable=not enabled)


def run_batch(
    items: Iterable[BatchItem],
    task: BatchTask,
    *,
    engine: Engine | str = "local",
    scheduler: str | None = None,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    progress: bool = True,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> BatchReport:
    """Apply ``task`` to every item; report each bad item and go on.

    Parameters
    ----------
    items : iterable of path-like or mapping
        Paths, or mappings with a ``"path"`` key (see :func:`item_path`).
    task : BatchTask
        E.g. :class:`~pianoeval.batch.EvaluateTask`; set up once per process.
    engine : {"local", "dask"}
        ``"local"`` runs here, one item after the other; ``"dask"`` on a Dask cluster.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); default: start a
        local cluster of ``n_workers`` processes for this batch and stop it after.
    n_workers : int
        Worker processes of the local cluster (dask engine without a scheduler).
    threads_per_worker : int
        Threads per worker process; also the torch/OpenMP/BLAS threads each worker uses
        (and this process's during a local batch).
    progress : bool
        Show a tqdm progress bar on stderr.
    on_result : callable, optional
        Called with each record as soon as it is ready (completion order).

    Returns
    -------
    BatchReport

    Raises
    ------
    ParameterError
        A bad option (here, or raised by the task for every item).
    BackendUnavailableError
        A missing backend (Dask itself: ``pip install 'pianoeval[distributed]'``).
    PianoEvalError, OSError
        Raised while setting the task up (a bad score, a missing model).

    Examples
    --------
    >>> from pianoeval.batch import EvaluateTask
    >>> from pianoeval.examples import example_midi_path
    >>> report = run_batch([example_midi_path(), "missing.mid"], EvaluateTask(),
    ...                    progress=False)
    >>> [r["ok"] for r in report.records], report.failures[0]["error"]
    ([True, False], 'missing.mid: file does not exist')
    """
    _check_options(engine, scheduler, n_workers, threads_per_worker)
    todo = list(items)
    start = time.perf_counter()
    if engine == "local":
        report = BatchReport(task.name, task.config(), "local", 1, threads_per_worker)
        records = _run_local(
            todo, task, threads=threads_per_worker, progress=progress, on_result=on_result
        )
        report.setups = {"local": setup_count(task.identity())} if todo else {}
    else:
        report = BatchReport(task.name, task.config(), "dask", n_workers, threads_per_worker)
        records, report.setups = _run_dask(
            todo,
            task,
            scheduler=scheduler,
            n_workers=n_workers,
            threads=threads_per_worker,
            progress=progress,
            on_result=on_result,
        )
        report.n_workers = len(report.setups) or n_workers
    report.records = sorted(records, key=lambda r: int(r["index"]))
    report.elapsed_sec = time.perf_counter() - start
    return report


def _run_local(
    todo: list[BatchItem],
    task: BatchTask,
    *,
    threads: int,
    progress: bool,
    on_result: Callable[[dict[str, Any]], None] | None,
) -> list[dict[str, Any]]:
    records = []
    if todo:
        _ready(task, None)  # set up first (it loads the libraries the limit then reaches)
    bar = _progress(len(todo), task.name, progress)
    try:
        with _limited_threads(threads):
            for i, item in enumerate(todo):
                record = _run_one(task, i, item, None, capture=False)
                records.append(record)
                if on_result is not None:
                    on_result(record)
                bar.update(1)
    finally:
        bar.close()
    return records


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as e:
        raise BackendUnavailableError(
            "the dask engine",
            "pip install 'pianoeval[distributed]'",
            reason=f"dask.distributed cannot be imported: {e}",
        ) from None
    return distributed


def _run_dask(
    todo: list[BatchItem],
    task: BatchTask,
    *,
    scheduler: str | None,
    n_workers: int,
    threads: int,
    progress: bool,
    on_result: Callable[[dict[str, Any]], None] | None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    import logging

    distributed = _import_distributed()
    cluster = None
    if scheduler is None:
        pinned = {v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        cluster = distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
            env={**pinned, "OPENBLAS_NUM_THREADS": str(threads)},
        )
    try:
        client = distributed.Client(cluster if cluster is not None else scheduler)
    except OSError as e:  # no scheduler at that address
        if cluster is not None:
            cluster.close()
        raise ParameterError(f"cannot reach the Dask scheduler at {scheduler!r}: {e}") from None
    records: list[dict[str, Any]] = []
    run_id = uuid.uuid4().hex[:8]
    bar = _progress(len(todo), task.name, progress)
    futures = []
    try:
        futures = [
            client.submit(
                _run_one,
                task,
                i,
                item,
                threads,
                True,
                key=f"pianoeval-{task.name}-{run_id}-{i}",
                pure=False,
            )
            for i, item in enumerate(todo)
        ]
        for future in distributed.as_completed(futures):
            record = future.result()
            if "_fatal" in record:
                raise _unpack(record["_fatal"])
            records.append(record)
            if on_result is not None:
                on_result(record)
            bar.update(1)
        counts = client.run(_worker_setup_count, task.identity())
        setups = {str(addr): int(n) for addr, n in sorted(counts.items())}
    finally:
        bar.close()
        for future in futures:
            future.cancel()
        client.close()
        if cluster is not None:
            cluster.close()
    return records, setups
