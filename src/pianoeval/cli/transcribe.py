"""``pianoeval transcribe``: audio recordings to MIDI files a user can open elsewhere.

Each input ``AUDIO`` becomes ``OUT/<stem>.mid``: one piano track with the notes and, with
the default transkun backend, the sustain pedal as control change 64 (soft pedal as 67).
Inputs are files, folders (searched for audio), glob patterns or manifests; a file already
in ``OUT`` is never replaced without ``--force``, and two inputs with the same stem are
refused before any work. A bad input is reported and skipped; the exit code is 1 if any
failed. The work is :class:`pianoeval.batch.TranscribeTask` on the batch runner, here or
on a Dask cluster (``--engine dask``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pianoeval.cli._batch import (
    BatchOptions,
    Engine,
    EngineOption,
    JsonlOption,
    JsonlSortedOption,
    SchedulerOption,
    ThreadsPerWorkerOption,
    WorkersOption,
    run_cli_batch,
)


def transcribe(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Audio files, folders to search, glob patterns ('takes/*.wav') or "
            "manifests (.jsonl, their audio_uri).",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the MIDI files (created).")],
    backend: Annotated[
        str,
        typer.Option("--backend", help="transkun (notes and pedal) or basic_pitch (notes only)."),
    ] = "transkun",
    force: Annotated[
        bool, typer.Option("--force", help="Replace MIDI files already in --out.")
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            help="Model threads per file (default: the backend's; with --engine dask, "
            "--threads-per-worker).",
        ),
    ] = None,
    engine: Annotated[Engine, EngineOption] = Engine.local,
    scheduler: Annotated[str | None, SchedulerOption] = None,
    workers: Annotated[int, WorkersOption] = 2,
    threads_per_worker: Annotated[int, ThreadsPerWorkerOption] = 1,
    jsonl: Annotated[Path | None, JsonlOption] = None,
    jsonl_sorted: Annotated[bool, JsonlSortedOption] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar (stderr).")] = True,
) -> None:
    """Transcribe recordings to MIDI (notes, sustain pedal as CC64): OUT/<stem>.mid each."""
    from pianoeval.batch import TranscribeTask, collect_inputs, output_path
    from pianoeval.constants import AUDIO_SUFFIXES
    from pianoeval.symbolic.transcribe import BACKENDS

    if backend not in BACKENDS.names():
        raise typer.BadParameter(
            f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS.names())}",
            param_hint="--backend",
        )
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} is a file; give a folder", param_hint="--out")
    opts = BatchOptions(engine, scheduler, workers, threads_per_worker, jsonl, jsonl_sorted)
    opts.progress = progress
    opts.check()
    got = collect_inputs(inputs, AUDIO_SUFFIXES, uri_field=None)
    for problem in got.problems:
        typer.secho(f"error: {problem}", fg="red", err=True)
    targets: dict[Path, list[Path]] = {}
    for f in got.files:
        targets.setdefault(output_path(f, out, ".mid"), []).append(f)
    clashes = {t: fs for t, fs in targets.items() if len(fs) > 1}
    if clashes:
        lines = "; ".join(f"{t.name} <- {', '.join(map(str, fs))}" for t, fs in clashes.items())
        raise typer.BadParameter(
            f"inputs with the same name would write the same MIDI file: {lines}; "
            "transcribe them into different --out folders",
            param_hint="AUDIO",
        )
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        for t in existing:
            typer.secho(f"error: {t}: already exists (pass --force to replace it)", fg="red",
                        err=True)  # fmt: skip
        typer.secho(
            f"{len(existing)} MIDI file(s) already in {out}: nothing transcribed", fg="red",
            err=True,
        )  # fmt: skip
        raise typer.Exit(1)
    if not got.files:
        raise typer.Exit(1)
    if threads is None and engine is Engine.dask:
        threads = threads_per_worker
    task = TranscribeTask(out_dir=str(out), backend=backend, force=force, threads=threads)

    def show(record: dict[str, Any]) -> None:
        if not record["ok"]:
            typer.secho(f"error: {record['error']}", fg="red", err=True)
            return
        r = record["result"]
        pedal = f", {r['n_sustain_events']} sustain-pedal events" if r["n_sustain_events"] else ""
        took = "cached" if r["cached"] else f"{r['seconds']:.1f} s"
        typer.echo(
            f"{r['midi_path']}: {r['n_notes']} notes{pedal} ({r['audio_sec']:.1f} s of audio, "
            f"{took})"
        )
        for w in r["warnings"]:
            typer.secho(f"warning: {w}", fg="yellow", err=True)

    if jsonl is not None and str(jsonl) == "-":
        show = _quiet
    report = run_cli_batch(got.files, task, opts, on_record=show)
    n_failed = len(report.failures) + len(got.problems)
    typer.secho(
        f"{len(report.records) - len(report.failures)} of {len(report.records)} file(s) "
        f"transcribed to {out}" + (f"; {n_failed} failed" if n_failed else ""),
        err=True,
    )
    if n_failed:
        raise typer.Exit(1)


def _quiet(record: dict[str, Any]) -> None:
    """With the JSONL on stdout, only errors are printed (on stderr)."""
    if not record["ok"]:
        typer.secho(f"error: {record['error']}", fg="red", err=True)
