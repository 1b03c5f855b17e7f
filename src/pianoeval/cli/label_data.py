"""Commands of ``pianoeval label`` and ``pianoeval anchors`` for the labels' data side.

``label qc``, ``label export``, ``label ls-export``, ``label ls-import`` and
``anchors build``; each parses its options and calls :mod:`pianoeval.label.qc`,
:mod:`pianoeval.label.export`, :mod:`pianoeval.label.labelstudio` or
:mod:`pianoeval.label.anchors`. Reading the answer store's rows needs an admin token:
``--admin-token`` or the ``PIANOEVAL_LABEL_ADMIN_TOKEN`` environment variable.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pianoeval.cli.label import anchors_app, app

if TYPE_CHECKING:
    from pianoeval.manifest import Segment

__all__ = ["anchors_app", "app"]

#: Environment variable read when ``--admin-token`` is not given.
ADMIN_TOKEN_ENV = "PIANOEVAL_LABEL_ADMIN_TOKEN"

AdminToken = Annotated[
    str | None,
    typer.Option(
        "--admin-token",
        envvar=ADMIN_TOKEN_ENV,
        help=f"An admin token of the store (or set {ADMIN_TOKEN_ENV}).",
        show_envvar=False,
    ),
]


class QCFormat(StrEnum):
    """Output formats of ``label qc``."""

    table = "table"
    json = "json"
    html = "html"


class ConsensusChoice(StrEnum):
    """How the answers of a dimension are combined."""

    median = "median"
    mean = "mean"


class AnchorSource(StrEnum):
    """Where anchors come from."""

    auto = "auto"
    human = "human"
    pseudo = "pseudo"


class Widget(StrEnum):
    """The Label Studio control per dimension."""

    slider = "slider"
    rating = "rating"


def _existing(path: Path, what: str, hint: str) -> None:
    if not path.is_file():
        raise typer.BadParameter(f"{path}: {what} does not exist", param_hint=hint)


def _store_rows(
    db: Path, admin_token: str | None, *, rerates: bool = False
) -> list[dict[str, Any]]:
    """Open the store and return its export rows (with re-rates as attempt 2), as an admin."""
    from pianoeval.label import AnswerStore, LabelPermissionError, UnknownTokenError
    from pianoeval.label.qc import store_answer_rows

    _existing(db, "answer store", "--db")
    if not admin_token:
        raise typer.BadParameter(
            f"reading every answer needs an admin token: give --admin-token or set "
            f"{ADMIN_TOKEN_ENV}",
            param_hint="--admin-token",
        )
    with AnswerStore(db) as store:
        admin = store.authenticate(admin_token)
        if admin is None:
            raise UnknownTokenError(f"{db}: --admin-token belongs to no rater of this store")
        if not admin.is_admin:
            raise LabelPermissionError(f"{db}: --admin-token is not an admin's token")
        return store_answer_rows(store, admin) if rerates else store.export_rows(admin)


def _read(path: Path, hint: str, *, check_media: bool = False) -> list[Segment]:
    from pianoeval.manifest import read_manifest

    _existing(path, "manifest", hint)
    return read_manifest(path, check_media=check_media)


@app.command("qc")
def qc(
    db: Annotated[Path, typer.Option("--db", help="Answer store (SQLite).")],
    admin_token: AdminToken = None,
    honeypots: Annotated[
        Path | None,
        typer.Option("--honeypots", help="Manifest of segments with known (human) labels."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", help="Write qc.json, qc.html and the PNG plots here."),
    ] = None,
    fmt: Annotated[QCFormat, typer.Option("--format", help="table, json or html.")] = (
        QCFormat.table
    ),
    repeats: Annotated[
        str, typer.Option("--repeats", help="A rater's repeated answers: mean or first.")
    ] = "mean",
    min_agreement_r: Annotated[
        float, typer.Option("--min-agreement-r", help="Flag a lower correlation.")
    ] = 0.25,
    max_agreement_mae: Annotated[
        float, typer.Option("--max-agreement-mae", min=0, help="Flag a larger MAE.")
    ] = 0.25,
    max_honeypot_error: Annotated[
        float, typer.Option("--max-honeypot-error", min=0, help="Flag a larger honeypot error.")
    ] = 0.2,
    max_rerate_diff: Annotated[
        float, typer.Option("--max-rerate-diff", min=0, help="Flag a larger re-rate difference.")
    ] = 0.25,
    min_sec_per_segment: Annotated[
        float, typer.Option("--min-sec-per-segment", min=0, help="Flag a faster pace.")
    ] = 3.0,
) -> None:
    """Rater quality control: ICC, Krippendorff's alpha, agreement, honeypots, re-rates, pace."""
    from pianoeval.cli._common import echo_json, print_table
    from pianoeval.label.qc import (
        QCThresholds,
        honeypot_answers,
        qc_report,
        qc_report_html,
        save_qc_plots,
    )

    if repeats not in ("mean", "first"):
        raise typer.BadParameter("must be mean or first", param_hint="--repeats")
    known = honeypot_answers(_read(honeypots, "--honeypots")) if honeypots else None
    rows = _store_rows(db, admin_token, rerates=True)
    thresholds = QCThresholds(
        min_agreement_r=min_agreement_r,
        max_agreement_mae=max_agreement_mae,
        max_honeypot_error=max_honeypot_error,
        max_rerate_diff=max_rerate_diff,
        min_sec_per_segment=min_sec_per_segment,
    )
    report = qc_report(rows, honeypots=known, repeats=repeats, thresholds=thresholds)  # type: ignore[arg-type]
    if out_dir is not None:
        import json

        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "qc.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
        (out_dir / "qc.html").write_text(qc_report_html(report), encoding="utf-8")
        save_qc_plots(report, out_dir)
        typer.echo(f"wrote {out_dir}/qc.json, qc.html, qc_reliability.png, qc_raters.png", err=True)
    if fmt is QCFormat.json:
        echo_json(report.to_dict())
    elif fmt is QCFormat.html:
        typer.echo(qc_report_html(report), nl=False)
    else:

        def f(x: float, d: int = 3) -> str:
            return "-" if x != x else f"{x:.{d}f}"  # NaN

        print_table(
            f"reliability ({report.n_answers} answers, {report.n_raters} raters, "
            f"{report.n_segments} segments)",
            ["dimension", "ICC(1,1)", "ICC(1,k)", "alpha", "segments", "raters"],
            [
                [d.dim, f(d.icc1), f(d.icc1k), f(d.alpha), d.n_segments, d.n_raters]
                for d in report.dimensions
            ],
        )
        print_table(
            f"raters ({len(report.flagged)} flagged)",
            ["rater", "name", "answers", "r", "MAE", "honeypot", "re-rate", "s/segment", "flags"],
            [
                [r.rater_id, r.rater_name, r.n_answers, f(r.agreement_r, 2), f(r.agreement_mae),
                 f(r.honeypot_error), f(r.rerate_diff), f(r.sec_per_segment, 1),
                 "; ".join(r.flags) or "ok"]
                for r in report.raters
            ],
        )  # fmt: skip


