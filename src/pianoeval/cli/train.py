"""``pianoeval train`` and ``pianoeval cv``: neural training with Hydra overrides.

Both take Hydra overrides as arguments (``model.net.hidden=64 trainer=ddp debug=default``;
the config groups are in ``docs/training.md``). Torch, Lightning and Hydra are imported
inside the commands, so ``pianoeval --help`` does not pay for them. A bad override is a
usage error (exit 2); a missing optional logger package is exit 1.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pianoeval.errors import ParameterError, PianoEvalError

EXIT_INPUT, EXIT_USAGE = 1, 2

app = typer.Typer(
    help="Neural training: train a rater or cross-validate one (Hydra overrides).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_OVERRIDES = typer.Argument(
    help="Hydra overrides, e.g. debug=default model.net.hidden=64 trainer=ddp "
    "data=manifest data.manifest=m.jsonl +data.features.emb.transkun=t.npz"
)


def _fail(e: PianoEvalError) -> typer.Exit:
    code = EXIT_USAGE if isinstance(e, ParameterError) else EXIT_INPUT
    typer.secho(f"{'usage error' if code == EXIT_USAGE else 'error'}: {e}", fg="red", err=True)
    return typer.Exit(code)


@app.command("train")
def train(overrides: Annotated[list[str] | None, _OVERRIDES] = None) -> None:
    """Train a neural rater and write its bundle (``paths.bundle_dir``)."""
    from pianoeval.train.run import compose
    from pianoeval.train.run import train as run_train

    try:
        cfg = compose("train", overrides or [])
        result = run_train(cfg)
    except PianoEvalError as e:
        raise _fail(e) from None
    if result.bundle_dir is not None:
        shown = ", ".join(
            f"{k} {v:.4f}" for k, v in sorted(result.metrics.items()) if k.count("/") == 1
        )
        typer.echo(f"bundle: {result.bundle_dir}")
        if shown:
            typer.echo(shown)


@app.command("cv")
def cv(
    overrides: Annotated[list[str] | None, _OVERRIDES] = None,
    split: Annotated[
        str, typer.Option("--split", help="Which split: excerpt, performer or work.")
    ] = "excerpt",
) -> None:
    """Cross-validate on every fold of a split plus its test set; write a Markdown report."""
    if split not in ("excerpt", "performer", "work"):
        typer.secho(
            f"usage error: --split must be excerpt, performer or work, not {split!r}",
            fg="red",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE)
    from pianoeval.train.run import compose, cross_validate_neural

    try:
        cfg = compose("cv", [f"split={split}", *(overrides or [])])
        result = cross_validate_neural(cfg)
    except PianoEvalError as e:
        raise _fail(e) from None
    test = f"{result.test_r2:.4f}" if result.test_r2 is not None else "n/a"
    typer.echo(f"{split} split: CV mean R2 {result.cv_r2:.4f}, test {test}")
    typer.echo(f"report: {result.report_path}")
