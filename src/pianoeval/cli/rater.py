"""``pianoeval rater``: rebuild the shipped rater from the data."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Raters: rebuild the default rater from the labelled data.", no_args_is_help=True
)


class HoldoutSplit(StrEnum):
    """Splits whose test segments a held-out build leaves out."""

    excerpt = "excerpt"
    performer = "performer"


def holdout_out_dir(out: Path | None, holdout: str | None) -> Path:
    """Return where ``rater build`` writes.

    ``--out`` if given, else the shipped rater, or for a held-out build
    ``./rater-holdout-<split>``: a held-out build never replaces the shipped rater.

    Raises
    ------
    typer.BadParameter
        If a held-out build would be written over the shipped rater.
    """
    from pianoeval.rater import DEFAULT_DIR

    if holdout is None:
        return out or DEFAULT_DIR
    if out is None:
        return Path(f"rater-holdout-{holdout}")
    if out.resolve() == DEFAULT_DIR.resolve():
        raise typer.BadParameter(
            "a held-out build must not replace the shipped rater; choose another --out",
            param_hint="--out",
        )
    return out


@app.command("build")
def build(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where to write it (default: the shipped one; with --holdout, "
            "./rater-holdout-<split>).",
        ),
    ] = None,
    data_root: Annotated[
        Path | None,
        typer.Option(
            "--data-root", help="Datasets folder (default: $PIANOEVAL_DATA, else ../shared/data)."
        ),
    ] = None,
    holdout: Annotated[
        HoldoutSplit | None,
        typer.Option(
            "--holdout",
            help="Leave this split's test segments out of training (excerpt or performer), "
            "so its held-out figures can be checked with your own MIDI or audio.",
        ),
    ] = None,
) -> None:
    """Train the first rater on every labelled PercePiano segment and save it."""
    from pianoeval.data import find_data_root
    from pianoeval.train import train_default_rater

    split = holdout.value if holdout is not None else None
    dest = holdout_out_dir(out, split)
    root = find_data_root(data_root, dataset="percepiano")
    rater = train_default_rater(root, dest, holdout=split)
    where = "the package" if out is None and split is None else str(dest)
    typer.echo(f"trained on {len(rater.dims)} dimensions; saved to {where}")
    if split is not None:
        typer.echo(f"held out: {rater.metadata['training_data']['held_out']}")
