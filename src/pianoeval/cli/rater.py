"""``pianoeval rater``: rebuild the shipped rater from the data."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pianoeval.cli.data import DataRootOption

app = typer.Typer(
    help="Raters: rebuild the default rater from the labelled data.", no_args_is_help=True
)


class HoldoutSplit(StrEnum):
    """Splits whose test segments a held-out build leaves out."""

    excerpt = "excerpt"
    performer = "performer"


def holdout_out_dir(
    out: Path | None, holdout: str | None, *, shipped: Path | None = None, prefix: str = "rater"
) -> Path:
    """Return where ``rater build`` writes.

    ``--out`` if given, else the shipped rater, or for a held-out build
    ``./<prefix>-holdout-<split>``: a held-out build never replaces the shipped rater
    (``shipped``, default the MIDI rater's folder).

    Raises
    ------
    typer.BadParameter
        If a held-out build would be written over the shipped rater.
    """
    from pianoeval.rater import DEFAULT_DIR

    shipped = shipped if shipped is not None else DEFAULT_DIR
    if holdout is None:
        return out or shipped
    if out is None:
        return Path(f"{prefix}-holdout-{holdout}")
    if out.resolve() == shipped.resolve():
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
    data_root: Annotated[Path | None, DataRootOption] = None,
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


class AudioInputs(StrEnum):
    """The audio rater's inputs (docs/audio-rater.md)."""

    features = "features"
    fusion = "fusion"


class VelocityMode(StrEnum):
    """How transcribed velocities enter the audio rater's features."""

    z = "z"
    raw = "raw"


@app.command("build-audio")
def build_audio(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where to write it (default: the shipped audio rater; with --holdout, "
            "./rater-audio-holdout-<split>).",
        ),
    ] = None,
    data_root: Annotated[Path | None, DataRootOption] = None,
    holdout: Annotated[
        HoldoutSplit | None,
        typer.Option(
            "--holdout",
            help="Leave this split's test segments out of training (excerpt or performer).",
        ),
    ] = None,
    inputs: Annotated[
        AudioInputs,
        typer.Option(
            "--inputs",
            help="features: the transcription's features only (the shipped choice: it "
            "held up best on a renderer held out of training); fusion: also the projected "
            "transkun and mel vectors.",
        ),
    ] = AudioInputs.features,
    velocity: Annotated[
        VelocityMode,
        typer.Option(
            "--velocity",
            help="z: standardise the transcription's velocities per performance (the "
            "shipped choice: absolute velocities depend on the piano); raw: as transcribed.",
        ),
    ] = VelocityMode.z,
    conditions: Annotated[
        list[str] | None,
        typer.Option(
            "--condition",
            help="Audio corpus condition to train on (repeat; default: every packed clean "
            "renderer in benchmarks/data/audio_corpus).",
        ),
    ] = None,
) -> None:
    """Train the audio rater on the packed audio corpus (PercePiano renders) and save it."""
    from pianoeval.data import find_data_root
    from pianoeval.data.audio_corpus import CORPUS_DIR, get_condition
    from pianoeval.rater.audio import AUDIO_DIR
    from pianoeval.train.audio import CLEAN_CONDITIONS, train_audio_rater

    split = holdout.value if holdout is not None else None
    dest = holdout_out_dir(out, split, shipped=AUDIO_DIR, prefix="rater-audio")
    if conditions:
        for c in conditions:
            get_condition(c)  # ParameterError (exit 2) naming the known ones
    else:
        conditions = [c for c in CLEAN_CONDITIONS if (CORPUS_DIR / f"{c}.npz").is_file()]
        if not conditions:
            raise typer.BadParameter(
                f"no packed audio corpus in {CORPUS_DIR}; build it (docs/audio-rater.md)",
                param_hint="--condition",
            )
    root = find_data_root(data_root, dataset="percepiano")
    from pianoeval.model.audio import DEFAULT_PROJECTIONS

    projections = DEFAULT_PROJECTIONS if inputs is AudioInputs.fusion else {}
    rater = train_audio_rater(
        root,
        dest,
        conditions=conditions,
        holdout=split,
        velocity=velocity.value,
        projections=projections,
    )
    where = "the package" if out is None and split is None else str(dest)
    typer.echo(f"trained on {', '.join(conditions)}; saved to {where}")
    held = rater.metadata["training_data"].get("holdout")
    if held is not None:
        typer.echo(f"held out: {held['split']} split test ({held['n_segments']} segments)")
