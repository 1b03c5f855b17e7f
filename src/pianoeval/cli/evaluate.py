"""``pianoeval evaluate``: a whole performance rated over time and bar by bar, with advice.

The work is :func:`pianoeval.rater.performance.evaluate_performance`; this module expands
the inputs (files, folders, globs, manifests), prints or writes each result (a terminal
table, JSON, or one self-contained HTML page per input) and sets the exit code: every
input that can be rated is, each one that cannot is reported on stderr and skipped, and
the exit code is 1 if any failed. ``--example`` evaluates the bundled example performance
with its score.

The batch options (``--engine local|dask``, ``--scheduler``, ``--workers``,
``--threads-per-worker``, ``--jsonl PATH|-``, ``--jsonl-sorted``) mean what they mean in
``pianoeval analyze``: with ``--engine dask`` or ``--jsonl`` the inputs go through
:func:`pianoeval.batch.run_batch` with :class:`~pianoeval.batch.EvaluateTask`
(``whole=True``), here or on a Dask cluster, one JSON line per input; the table, JSON or
HTML pages are then made from those records. Without them the inputs are evaluated here,
one after the other, with the OpenMP/BLAS threads fixed to ``--threads`` (default 1).
"""

from __future__ import annotations

from enum import StrEnum
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
    check_backend,
    check_bundles,
    echo_json,
    load_bundles,
    print_table,
    write_text,
)

if TYPE_CHECKING:
    from pianoeval.batch import EvaluateTask
    from pianoeval.model.audio import AudioRater
    from pianoeval.model.symbolic import SymbolicRater
    from pianoeval.rater import Rating
    from pianoeval.rater.result import WindowRating


class EvaluateFormat(StrEnum):
    """What ``pianoeval evaluate`` writes."""

    table = "table"
    json = "json"
    html = "html"