@app.command("export")
def export(
    db: Annotated[Path, typer.Option("--db", help="Answer store (SQLite).")],
    queue: Annotated[Path, typer.Option("--queue", help="The queue manifest raters worked on.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the labelled manifest.")],
    admin_token: AdminToken = None,
    consensus: Annotated[
        ConsensusChoice, typer.Option("--consensus", help="median or mean of the answers.")
    ] = ConsensusChoice.median,
    min_raters: Annotated[
        int, typer.Option("--min-raters", min=1, help="Fewer answers: no label (mask 0).")
    ] = 1,
    honeypots: Annotated[
        Path | None,
        typer.Option("--honeypots", help="The app's honeypot manifest (its rows left out)."),
    ] = None,
) -> None:
    """Write the manifest training reads: consensus labels, spread, raters, provenance."""
    from pianoeval.label.export import export_manifest

    segments = _read(queue, "--queue")
    extra = {s.segment_id for s in _read(honeypots, "--honeypots")} if honeypots else set()
    rows = [r for r in _store_rows(db, admin_token) if r["segment_id"] not in extra]
    labelled = export_manifest(
        rows, segments, consensus=consensus.value, min_raters=min_raters, honeypots=extra
    )
    _write_relative(labelled, queue, out)
    typer.echo(f"wrote {len(labelled)} labelled segment(s) to {out}", err=True)


def _write_relative(segments: list[Segment], queue: Path, out: Path) -> None:
    """Write rows whose media URIs were relative to the queue, relative to ``out`` instead."""
    from pianoeval.manifest import write_manifest
    from pianoeval.manifest.uri import path_to_uri, uri_to_path

    base, target = queue.resolve().parent, out.resolve().parent
    moved = []
    for seg in segments:
        update = {}
        for field in ("audio_uri", "midi_uri", "score_uri"):
            uri = getattr(seg, field)
            if uri:
                update[field] = path_to_uri(uri_to_path(uri, base).resolve(), target)
        moved.append(seg.model_copy(update=update))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_manifest(out, moved)


@app.command("ls-export")
def ls_export(
    queue: Annotated[Path, typer.Option("--queue", help="The queue manifest to rate.")],
    out_dir: Annotated[
        Path, typer.Option("--out-dir", help="Writes tasks.json and labeling_config.xml here.")
    ],
    media_dir: Annotated[
        Path | None,
        typer.Option("--media-dir", help="Rendered clips of MIDI-only rows (default OUT/media)."),
    ] = None,
    url_prefix: Annotated[
        str | None,
        typer.Option(
            "--url-prefix",
            help="data.audio = prefix + relative path (e.g. '/data/local-files/?d=').",
        ),
    ] = None,
    widget: Annotated[
        Widget, typer.Option("--widget", help="slider (Number, 0-1) or rating (1-7 stars).")
    ] = Widget.slider,
    dims: Annotated[
        list[str] | None, typer.Option("--dim", help="A dimension to rate (repeat).")
    ] = None,
) -> None:
    """Export a queue as Label Studio tasks and a labeling config."""
    from pianoeval.label.labelstudio import write_ls_project

    segments = _read(queue, "--queue")
    tasks, config = write_ls_project(
        segments,
        out_dir,
        base_dir=queue.resolve().parent,
        media_dir=media_dir if media_dir is not None else out_dir / "media",
        url_prefix=url_prefix,
        widget=widget.value,
        dims=dims or None,
    )
    typer.echo(f"wrote {tasks} ({len(segments)} tasks) and {config}", err=True)


