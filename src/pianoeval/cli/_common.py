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
