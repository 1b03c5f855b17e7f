"""``pianoeval analyze``: rate performances and print the ratings.

The work is :func:`pianoeval.rater.evaluate_many` (MIDI directly, audio transcribed first,
``--score`` used when it matches); this module only expands folders, glob patterns and
manifests, prints and sets the exit code: every input that can be rated is rated, each one
that cannot is reported on stderr, and the exit code is 1 if any failed. With
``--engine dask`` or ``--jsonl`` the same ratings come from :func:`pianoeval.batch.run_batch`
(:class:`~pianoeval.batch.EvaluateTask`), on a Dask cluster or here, one JSON line per
input; without them the OpenMP/BLAS threads are fixed to ``--threads`` (default 1) while
rating. ``--example`` rates the bundled example
performance (made by the project), so it runs without any data root.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pianoeval.cli._batch import (
    BatchOptions,
    Engine,
    EngineOption,
    JsonlOption,
    JsonlSortedOption,
    SchedulerOption,
    ThreadsOption,
    ThreadsPerWorkerOption,
    WorkersOption,
)
from pianoeval.cli._common import (
    FormatOption,
    OutputFormat,
    check_backend,
    check_bundles,
    echo_json,
    load_bundles,
    print_table,
)

if TYPE_CHECKING:
    from pianoeval.batch import EvaluateTask
    from pianoeval.rater import FailedInput, Rating
    from pianoeval.rater.result import DimensionScore


def analyze(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Performance MIDI or audio files, folders to search for them, glob "
            "patterns ('takes/*.mid') or manifests (.jsonl: their midi_uri or audio_uri)."
        ),
    ] = None,
    score: Annotated[
        Path | None, typer.Option("--score", help="Score (MIDI) of the passage played.")
    ] = None,
    example: Annotated[
        bool, typer.Option("--example", help="Analyse the bundled example performance.")
    ] = False,
    backend: Annotated[
        str, typer.Option("--backend", help="Transcription backend for audio inputs.")
    ] = "transkun",
    rater_dir: Annotated[
        Path | None,
        typer.Option(
            "--rater",
            help="MIDI rater bundle (default: the shipped one), e.g. one calibrated by "
            "`pianoeval calibrate` or a held-out build.",
        ),
    ] = None,
    audio_rater: Annotated[
        Path | None,
        typer.Option(
            "--audio-rater",
            help="Audio rater bundle for recordings (default: the shipped one), e.g. a "
            "held-out build from `pianoeval rater build-audio --holdout`.",
        ),
    ] = None,
    midi_rater_for_audio: Annotated[
        bool,
        typer.Option(
            "--midi-rater-for-audio",
            help="Rate recordings with the MIDI rater on their transcription (the path "
            "before the audio rater; for comparison).",
        ),
    ] = False,
    fmt: Annotated[OutputFormat, FormatOption] = OutputFormat.table,
    threads: Annotated[int, ThreadsOption] = 1,
    engine: Annotated[Engine, EngineOption] = Engine.local,
    scheduler: Annotated[str | None, SchedulerOption] = None,
    workers: Annotated[int, WorkersOption] = 2,
    threads_per_worker: Annotated[int, ThreadsPerWorkerOption] = 1,
    jsonl: Annotated[Path | None, JsonlOption] = None,
    jsonl_sorted: Annotated[bool, JsonlSortedOption] = False,
    progress: Annotated[
        bool, typer.Option(help="Progress bar on stderr (with --engine dask or --jsonl).")
    ] = True,
) -> None:
    """Rate performances: 19 PercePiano scores and a feature summary (MIDI or recordings)."""
    from pianoeval.batch import collect_inputs
    from pianoeval.constants import AUDIO_SUFFIXES, MIDI_SUFFIXES
    from pianoeval.rater import FailedInput, evaluate_many

    check_backend(backend)
    paths = list(inputs or [])
    if example:
        from pianoeval.examples import example_midi_path, example_score_path

        paths.append(example_midi_path())
        score = score or example_score_path()
    if not paths:
        raise typer.BadParameter("give at least one MIDI or audio file, or --example")
    opts = BatchOptions(engine, scheduler, workers, threads_per_worker, jsonl, jsonl_sorted)
    opts.progress = progress
    opts.check()
    got = collect_inputs(paths, AUDIO_SUFFIXES | MIDI_SUFFIXES)
    files, problems = got.files, got.problems
    for problem in problems:
        typer.secho(f"error: {problem}", fg="red", err=True)

    def show(item: Rating | FailedInput) -> None:
        if isinstance(item, FailedInput):
            typer.secho(f"error: {item.error}", fg="red", err=True)
        elif fmt is OutputFormat.table:
            _print_rating(item)

    check_bundles(rater_dir, audio_rater)
    midi_rater, audio = (None, None)
    if not opts.uses_batch_layer:
        midi_rater, audio = load_bundles(rater_dir, audio_rater)
    if opts.uses_batch_layer:
        from pianoeval.batch import EvaluateTask

        task = EvaluateTask(
            score=None if score is None else str(score),
            backend=backend,
            rater_dir=None if rater_dir is None else str(rater_dir),
            audio_rater_dir=None if audio_rater is None else str(audio_rater),
            use_audio_rater=not midi_rater_for_audio,
        )
        _analyze_batch(files, task, opts, fmt=fmt, show=show, n_problems=len(problems))
        return
    if midi_rater is None:
        from pianoeval.rater.bundle import default_rater

        # loaded before the threads are limited: threadpoolctl limits loaded libraries only
        midi_rater = default_rater()
    from pianoeval.cli._batch import limited_threads

    with limited_threads(threads):
        report = evaluate_many(
            files,
            score=score,
            rater=midi_rater,
            backend=backend,
            on_result=show,
            audio_rater=audio,
            use_audio_rater=not midi_rater_for_audio,
        )
    if fmt is OutputFormat.json:
        echo_json(report.model_dump(mode="json"))
    if report.failures or problems:
        raise typer.Exit(1)


def _analyze_batch(
    files: list[Path],
    task: EvaluateTask,
    opts: BatchOptions,
    *,
    fmt: OutputFormat,
    show: Callable[[Rating | FailedInput], None],
    n_problems: int,
) -> None:
    """Rate through :func:`pianoeval.batch.run_batch` (--engine dask, --jsonl)."""
    from pianoeval.cli._batch import run_cli_batch
    from pianoeval.rater import AnalysisReport, FailedInput, Rating

    jsonl_on_stdout = opts.jsonl is not None and str(opts.jsonl) == "-"

    def item(record: dict[str, Any]) -> Rating | FailedInput:
        if record["ok"]:
            return Rating.model_validate(record["result"])
        return FailedInput(path=record["path"], error=record["error"])

    def on_record(record: dict[str, Any]) -> None:
        if jsonl_on_stdout:  # stdout is the JSONL: only errors, on stderr
            if not record["ok"]:
                typer.secho(f"error: {record['error']}", fg="red", err=True)
            return
        show(item(record))

    report = run_cli_batch(files, task, opts, on_record=on_record)
    if fmt is OutputFormat.json and not jsonl_on_stdout:
        items = [item(r) for r in report.records]
        echo_json(
            AnalysisReport(
                ratings=[x for x in items if isinstance(x, Rating)],
                failures=[x for x in items if isinstance(x, FailedInput)],
            ).model_dump(mode="json")
        )
    if report.failures or n_problems:
        raise typer.Exit(1)


def _print_rating(r: Rating) -> None:
    src = (
        f"audio, {r.input.duration_sec:.1f} s, transcribed with {r.input.transcription.backend}"
        if r.input.transcription is not None
        else f"MIDI, {r.input.duration_sec:.1f} s"
    )
    score = ""
    if r.score is not None:
        score = f", score {r.score.path}" + ("" if r.score.used else " (not used)")
    typer.echo(f"\n{r.input.path}: {r.input.n_notes} notes ({src}){score}")
    for w in r.warnings:
        typer.secho(f"warning: {w}", fg="yellow")
    if r.caution:
        typer.echo(f"caution: {r.caution}")
    print_table(
        "performance features", ["feature", "value"], [[s.label, s.text] for s in r.summary]
    )
    levels = {s.interval_level for s in r.scores if s.interval_level is not None}
    if not levels:
        print_table(
            f"{r.model_id} ({r.taxonomy}, 1/7 = low end, 1 = high end; no calibration: "
            "no intervals)",
            ["dimension", "low end", "score", "", "high end"],
            [[s.name, s.low, f"{s.value:.2f}", _bar(s.value), s.high] for s in r.scores],
        )
        return
    level = f"{max(levels):.0%} interval"
    print_table(
        f"{r.model_id} ({r.taxonomy}, 1/7 = low end, 1 = high end; calibrated, with the "
        f"{level} of each score)",
        ["dimension", "low end", "score", level, "", "high end"],
        [
            [
                s.name,
                s.low,
                f"{s.value:.2f}",
                _interval(s),
                _bar(s.value, interval=(s.interval_low, s.interval_high)),
                s.high,
            ]
            for s in r.scores
        ],
    )


def _interval(s: DimensionScore) -> str:
    if s.interval_low is None or s.interval_high is None:
        return "-"
    return f"{s.interval_low:.2f}-{s.interval_high:.2f}"


def _bar(
    value: float,
    width: int = 12,
    *,
    interval: tuple[float | None, float | None] = (None, None),
) -> str:
    """Place a value of the label range on a small text scale (its interval drawn as ─)."""
    from pianoeval.constants import LABEL_CEILING, LABEL_FLOOR

    span = LABEL_CEILING - LABEL_FLOOR

    def pos(v: float) -> int:
        return round((min(max(v, LABEL_FLOOR), LABEL_CEILING) - LABEL_FLOOR) / span * (width - 1))

    cells = ["·"] * width
    lo, hi = interval
    if lo is not None and hi is not None:
        for i in range(pos(lo), pos(hi) + 1):
            cells[i] = "─"
    cells[pos(value)] = "●"
    return "".join(cells)
