"""``pianoeval render``: render a manifest's MIDI files to audio with FluidSynth.

With ``--engine dask`` the distinct MIDI files are rendered into the render cache on a Dask
cluster (:class:`pianoeval.batch.RenderTask`, one record per file in ``--jsonl``), then the
output manifest is written here from the cache, exactly as the local run writes it. The
workers must share the cache folder with this machine (a local cluster does).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    from pianoeval.render import Augment


def render(
    manifest: Annotated[Path, typer.Argument(help="Manifest (JSONL) whose rows have midi_uri.")],
    out: Annotated[
        Path, typer.Option("--out", help="Output manifest: the rows with audio_uri and sr.")
    ],
    soundfont: Annotated[
        str,
        typer.Option(
            help="fluidr3_gm, musescore_general, timgm6mb or a .sf2/.sf3 path.",
        ),
    ] = "fluidr3_gm",
    sr: Annotated[int, typer.Option(help="Output sampling rate in Hz.")] = 22050,
    tail_sec: Annotated[
        float, typer.Option(help="Seconds kept after the last sounding note.")
    ] = 1.0,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            help="Render cache (default: $PIANOEVAL_CACHE/render, else ~/.cache/pianoeval/render).",
        ),
    ] = None,
    jobs: Annotated[int | None, JobsOption] = None,
    reverb_rt60: Annotated[
        float, typer.Option(help="Room reverberation time in seconds (0: dry).")
    ] = 0.0,
    reverb_wet: Annotated[float, typer.Option(help="Reverberant share of the energy, 0-1.")] = 0.0,
    gain_db: Annotated[float, typer.Option(help="Extra gain in dB.")] = 0.0,
    tilt_db_per_octave: Annotated[
        float, typer.Option(help="Spectral tilt around 1 kHz in dB per octave.")
    ] = 0.0,
    snr_db: Annotated[
        float | None, typer.Option(help="Add white noise at this SNR in dB (default: none).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the room and the noise.", min=0)] = 0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    engine: Annotated[Engine, EngineOption] = Engine.local,
    scheduler: Annotated[str | None, SchedulerOption] = None,
    workers: Annotated[int, WorkersOption] = 2,
    threads_per_worker: Annotated[int, ThreadsPerWorkerOption] = 1,
    jsonl: Annotated[Path | None, JsonlOption] = None,
    jsonl_sorted: Annotated[bool, JsonlSortedOption] = False,
) -> None:
    """Render every row's MIDI (cached, all cores) and write a manifest pointing at the audio.

    Renders are dry and never normalised: each SoundFont has one calibrated gain, so
    loudness stays a label. Rows whose render fails are left out, listed with the reason,
    and the command exits with 1.
    """
    from pianoeval.render import Augment, render_manifest

    augment = Augment(
        reverb_rt60_sec=reverb_rt60,
        reverb_wet=reverb_wet,
        gain_db=gain_db,
        tilt_db_per_octave=tilt_db_per_octave,
        snr_db=snr_db,
        seed=seed,
    )
    opts = BatchOptions(engine, scheduler, workers, threads_per_worker, jsonl, jsonl_sorted)
    opts.progress = progress
    opts.check()
    if opts.uses_batch_layer:
        _render_batch(
            manifest,
            opts,
            cache_dir=cache_dir,
            soundfont=soundfont,
            sr=sr,
            tail_sec=tail_sec,
            augment=augment if augment.changes_signal else None,
        )
        jobs = 1  # what is left is reading the cache and writing the manifest
    report = render_manifest(
        manifest,
        out,
        cache_dir=cache_dir,
        soundfont=soundfont,
        sr=sr,
        tail_sec=tail_sec,
        augment=augment if augment.changes_signal else None,
        jobs=jobs,
        progress=progress,
    )
    n_failed_files = sum(not r.ok for r in report.results)
    typer.echo(
        f"{len(report.results)} MIDI file(s): {report.n_rendered} rendered, "
        f"{report.n_cached} cached, {n_failed_files} failed"
    )
    typer.echo(f"wrote {report.n_written} of {report.n_rows} rows to {out}")
    clipped = [r for r in report.results if r.n_clipped]
    if clipped:
        typer.secho(
            f"{len(clipped)} render(s) clipped at full scale (lower --gain-db)",
            fg="yellow",
            err=True,
        )
    if report.failed:
        for segment_id, reason in report.failed:
            typer.echo(f"failed: {segment_id}: {reason}", err=True)
        typer.secho(f"{len(report.failed)} row(s) not rendered", fg="red", err=True)
        raise typer.Exit(1)


def _render_batch(
    manifest: Path,
    opts: BatchOptions,
    *,
    cache_dir: Path | None,
    soundfont: str,
    sr: int,
    tail_sec: float,
    augment: Augment | None,
) -> None:
    """Render the manifest's distinct MIDI files into the cache with the batch runner."""
    import dataclasses

    from pianoeval.batch import RenderTask
    from pianoeval.cli._batch import run_cli_batch
    from pianoeval.manifest import read_manifest, uri_to_path

    files: list[str] = []
    for seg in read_manifest(manifest, check_media=False):
        if seg.midi_uri:
            path = str(uri_to_path(seg.midi_uri, manifest.parent))
            if path not in files:
                files.append(path)
    task = RenderTask(
        cache_dir=None if cache_dir is None else str(cache_dir),
        soundfont=soundfont,
        sr=sr,
        tail_sec=tail_sec,
        augment=None if augment is None else dataclasses.asdict(augment),
    )
    run_cli_batch(files, task, opts)  # failures are listed by the manifest step below
