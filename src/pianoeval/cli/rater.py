"""``pianoeval rater``: rebuild the shipped rater from the data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Raters: rebuild the default rater from the labelled data.", no_args_is_help=True
)


@app.command("build")
def build(
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write it (default: the shipped one).")
    ] = None,
    data_root: Annotated[
        Path | None,
        typer.Option(
            "--data-root", help="Datasets folder (default: $PIANOEVAL_DATA, else ../shared/data)."
        ),
    ] = None,
) -> None:
    """Train the first rater on every labelled PercePiano segment and save it."""
    from pianoeval.data import find_data_root
    from pianoeval.rater import DEFAULT_DIR
    from pianoeval.train import train_default_rater

    root = find_data_root(data_root, dataset="percepiano")
    rater = train_default_rater(root, out or DEFAULT_DIR)
    typer.echo(f"trained on {len(rater.dims)} dimensions; saved to {out or 'the package'}")
