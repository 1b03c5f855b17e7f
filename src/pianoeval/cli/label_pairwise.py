"""``pianoeval label pairwise-scores``: Bradley-Terry scores of the pairwise comparisons.

Registers on the ``label`` group of :mod:`pianoeval.cli.label` when imported. Thin: it reads
the comparisons through :class:`pianoeval.label.pairwise.PairStore` and scores them with
:func:`pianoeval.label.pairwise.pairwise_scores`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from pianoeval.cli.label import app

__all__ = ["app", "pairwise_scores_command"]

#: Exit codes of the CLI (as in :mod:`pianoeval.cli`): a bad input, a usage error.
EXIT_INPUT, EXIT_USAGE = 1, 2


@app.command("pairwise-scores")
def pairwise_scores_command(
    db: Annotated[Path, typer.Option("--db", help="The labeling app's SQLite answer store.")],
    admin_token: Annotated[
        str, typer.Option("--admin-token", help="An admin token of that store.")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here (default: print it).")
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest",
            help="The manifest the pairs came from: names each take's passage. Without it, "
            "each connected group of compared takes is a passage.",
        ),
    ] = None,
    group_key: Annotated[
        str, typer.Option("--group-key", help="The groups entry that names the passage.")
    ] = "excerpt",
    alpha: Annotated[
        float, typer.Option("--alpha", help="L2 penalty of the fit, per comparison (> 0).")
    ] = 0.05,
    ties: Annotated[
        str, typer.Option("--ties", help="'same' answers: 'half' a win each way, or 'drop'.")
    ] = "half",
) -> None:
    """Score the pairwise comparisons per dimension and passage (Bradley-Terry, admin only).

    Every rater's comparisons are pooled. Each row of the JSON gives a take's score in
    (0, 1) within its passage (0.5: average take of the passage), its log-strength and its
    number of comparisons; see docs/label-pairwise.md.
    """
    from pianoeval.errors import ParameterError, PianoEvalError

    try:
        _run(db, admin_token, out, manifest, group_key, alpha, ties)
    except ParameterError as e:
        typer.secho(f"usage error: {e}", fg="red", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except PianoEvalError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(EXIT_INPUT) from None


def _run(
    db: Path,
    admin_token: str,
    out: Path | None,
    manifest: Path | None,
    group_key: str,
    alpha: float,
    ties: str,
) -> None:
    import json

    from pianoeval.cli._common import write_text
    from pianoeval.errors import FileProblemError, ParameterError
    from pianoeval.label.pairwise import (
        PairStore,
        pairwise_scores,
        passage_of,
        scores_document,
    )
    from pianoeval.label.store import LabelPermissionError, UnknownTokenError

    if ties not in ("half", "drop"):
        raise ParameterError(f"--ties must be 'half' or 'drop', got {ties!r}")
    if not (alpha > 0):
        raise ParameterError(f"--alpha must be > 0, got {alpha}")
    if not db.is_file():  # never create an empty store by asking for its scores
        raise FileProblemError(db, "no such answer store (give the labeling app's --db file)")
    passages: dict[str, str] | None = None
    if manifest is not None:
        from pianoeval.manifest import read_manifest

        passages = {}
        for seg in read_manifest(manifest, check_media=False):
            p = passage_of(seg, group_key=group_key)
            if p is not None:
                passages[seg.segment_id] = p
    with PairStore(db) as store:
        admin = store.authenticate(admin_token)
        if admin is None:
            raise UnknownTokenError(f"{db}: --admin-token belongs to no rater of this store")
        if not admin.is_admin:
            raise LabelPermissionError(f"{db}: --admin-token is not an admin's token")
        comparisons = store.all_comparisons(admin)
    if passages is not None and manifest is not None:
        unknown = sorted({s for c in comparisons for s in (c.left_id, c.right_id)} - set(passages))
        if unknown:
            raise FileProblemError(
                manifest,
                f"no passage for {len(unknown)} compared take(s) (not in the manifest, or no "
                f"groups[{group_key!r}]): {', '.join(unknown[:5])}",
            )
    t: Literal["half", "drop"] = "half" if ties == "half" else "drop"
    rows = pairwise_scores(comparisons, passages, alpha=alpha, ties=t)
    doc = scores_document(rows, alpha=alpha, ties=t)
    doc["n_comparisons"] = len(comparisons)
    write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", out)
