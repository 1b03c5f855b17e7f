"""The ``pianoeval`` command line: a thin Typer app over the library.

Each command group lives in its own module and imports what it needs inside the command,
so ``pianoeval --help`` stays instant. Errors become a one-line message and an exit code
here, at the edge (:class:`_Commands`): a bad option or argument value (Typer's checks, or
a :class:`~pianoeval.errors.ParameterError` from the library) is a usage error, exit 2;
a bad input (any other :class:`~pianoeval.errors.PianoEvalError`, or an operating-system
error about a named file) is exit 1.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from pianoeval._version import __version__
from pianoeval.cli import (
    analyze,
    audio,
    calibrate,
    compare,
    data,
    dims,
    embed,
    evaluate,
    example,
    label,
    licences,
    manifest,
    rater,
    render,
    select,
    serve,
    train,
    transcribe,
)
from pianoeval.errors import ParameterError, PianoEvalError

#: Exit codes: a bad input, and a usage error (bad option or argument value).
EXIT_INPUT, EXIT_USAGE = 1, 2


class _Commands(TyperGroup):
    """The root command group: maps library errors to a message and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ParameterError as e:
            typer.secho(f"usage error: {e}", fg="red", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        except PianoEvalError as e:
            typer.secho(f"error: {e}", fg="red", err=True)
            raise typer.Exit(EXIT_INPUT) from None
        except OSError as e:
            if e.filename is None:  # not about a file the user named: a bug, keep the trace
                raise
            typer.secho(f"error: {e.filename}: {e.strerror or e}", fg="red", err=True)
            raise typer.Exit(EXIT_INPUT) from None


app = typer.Typer(
    cls=_Commands,
    name="pianoeval",
    help="Rate piano performances and build the raters that do it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(dims.app, name="dims")
app.add_typer(manifest.app, name="manifest")
app.add_typer(audio.app, name="audio")
app.add_typer(data.app, name="data")
app.command("example")(example.example)
app.command("licences")(licences.licences)
app.command("render")(render.render)
app.command("analyze")(analyze.analyze)
app.command("evaluate")(evaluate.evaluate)
app.command("compare")(compare.compare)
app.add_typer(rater.app, name="rater")
app.command("calibrate")(calibrate.calibrate)
app.command("embed")(embed.embed)
app.command("train")(train.train)
app.command("cv")(train.cv)
app.command("select")(select.select)
app.command("transcribe")(transcribe.transcribe)
app.command("serve")(serve.serve)
app.add_typer(label.app, name="label")
app.add_typer(label.anchors_app, name="anchors")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pianoeval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Rate piano performances and build the raters that do it."""


@app.command("versions")
def versions() -> None:
    """Print the versions of pianoeval and its dependencies (for bug reports)."""
    from pianoeval._versions import show_versions

    show_versions()


def main() -> None:
    """Run the CLI (errors become a message and an exit code in :class:`_Commands`)."""
    try:
        app()
    except PianoEvalError as e:  # raised outside a command (e.g. while parsing)
        typer.secho(f"error: {e}", fg="red", err=True)
        sys.exit(EXIT_INPUT)
