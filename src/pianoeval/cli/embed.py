"""``pianoeval embed``: embed the audio of a manifest's rows with a frozen encoder (cached)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pianoeval.cli._common import JobsOption


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
    segments = read_manifest(manifest)
    enc = get_encoder(encoder, **options)
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
