"""The batch options every multi-input command shares, and the loop that runs them.

``--engine local|dask``, ``--scheduler ADDRESS``, ``--workers N``,
``--threads-per-worker N``, ``--jsonl PATH`` (``-``: stdout) and ``--jsonl-sorted``
mean the same in ``pianoeval analyze``, ``evaluate``, ``transcribe``, ``render`` and
``embed``; the work is :func:`pianoeval.batch.run_batch` (docs/batch.md).

``--threads N`` (``analyze`` and ``evaluate`` without batch options) fixes the OpenMP/BLAS
threads of the command's own loop, as the batch layer does with ``--threads-per-worker``
(:func:`limited_threads`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from pianoeval.batch import BatchItem, BatchReport, BatchTask


class Engine(StrEnum):
    """Where a batch runs."""

    local = "local"
    dask = "dask"


EngineOption = typer.Option(
    "--engine",
    help="Where the batch runs: local (this process, one file after the other) or dask "
    "(a Dask cluster: --workers local processes, or the one at --scheduler).",
)
SchedulerOption = typer.Option(
    "--scheduler",
    help="Address of a running Dask scheduler (tcp://host:8786); with --engine dask. "
    "Workers must see the same files.",
)
WorkersOption = typer.Option(
    "--workers", min=1, help="Worker processes of the local Dask cluster (--engine dask)."
)
ThreadsPerWorkerOption = typer.Option(
    "--threads-per-worker", min=1, help="Threads per Dask worker (also its torch/BLAS threads)."
)
JsonlOption = typer.Option(
    "--jsonl",
    help="Write one JSON line per input (result or error) to this file ('-': stdout), "
    "as each one finishes.",
)
ThreadsOption = typer.Option(
    "--threads",
    min=1,
    help="OpenMP/BLAS threads while rating here (without --engine dask or --jsonl). "
    "Default 1: LightGBM's threads spin on busy cores (about 15x slower with 2 on 2 busy "
    "cores).",
)
JsonlSortedOption = typer.Option(
    "--jsonl-sorted",
    help="Write the JSONL in input order once the batch is done, instead of as each "
    "input finishes.",
)


@dataclass
class BatchOptions:
    """The batch options of one command line."""

    engine: Engine = Engine.local
    scheduler: str | None = None
    workers: int = 2
    threads_per_worker: int = 1
    jsonl: Path | None = None
    jsonl_sorted: bool = False
    progress: bool = True

    @property
    def uses_batch_layer(self) -> bool:
        """Whether anything asks for more than a command's own local loop."""
        return self.engine is Engine.dask or self.jsonl is not None

    def check(self) -> None:
        """Reject a scheduler without the dask engine, or a JSONL path that is a folder."""
        if self.scheduler is not None and self.engine is not Engine.dask:
            raise typer.BadParameter("needs --engine dask", param_hint="--scheduler")
        if self.jsonl is not None and str(self.jsonl) != "-" and self.jsonl.is_dir():
            raise typer.BadParameter(f"{self.jsonl} is a folder; give a file", param_hint="--jsonl")


def run_cli_batch(
    items: Sequence[BatchItem],
    task: BatchTask,
    opts: BatchOptions,
    *,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> BatchReport:
    """Run ``task`` over ``items`` with the command line's options; stream the JSONL.

    ``on_record`` sees each record as it finishes (to print it); the JSONL file gets one
    line per input, as it finishes or, with ``--jsonl-sorted``, in input order at the end.
    """
    from pianoeval.batch import JsonlWriter, run_batch, write_jsonl

    opts.check()

    def go(writer: JsonlWriter | None) -> BatchReport:
        def on_result(record: dict[str, Any]) -> None:
            if writer is not None:
                writer.write(record)
            if on_record is not None:
                on_record(record)

        return run_batch(
            items,
            task,
            engine=opts.engine.value,
            scheduler=opts.scheduler,
            n_workers=opts.workers,
            threads_per_worker=opts.threads_per_worker,
            progress=opts.progress,
            on_result=on_result,
        )

    if opts.jsonl is None:
        return go(None)
    if opts.jsonl_sorted:
        report = go(None)
        write_jsonl(opts.jsonl, report.records)
        return report
    with JsonlWriter(opts.jsonl) as writer:
        return go(writer)


@contextmanager
def limited_threads(n: int) -> Iterator[None]:
    """Limit this process's OpenMP/BLAS threads to ``n`` for a while (threadpoolctl).

    The local loop of ``analyze``/``evaluate`` rates with LightGBM one row at a time; on a
    busy machine its OpenMP threads spin waiting for a core, so one thread is much faster
    than two (:func:`pianoeval.batch.run_batch` limits its local engine the same way).
    Only libraries already loaded are limited: load the raters first. Torch keeps its own
    threads (a transcriber sets them).
    """
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # comes with scikit-learn; without it the threads stay as they are
        yield
        return
    with threadpool_limits(limits=n):
        yield