@app.command("ls-import")
def ls_import(
    export_path: Annotated[Path, typer.Option("--export", help="Label Studio's JSON export.")],
    db: Annotated[Path | None, typer.Option("--db", help="Import into this store.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Or write a labelled manifest (needs --queue).")
    ] = None,
    queue: Annotated[
        Path | None, typer.Option("--queue", help="The queue the tasks came from (with --out).")
    ] = None,
    admin_token: AdminToken = None,
    rating_points: Annotated[
        int, typer.Option("--rating-points", min=2, help="Points of a Rating widget.")
    ] = 7,
    consensus: Annotated[
        ConsensusChoice, typer.Option("--consensus", help="median or mean (with --out).")
    ] = ConsensusChoice.median,
) -> None:
    """Import Label Studio annotations into the store, or straight into a manifest."""
    from pianoeval.label.labelstudio import import_into_store, import_to_manifest, load_ls_export

    if (db is None) == (out is None):
        raise typer.BadParameter("give exactly one of --db or --out", param_hint="--db/--out")
    if out is not None and queue is None:
        raise typer.BadParameter(
            "--out needs the --queue the tasks came from", param_hint="--queue"
        )
    _existing(export_path, "Label Studio export", "--export")
    tasks = load_ls_export(export_path)
    if db is not None:
        from pianoeval.label import AnswerStore, LabelPermissionError, UnknownTokenError

        if not admin_token:
            raise typer.BadParameter(
                f"importing needs an admin token: give --admin-token or set {ADMIN_TOKEN_ENV}",
                param_hint="--admin-token",
            )
        with AnswerStore(db) as store:
            admin = store.authenticate(admin_token)
            if admin is None:
                raise UnknownTokenError(f"{db}: --admin-token belongs to no rater of this store")
            if not admin.is_admin:
                raise LabelPermissionError(f"{db}: --admin-token is not an admin's token")
            counts = import_into_store(
                store, admin, tasks, rating_points=rating_points, source=str(export_path)
            )
        typer.echo(
            f"imported {counts['answers']} answer(s) of {counts['raters']} rater(s) "
            f"({counts['new_raters']} new) into {db}",
            err=True,
        )
        return
    assert queue is not None
    assert out is not None
    segments = _read(queue, "--queue")
    labelled = import_to_manifest(
        tasks, segments, rating_points=rating_points, source=str(export_path),
        consensus=consensus.value,
    )  # fmt: skip
    _write_relative(labelled, queue, out)
    typer.echo(f"wrote {len(labelled)} labelled segment(s) to {out}", err=True)


@anchors_app.command("build")
def build(
    manifest: Annotated[Path, typer.Option("--manifest", help="Labelled manifest.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write anchors.json.")],
    media_dir: Annotated[
        Path | None,
        typer.Option("--media-dir", help="Rendered clips of MIDI-only rows (default OUT_media)."),
    ] = None,
    source: Annotated[
        AnchorSource, typer.Option("--source", help="auto, human or pseudo labels.")
    ] = AnchorSource.auto,
    pick: Annotated[
        list[str] | None,
        typer.Option("--pick", help="Hand-pick: dim:level=segment_id (repeat)."),
    ] = None,
    dims: Annotated[
        list[str] | None, typer.Option("--dim", help="A dimension (repeat; default all).")
    ] = None,
    taxonomy: Annotated[str, typer.Option("--taxonomy", help="Taxonomy of the anchors.")] = (
        "percepiano19"
    ),
    no_render: Annotated[
        bool, typer.Option("--no-render", help="Point MIDI-only anchors at the MIDI.")
    ] = False,
    soundfont: Annotated[str, typer.Option("--soundfont", help="SoundFont of renders.")] = (
        "fluidr3_gm"
    ),
) -> None:
    """Pick low/mid/high example clips per dimension and write anchors.json."""
    from pianoeval.label.anchors import build_anchors, parse_pick, write_anchors

    picks = {}
    for text in pick or []:
        dim, level, seg = parse_pick(text)
        picks[(dim, level)] = seg
    segments = _read(manifest, "--manifest")
    anchors = build_anchors(
        segments,
        dims=dims or None,
        taxonomy=taxonomy,
        source=source.value,
        picks=picks,
        render=not no_render,
        media_dir=media_dir if media_dir is not None else out.with_name(out.stem + "_media"),
        base_dir=manifest.resolve().parent,
        soundfont=soundfont,
    )
    write_anchors(anchors, out)
    n = sum(len(v) for v in anchors.values())
    typer.echo(f"wrote {n} anchors of {len(anchors)} dimension(s) to {out}", err=True)
