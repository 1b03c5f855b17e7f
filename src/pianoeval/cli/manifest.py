"""``pianoeval manifest``: validate, summarise and export manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pianoeval.cli._common import FormatOption, OutputFormat, echo_json, print_table

app = typer.Typer(help="Validate, summarise and export JSONL manifests.", no_args_is_help=True)

MediaOption = typer.Option("--media/--no-media", help="Check that referenced media files exist.")
ManifestArg = typer.Argument(help="Manifest file (JSONL).")


RootOption = typer.Option(
    "--root",
    exists=True,
    file_okay=False,
    dir_okay=True,
    help="Confine media to this folder: a URI that resolves outside it is a problem.",
)
MaxProblemsOption = typer.Option(
    "--max-problems",
    min=1,
    help="Print at most this many problems, then count the rest.",
)


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Manifest files (JSONL).")],
    media: Annotated[bool, MediaOption] = True,
    root: Annotated[Path | None, RootOption] = None,
    max_problems: Annotated[int, MaxProblemsOption] = 1000,
) -> None:
    """Check every row of every manifest; exit 1 with the report if anything is wrong.

    Every problem is one line, ``FILE:LINE: FIELD: REASON``; after ``--max-problems`` lines
    the report stops and says how many more there are. A bad option value is a usage
    error (exit 2).
    """
    from pianoeval.manifest import validate_manifest

    n_problems = 0
    for f in files:
        problems = validate_manifest(f, check_media=media, media_root=root)
        for p in problems[: max(0, max_problems - n_problems)]:
            typer.echo(str(p), err=True)
        n_problems += len(problems)
        if not problems:
            typer.echo(f"ok: {f}")
    if n_problems > max_problems:
        typer.echo(
            f"... {n_problems - max_problems} more problem(s) not shown (--max-problems)",
            err=True,
        )
    if n_problems:
        typer.secho(f"{n_problems} problem(s) in {len(files)} file(s)", fg="red", err=True)
        raise typer.Exit(1)


@app.command("stats")
def stats(
    file: Annotated[Path, ManifestArg],
    fmt: Annotated[OutputFormat, FormatOption] = OutputFormat.table,
    media: Annotated[bool, MediaOption] = True,
) -> None:
    """Rows and duration per dataset, labelled rows per dimension, sources and licences."""
    from pianoeval.manifest import manifest_stats, read_manifest

    s = manifest_stats(read_manifest(file, check_media=media))
    if fmt is OutputFormat.json:
        echo_json(s.to_dict())
        return
    print_table(
        f"{file}: {s.n_rows} rows, {s.duration_sec / 60:.1f} min",
        ["dataset", "rows", "minutes"],
        [
            [k, v, f"{s.duration_sec_per_dataset[k] / 60:.1f}"]
            for k, v in s.rows_per_dataset.items()
        ],
    )
    for title, counts in (
        ("labelled rows per dimension", s.labelled_per_dimension),
        ("pseudo-labelled rows per dimension", s.pseudo_labelled_per_dimension),
    ):
        if counts:
            print_table(title, ["dimension", "rows"], [list(kv) for kv in counts.items()])
    print_table("sources", ["source", "rows"], [list(kv) for kv in s.rows_per_source.items()])
    if s.labels_per_label_source:
        print_table(
            "label provenance",
            ["label_source", "labels"],
            [list(kv) for kv in s.labels_per_label_source.items()],
        )
    print_table("licences", ["licence", "rows"], [list(kv) for kv in s.rows_per_license.items()])


@app.command("export-labels")
def export_labels(
    file: Annotated[Path, ManifestArg],
    out: Annotated[
        Path,
        typer.Option("--out", dir_okay=False, help="Where to write the labels (JSONL)."),
    ],
) -> None:
    """Write labels as segment ids + numbers only: no media, no paths (licence hygiene)."""
    from pianoeval.manifest import export_labels as _export
    from pianoeval.manifest import read_manifest

    segments = read_manifest(file, check_media=False)
    try:
        n = _export(segments, out)
    except OSError as e:
        typer.secho(f"error: cannot write {out}: {e.strerror or e}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {n} labelled rows to {out}")
