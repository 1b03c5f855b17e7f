"""``pianoeval data``: import datasets into manifests, make splits, measure label reliability."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pianoeval.cli._common import JobsOption, OutputFormat, echo_json, write_text

app = typer.Typer(
    help="Datasets: PercePiano, ASAP and your own folders to manifests; splits; reliability.",
    no_args_is_help=True,
)

DataRootOption = typer.Option(
    "--data-root",
    help="Folder holding the datasets (default: $PIANOEVAL_DATA, else ../shared/data).",
)
OutDirOption = typer.Option("--out", help="Output folder for the manifest and its report.")
ProgressOption = typer.Option("--progress/--no-progress", help="Show a progress bar.")


def _finish(report: Any, out_dir: Path, name: str) -> None:
    """Save the import report beside the manifest and print a summary."""
    d = report.to_dict()
    (out_dir / f"{name}_report.json").write_text(json.dumps(d, indent=1) + "\n", encoding="utf-8")
    typer.echo(
        f"wrote {report.n_rows} rows from {report.n_sources} sources to {report.manifest_path}"
    )
    if report.skipped:
        typer.echo(f"{len(report.skipped)} source(s) gave no row:")
        for src, why in report.skipped:
            typer.echo(f"  {src}: {why}")
    for note in report.notes:
        typer.echo(f"note: {note}")


@app.command("percepiano")
def percepiano(
    out: Annotated[Path, OutDirOption],
    data_root: Annotated[Path | None, DataRootOption] = None,
    progress: Annotated[bool, ProgressOption] = True,
) -> None:
    """Write the manifest of the 1189 labelled PercePiano segments (OUT/percepiano.jsonl)."""
    from pianoeval.data.percepiano import build_percepiano_manifest

    out.mkdir(parents=True, exist_ok=True)
    report = build_percepiano_manifest(data_root, out / "percepiano.jsonl", progress=progress)
    _finish(report, out, "percepiano")


@app.command("asap")
def asap(
    out: Annotated[Path, OutDirOption],
    data_root: Annotated[Path | None, DataRootOption] = None,
    jobs: Annotated[int | None, JobsOption] = None,
    progress: Annotated[bool, ProgressOption] = True,
) -> None:
    """Write bar-aligned windows of every ASAP performance (OUT/asap.jsonl)."""
    from pianoeval.data.asap import build_asap_manifest

    out.mkdir(parents=True, exist_ok=True)
    report = build_asap_manifest(data_root, out / "asap.jsonl", progress=progress, jobs=jobs)
    _finish(report, out, "asap")


@app.command("folder")
def folder(
    folder: Annotated[Path, typer.Argument(help="Folder of audio and/or MIDI files.")],
    out: Annotated[Path, OutDirOption],
    length: Annotated[float, typer.Option("--length", help="Window length (s).", min=0.5)] = 20.0,
    hop: Annotated[float, typer.Option("--hop", help="Hop between windows (s).", min=0.1)] = 15.0,
    progress: Annotated[bool, ProgressOption] = True,
) -> None:
    """Build a manifest of fixed windows from your own recordings and MIDI (OUT/folder.jsonl)."""
    from pianoeval.data.folder import build_folder_manifest

    out.mkdir(parents=True, exist_ok=True)
    report = build_folder_manifest(
        folder, out / "folder.jsonl", length_sec=length, hop_sec=hop, progress=progress
    )
    _finish(report, out, "folder")


@app.command("pseudo-labels")
def pseudo_labels(
    manifest: Annotated[Path, typer.Argument(help="Manifest (JSONL) whose rows have MIDI.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here (default: replace MANIFEST).")
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option("--calibration", help="Calibration JSON (default: the committed one)."),
    ] = None,
    jobs: Annotated[int | None, JobsOption] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            help="Proxy cache (default: $PIANOEVAL_CACHE/pseudo, else ~/.cache/pianoeval/pseudo).",
        ),
    ] = None,
    cache: Annotated[
        bool, typer.Option("--cache/--no-cache", help="Reuse and store computed proxies.")
    ] = True,
    progress: Annotated[bool, ProgressOption] = True,
) -> None:
    """Add execution16 pseudo-labels, confidences and calibrated values to every row.

    Rows are aligned to their score when they have one (``score_uri``); see
    docs/symbolic.md, "Pseudo-labels".
    """
    from pianoeval.data.pseudo_labels import write_pseudo_labels

    target = manifest if out is None else out
    report = write_pseudo_labels(
        manifest,
        target,
        calibration=calibration,
        jobs=jobs,
        progress=progress,
        cache=(cache_dir if cache_dir is not None else True) if cache else False,
    )
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(report.status_counts.items()))
    typer.echo(
        f"wrote {report.n_rows} rows ({report.n_labelled} with pseudo-labels; {statuses}) "
        f"to {report.manifest_path} in {report.seconds:.1f} s"
    )
    typer.echo(f"dimensions: {', '.join(report.dims)}")


@app.command("reliability")
def reliability(
    data_root: Annotated[Path | None, DataRootOption] = None,
    n_splits: Annotated[int, typer.Option("--splits", help="Random half splits.", min=1)] = 200,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="table, json or markdown.")] = "table",
    out: Annotated[Path | None, typer.Option("--out", help="Write to a file.")] = None,
) -> None:
    """Per-dimension reliability of the PercePiano labels: the ceiling for every model."""
    from pianoeval.data import find_data_root
    from pianoeval.data.percepiano import load_raw_ratings
    from pianoeval.data.reliability import percepiano_reliability

    root = find_data_root(data_root, dataset="percepiano")
    table = percepiano_reliability(load_raw_ratings(root), n_splits=n_splits, seed=seed)
    if fmt == OutputFormat.json:
        payload = {"schema_version": 1, "dataset": "percepiano", **table.to_dict()}
        write_text(json.dumps(payload, indent=1) + "\n", out) if out else echo_json(payload)
    elif fmt in ("markdown", "table"):
        write_text(table.to_markdown(), out)
    else:
        raise typer.BadParameter(f"unknown format {fmt!r}: use table, json or markdown")


@app.command("splits")
def splits(
    data_root: Annotated[Path | None, DataRootOption] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Write here (default: the committed folder).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only check that the committed splits are reproduced.")
    ] = False,
) -> None:
    """Make the excerpt, performer and work splits of PercePiano (deterministic)."""
    from pianoeval.data import find_data_root
    from pianoeval.data.percepiano import load_released_labels
    from pianoeval.data.splits import (
        SPLIT_NAMES,
        SPLITS_DIR,
        check_grouping,
        load_split,
        make_split,
        save_split,
    )

    root = find_data_root(data_root, dataset="percepiano")
    ids = list(load_released_labels(root)[0])
    bad = False
    for name in SPLIT_NAMES:
        split = make_split(name, ids)
        crossing = check_grouping(split)
        sizes = ", ".join(str(len(f)) for f in split.folds)
        typer.echo(
            f"{name}: test {len(split.test)}, folds [{sizes}], train-only {len(split.train_only)}"
            + (f", CROSSING GROUPS: {crossing[:5]}" if crossing else "")
        )
        bad |= bool(crossing)
        if check:
            same = load_split(name).to_dict() == split.to_dict()
            typer.echo(f"  committed file {'matches' if same else 'DIFFERS'}")
            bad |= not same
        else:
            target = (out_dir or SPLITS_DIR) / f"percepiano_{name}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            save_split(split, target)
            typer.echo(f"  wrote {target}")
    if bad:
        raise typer.Exit(1)