def evaluate(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Recordings (wav, flac, ogg, mp3) or performance MIDI files; folders, glob "
            "patterns and manifests (.jsonl) are expanded.",
            show_default=False,
        ),
    ] = None,
    score: Annotated[
        Path | None,
        typer.Option("--score", help="Score of the piece played: a score MIDI or MusicXML."),
    ] = None,
    fmt: Annotated[
        EvaluateFormat,
        typer.Option("--format", help="table (terminal), json, or html (one page per input)."),
    ] = EvaluateFormat.table,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="json: the file to write; html: the file (one input) or a folder (several). "
            "Default: print (json) or <input name>.html in the current folder (html).",
        ),
    ] = None,
    example: Annotated[
        bool, typer.Option("--example", help="Evaluate the bundled example performance.")
    ] = False,
    backend: Annotated[
        str, typer.Option("--backend", help="Transcription backend for recordings.")
    ] = "transkun",
    rater_dir: Annotated[
        Path | None, typer.Option("--rater", help="MIDI rater bundle (default: the shipped one).")
    ] = None,
    audio_rater: Annotated[
        Path | None,
        typer.Option("--audio-rater", help="Audio rater bundle (default: the shipped one)."),
    ] = None,
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
    """Evaluate whole performances: scores with intervals, a timeline, per-bar feedback."""
    from pianoeval.batch import collect_inputs
    from pianoeval.constants import AUDIO_SUFFIXES, MIDI_SUFFIXES
    from pianoeval.errors import FileProblemError, PianoEvalError
    from pianoeval.rater.evaluate import _is_global_problem

    check_backend(backend)
    specs: list[str | Path] = [*(inputs or [])]
    if example:
        from pianoeval.examples import example_midi_path, example_score_path

        specs.append(example_midi_path())
        score = score or example_score_path()
    if not specs:
        raise typer.BadParameter("give at least one recording or MIDI file, or --example")
    if score is not None and not score.is_file():
        raise typer.BadParameter(f"{score}: no such score file", param_hint="--score")
    opts = BatchOptions(engine, scheduler, workers, threads_per_worker, jsonl, jsonl_sorted)
    opts.progress = progress
    opts.check()
    got = collect_inputs(specs, AUDIO_SUFFIXES | MIDI_SUFFIXES)
    for problem in got.problems:
        typer.secho(f"error: {problem}", fg="red", err=True)
    files = got.files
    if fmt is EvaluateFormat.html and out is not None and len(files) > 1 and out.suffix:
        raise typer.BadParameter(
            f"{out}: several inputs write several pages: give a folder", param_hint="--out"
        )
    if opts.uses_batch_layer:
        check_bundles(rater_dir, audio_rater)
        from pianoeval.batch import EvaluateTask

        task = EvaluateTask(
            score=None if score is None else str(score),
            backend=backend,
            rater_dir=None if rater_dir is None else str(rater_dir),
            audio_rater_dir=None if audio_rater is None else str(audio_rater),
            whole=True,
        )
        _evaluate_batch(files, task, opts, fmt=fmt, out=out, n_problems=len(got.problems))
        return
    rater, audio = _raters(rater_dir, audio_rater)
    if rater is None:
        from pianoeval.rater.bundle import default_rater

        # loaded before the threads are limited: threadpoolctl limits loaded libraries only
        rater = default_rater()

    from pianoeval.cli._batch import limited_threads
    from pianoeval.rater.performance import evaluate_performance

    ratings: list[Rating] = []
    failed = len(got.problems)
    from tqdm.auto import tqdm

    for path in tqdm(files, desc="evaluate", unit="file", disable=len(files) < 2, leave=False):
        try:
            with limited_threads(threads):  # per file: reaches libraries the last one loaded
                r = evaluate_performance(
                    path, score=score, rater=rater, audio_rater=audio, backend=backend
                )
        except FileProblemError as e:
            typer.secho(f"error: {e}", fg="red", err=True)
            failed += 1
            continue
        except PianoEvalError as e:
            if _is_global_problem(e):
                raise
            typer.secho(f"error: {path}: {e}", fg="red", err=True)
            failed += 1
            continue
        ratings.append(r)
        if fmt is EvaluateFormat.table:
            print_evaluation(r)
        elif fmt is EvaluateFormat.html:
            _write_html(r, out, several=len(files) > 1)
    if fmt is EvaluateFormat.json:
        import json

        if len(files) == 1 and ratings:
            payload = ratings[0].model_dump(mode="json")
        else:
            from pianoeval.rater import AnalysisReport

            payload = AnalysisReport(ratings=ratings).model_dump(mode="json")
        if out is None:
            echo_json(payload)
        else:
            write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", out)
    if failed:
        raise typer.Exit(1)


def _raters(
    rater_dir: Path | None, audio_dir: Path | None
) -> tuple[SymbolicRater | None, AudioRater | None]:
    """Load the raters named on the command line (None: the shipped ones, loaded later)."""
    return load_bundles(rater_dir, audio_dir)


def _evaluate_batch(
    files: list[Path],
    task: EvaluateTask,
    opts: BatchOptions,
    *,
    fmt: EvaluateFormat,
    out: Path | None,
    n_problems: int,
) -> None:
    """Evaluate through :func:`pianoeval.batch.run_batch` (--engine dask, --jsonl).

    Each record that comes back is shown as it finishes (a table, or an HTML page written);
    JSON is printed (or written to ``--out``) at the end. With ``--jsonl -`` stdout is the
    JSONL: no table or JSON is printed, only errors on stderr (HTML pages and a JSON
    ``--out`` file are still written).
    """
    from pianoeval.cli._batch import run_cli_batch
    from pianoeval.rater import AnalysisReport, Rating

    jsonl_on_stdout = opts.jsonl is not None and str(opts.jsonl) == "-"
    several = len(files) > 1

    def on_record(record: dict[str, Any]) -> None:
        if not record["ok"]:
            typer.secho(f"error: {record['error']}", fg="red", err=True)
            return
        if fmt is EvaluateFormat.html:
            rating = Rating.model_validate(record["result"])
            _write_html(rating, out, several=several, say_on_stderr=jsonl_on_stdout)
        elif fmt is EvaluateFormat.table and not jsonl_on_stdout:
            print_evaluation(Rating.model_validate(record["result"]))

    report = run_cli_batch(files, task, opts, on_record=on_record)
    if fmt is EvaluateFormat.json and (out is not None or not jsonl_on_stdout):
        import json

        ratings = [Rating.model_validate(r) for r in report.results()]
        if len(files) == 1 and ratings:
            payload = ratings[0].model_dump(mode="json")
        else:
            payload = AnalysisReport(ratings=ratings).model_dump(mode="json")
        if out is None:
            echo_json(payload)
        else:
            text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
            _write_file(text, out, say_on_stderr=jsonl_on_stdout)
    if report.failures or n_problems:
        raise typer.Exit(1)


