"""Small helpers shared by the command modules."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer


class OutputFormat(StrEnum):
    """How a command prints its result."""

    table = "table"
    json = "json"


def echo_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout."""
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False))


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Print a rich table on stdout; the first column (the row names) is never cut short."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    first = max([len(str(columns[0]))] + [len(str(r[0])) for r in rows]) if columns else 0
    for i, c in enumerate(columns):
        if i == 0:
            table.add_column(c, min_width=first, no_wrap=True)
        else:
            table.add_column(c)
    for r in rows:
        table.add_row(*(str(x) for x in r))
    Console().print(table)


FormatOption = typer.Option("--format", help="Output format: table or json.")
#: Worker processes, the one spelling for every command that spreads work over processes.
JobsOption = typer.Option(
    "--jobs", "-j", min=1, help="Worker processes (default: one per CPU, at most 8)."
)


def write_text(text: str, out: Path | None) -> None:
    """Print ``text``, or write it atomically to ``out`` and say so."""
    if out is None:
        typer.echo(text, nl=False)
        return
    from pianoeval.manifest import atomic_write

    with atomic_write(out) as fh:
        fh.write(text)
    typer.echo(f"wrote {out}")


def check_backend(backend: str) -> None:
    """Refuse an unknown transcription backend (a usage error naming the known ones)."""
    from pianoeval.symbolic.transcribe import BACKENDS

    if backend not in BACKENDS.names():
        raise typer.BadParameter(
            f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS.names())}",
            param_hint="--backend",
        )


def check_bundles(rater_dir: Path | None, audio_dir: Path | None) -> None:
    """Refuse a --rater or --audio-rater folder that is not a bundle (nothing loaded)."""
    if rater_dir is not None and not (rater_dir / "rater.json").is_file():
        raise typer.BadParameter(
            f"{rater_dir}: not a MIDI rater bundle (no rater.json)", param_hint="--rater"
        )
    if audio_dir is not None:
        from pianoeval.model.audio import is_audio_bundle

        if not audio_dir.is_dir() or not is_audio_bundle(audio_dir):
            raise typer.BadParameter(
                f"{audio_dir}: not an audio rater bundle (no audio_rater.json)",
                param_hint="--audio-rater",
            )


def load_bundles(rater_dir: Path | None, audio_dir: Path | None) -> tuple[Any, Any]:
    """Check and load the raters named on the command line (None: the shipped ones).

    Returns ``(SymbolicRater or None, AudioRater or None)``.
    """
    check_bundles(rater_dir, audio_dir)
    rater = audio = None
    if rater_dir is not None:
        from pianoeval.model.symbolic import SymbolicRater

        rater = SymbolicRater.load(rater_dir)
    if audio_dir is not None:
        from pianoeval.model.audio import AudioRater

        audio = AudioRater.load(audio_dir)
    return rater, audio
