"""Commands of ``pianoeval label`` that run the app: ``label serve`` and ``label add-rater``.

Registered on the group of :mod:`pianoeval.cli.label`. FastAPI and uvicorn are imported inside
``serve``, so ``pianoeval --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pianoeval.cli.label import anchors_app, app

__all__ = ["add_rater", "anchors_app", "app", "serve"]


@app.command("serve")
def serve(
    queue: Annotated[
        Path, typer.Option("--queue", help="Queue manifest (pianoeval select's output).")
    ],
    db: Annotated[Path, typer.Option("--db", help="Answer store (SQLite; created if missing).")],
    anchors: Annotated[
        Path | None, typer.Option("--anchors", help="Anchors JSON shown beside each slider.")
    ] = None,
    honeypots: Annotated[
        Path | None,
        typer.Option("--honeypots", help="Manifest of segments with human labels (QC)."),
    ] = None,
    media_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--media-root",
            help="Folder media may be read from (repeat; default: the folders of the queue, "
            "honeypots and anchors). MIDI renders are cached in the first one.",
        ),
    ] = None,
    soundfont: Annotated[
        str, typer.Option("--soundfont", help="SoundFont for MIDI-only rows (key or path).")
    ] = "fluidr3_gm",
    n_raters: Annotated[int, typer.Option("--n-raters", min=1, help="Raters per segment.")] = 3,
    honeypot_rate: Annotated[
        float,
        typer.Option(
            "--honeypot-rate", min=0.0, max=0.5, help="Share of items that are honeypots."
        ),
    ] = 0.1,
    rerate_rate: Annotated[
        float,
        typer.Option("--rerate-rate", min=0.0, max=1.0, help="Share of segments re-rated later."),
    ] = 0.05,
    rerate_after: Annotated[
        int,
        typer.Option("--rerate-after", min=1, help="Items between a segment and its re-rating."),
    ] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the assignment.")] = 0,
    min_listen_fraction: Annotated[
        float,
        typer.Option(
            "--min-listen-fraction",
            min=0.0,
            max=1.0,
            help="Share of a segment's length before its heard event is accepted.",
        ),
    ] = 0.9,
    lease_minutes: Annotated[
        float,
        typer.Option(
            "--lease-minutes",
            min=0.0,
            help="An item left open this long without activity stops counting toward its "
            "segment's raters (0: never).",
        ),
    ] = 30.0,
    pairwise: Annotated[
        bool,
        typer.Option(
            "--pairwise/--no-pairwise",
            help="Also serve the pairwise mode at /pairwise/ (takes of one passage compared).",
        ),
    ] = False,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8100,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Serve a queue to raters (page at /, API under /api); answers go to --db at once."""
    try:
        import uvicorn

        from pianoeval.label.app import create_label_app
    except ImportError as e:
        from pianoeval.errors import BackendUnavailableError

        raise BackendUnavailableError(
            "the labeling app", "pip install 'pianoeval[label]'", reason=str(e)
        ) from None
    web = create_label_app(
        queue,
        db,
        anchors,
        media_roots=media_root or None,
        honeypots=honeypots,
        n_raters=n_raters,
        honeypot_rate=honeypot_rate,
        rerate_rate=rerate_rate,
        rerate_after=rerate_after,
        seed=seed,
        soundfont=soundfont,
        min_listen_fraction=min_listen_fraction,
        lease_minutes=lease_minutes,
        pairwise=pairwise,
    )
    typer.echo(f"pianoeval label serve: http://{host}:{port}/", err=True)
    uvicorn.run(web, host=host, port=port, log_level=log_level)


@app.command("add-rater")
def add_rater(
    name: Annotated[str, typer.Argument(help="The rater's display name.")],
    db: Annotated[Path, typer.Option("--db", help="Answer store (SQLite; created if missing).")],
    admin: Annotated[
        bool, typer.Option("--admin", help="May export every answer and read QC.")
    ] = False,
) -> None:
    """Add a rater and print their token once (only its hash is stored)."""
    from pianoeval.label.store import AnswerStore

    with AnswerStore(db) as store:
        rater_id, token = store.add_rater(name, admin=admin)
    typer.echo(f"rater {rater_id} ({name.strip()}{', admin' if admin else ''}): token below, "
               "shown once; keep it", err=True)  # fmt: skip
    typer.echo(token)
