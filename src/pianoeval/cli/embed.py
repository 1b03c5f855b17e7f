"""``pianoeval embed``: embed the audio of a manifest's rows with a frozen encoder (cached).

With ``--engine dask`` (or ``--jsonl``) each row is embedded by
:class:`pianoeval.batch.EmbedTask` on the batch runner (a Dask cluster, each worker loading
the encoder once), through the same embedding cache; every bad row is reported and no
``.npz`` is written if any failed (exit 1), as the local run stops at a bad row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pianoeval.cli._batch import (
    BatchOptions,
    Engine,
    EngineOption,
    JsonlOption,
    JsonlSortedOption,
    SchedulerOption,
    ThreadsPerWorkerOption,
    WorkersOption,
)
from pianoeval.cli._common import JobsOption

if TYPE_CHECKING:
    import numpy as np

    from pianoeval.manifest import Segment


def parse_options(items: list[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` options; a VALUE that is JSON (``[7, 8]``, ``10``) is decoded.

    Raises
    ------
    ParameterError
        If an item has no ``=`` or an empty key.

    Examples
    --------
    >>> parse_options(["path=/m/MERT", "layers=[7, 8]", "chunk_sec=5"])
    {'path': '/m/MERT', 'layers': [7, 8], 'chunk_sec': 5}
    """
    from pianoeval.errors import ParameterError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--option {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def embed(
    manifest: Annotated[Path, typer.Argument(help="Manifest (JSONL) whose rows have audio_uri.")],
    encoder: Annotated[
        str,
        typer.Option(
            "--encoder", "-e", help="Encoder name: mert, muq, symbolic, mel_stats, transkun."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Embeddings file (.npz); default MANIFEST.<encoder>.npz."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="Encoder option KEY=VALUE, repeatable (e.g. -o path=/models/MERT-v1-95M).",
        ),
    ] = None,
    jobs: Annotated[int | None, JobsOption] = None,
    cache: Annotated[
        bool, typer.Option(help="Use the per-segment embedding cache ($PIANOEVAL_CACHE).")
    ] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    engine: Annotated[Engine, EngineOption] = Engine.local,
    scheduler: Annotated[str | None, SchedulerOption] = None,
    workers: Annotated[int, WorkersOption] = 2,
    threads_per_worker: Annotated[int, ThreadsPerWorkerOption] = 1,
    jsonl: Annotated[Path | None, JsonlOption] = None,
    jsonl_sorted: Annotated[bool, JsonlSortedOption] = False,
) -> None:
    """Embed every row of MANIFEST (its audio cut to [t0, t1]) and write one .npz.

    Rows already in the cache are read, not recomputed, so an interrupted run resumes.
    Exit code 2 for a bad option value (unknown encoder, bad --option), 1 for a bad input
    (manifest, audio, checkpoint folder).
    """
    from pianoeval.encoders import ENCODERS, embed_segments, get_encoder, save_embeddings
    from pianoeval.errors import ParameterError
    from pianoeval.manifest import read_manifest

    if encoder not in ENCODERS:
        known = ", ".join(ENCODERS.names())
        raise ParameterError(f"--encoder {encoder!r} is not an encoder; known: {known}")
    options = parse_options(option or [])
    target = out if out is not None else manifest.with_name(f"{manifest.stem}.{encoder}.npz")
    if target.is_dir():
        raise ParameterError(f"--out {target}: is a folder; give a file name (.npz)")
    opts = BatchOptions(engine, scheduler, workers, threads_per_worker, jsonl, jsonl_sorted)
    opts.progress = progress
    opts.check()
    segments = read_manifest(manifest)
    enc = get_encoder(encoder, **options)
    if opts.uses_batch_layer:
        array = _embed_batch(
            segments, manifest, encoder, options, cache=cache, opts=opts, dim=enc.dim
        )
    else:
        array = embed_segments(
            segments, enc, base_dir=manifest.parent, cache=cache, jobs=jobs, progress=progress
        )
    meta = {
        **enc.describe(),
        "manifest": str(manifest),
        "options": {k: v if isinstance(v, int | float | bool | list) else str(v)
                    for k, v in options.items()},
    }  # fmt: skip
    save_embeddings(target, [s.segment_id for s in segments], array, meta)
    typer.echo(f"wrote {target}: {array.shape[0]} segments x {array.shape[1]} ({enc.name})")


def _embed_batch(
    segments: list[Segment],
    manifest: Path,
    encoder: str,
    options: dict[str, Any],
    *,
    cache: bool,
    opts: BatchOptions,
    dim: int,
) -> np.ndarray:
    """Embed every row with the batch runner; exit 1 (nothing written) if any failed."""
    import numpy as np

    from pianoeval.batch import EmbedTask
    from pianoeval.cli._batch import run_cli_batch
    from pianoeval.encoders import segment_audio_path

    items = [
        {
            "path": str(segment_audio_path(s, manifest.parent)),
            "t0": s.t0,
            "t1": s.t1,
            "segment_id": s.segment_id,
        }
        for s in segments
    ]
    task = EmbedTask(encoder=encoder, options=options, cache=cache)

    def show(record: dict[str, Any]) -> None:
        if not record["ok"]:
            typer.secho(f"error: {record['error']}", fg="red", err=True)

    report = run_cli_batch(items, task, opts, on_record=show)
    if report.failures:
        typer.secho(
            f"{len(report.failures)} of {len(items)} row(s) not embedded: nothing written",
            fg="red",
            err=True,
        )
        raise typer.Exit(1)
    vectors = [r["embedding"] for r in report.results()]
    return np.asarray(vectors, dtype=np.float32).reshape(len(vectors), dim)