def _write_html(r: Rating, out: Path | None, *, several: bool, say_on_stderr: bool = False) -> None:
    """Write the rating's page; say where on stdout (stderr when stdout is the JSONL)."""
    from pianoeval.report import rating_html

    name = Path(r.input.path).stem + ".html"
    if out is None:
        target = Path(name)
    elif several or out.is_dir() or not out.suffix:
        out.mkdir(parents=True, exist_ok=True)
        target = out / name
    else:
        target = out
    _write_file(rating_html(r), target, say_on_stderr=say_on_stderr)


def _write_file(text: str, target: Path, *, say_on_stderr: bool) -> None:
    """Write ``text`` atomically and say so (on stderr when stdout carries the JSONL)."""
    if not say_on_stderr:
        write_text(text, target)
        return
    from pianoeval.manifest import atomic_write

    with atomic_write(target) as fh:
        fh.write(text)
    typer.echo(f"wrote {target}", err=True)


def print_evaluation(r: Rating) -> None:
    """Print a rating as terminal tables: scores, advice, the timeline and standout bars."""
    from pianoeval.cli.analyze import _print_rating

    _print_rating(r)
    if r.advice:
        typer.secho("\nwhat to practise:", bold=True)
        for k, a in enumerate(r.advice, 1):
            typer.echo(f"  {k}. {a.text}")
    if r.windows:
        names = [s.name for s in r.scores]
        spread = sorted(
            names,
            key=lambda n: -_range([w for w in r.windows if w.scores], n),
        )[:5]
        rows = []
        for w in r.windows:
            vals = {s.name: s.value for s in w.scores}
            span = f"{_clock(w.start_sec)}-{_clock(w.end_sec)}"
            if w.bar_start is not None:
                span += f" (bars {w.bar_start}-{w.bar_end})"
            rows.append([span, *(f"{vals[n]:.2f}" if n in vals else "-" for n in spread)])
        print_table(
            f"over time: {len(r.windows)} windows (the 5 dimensions that vary most)",
            ["window", *spread],
            rows,
        )
    marked = [b for b in r.bars if b.standout]
    if r.bars:
        print_table(
            f"bars that stand out ({len(marked)} of {len(r.bars)})",
            ["bar", "time", "what", "missed", "wrong", "extra", "tempo", "pedal through changes"],
            [
                [
                    b.bar,
                    f"{b.start_sec:.1f}-{b.end_sec:.1f} s",
                    ", ".join(b.standout),
                    b.n_missing,
                    b.n_wrong_pitch,
                    b.n_extra,
                    "-" if b.tempo_ratio is None else f"{b.tempo_ratio:.2f}",
                    "-" if b.pedal_blur is None else f"{b.pedal_blur:.0%}",
                ]
                for b in marked
            ],
        )
    if r.timings:
        typer.echo(
            "timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in r.timings.items()), err=True
        )


def _range(windows: list[WindowRating], name: str) -> float:
    vals = [s.value for w in windows for s in w.scores if s.name == name]
    return max(vals) - min(vals) if vals else 0.0


def _clock(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60.0)
    return f"{int(m)}:{s:04.1f}"
