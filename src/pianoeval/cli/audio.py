"""``pianoeval audio``: inspect audio files, cut windows and compute the mel front end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pianoeval.cli._common import FormatOption, OutputFormat, echo_json, print_table

app = typer.Typer(
    help="Audio front end: file info, windows, mel spectrograms.", no_args_is_help=True
)


def _check_output_path(out: Path) -> None:
    """Raise ParameterError (a usage error) when ``--out`` cannot be written, before work."""
    import os

    from pianoeval._paths import os_error_problem
    from pianoeval.errors import ParameterError

    try:
        if out.is_dir():
            raise ParameterError(f"--out {out}: is a folder; give a file name (.npy)")
        folder = out.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
    except OSError as exc:  # a name too long, a symbolic link loop
        raise ParameterError(f"--out {out}: {os_error_problem(exc, out)}") from None
    if not folder.is_dir():
        raise ParameterError(f"--out {out}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ParameterError(f"--out {out}: {folder} is not writable")


def _decoded_duration_sec(file: Path) -> float:
    """Duration of what the file really holds (a full decode), saying so when it is cut short."""
    from pianoeval.audio import audio_info

    info = audio_info(file, decode=True)
    if info.truncated:
        typer.secho(
            f"warning: {file}: truncated audio: the header declares "
            f"{info.declared_duration_sec:.3f} s, the file holds {info.duration_sec:.3f} s; "
            "using what it holds",
            fg="yellow",
            err=True,
        )
    return info.duration_sec


LengthOption = typer.Option("--length", help="Window length in seconds.", min=0.5)
HopOption = typer.Option("--hop", help="Hop between windows in seconds.", min=0.1)


@app.command("info")
def info(
    files: Annotated[
        list[Path],
        typer.Argument(help="Audio files (wav, flac, ogg, mp3), or folders to walk for them."),
    ],
    fmt: Annotated[OutputFormat, FormatOption] = OutputFormat.table,
    decode: Annotated[
        bool,
        typer.Option(
            "--decode",
            help="Decode every file to find those cut short (a FLAC, Ogg or MP3 cut off "
            "still declares its full length in its header). Slower.",
        ),
    ] = False,
) -> None:
    """Print sample rate, channels, duration and format of audio files.

    Every readable file is printed; each file that cannot be read is named on stderr with
    its problem, and the exit code is then 1. Folders are walked (sorted, recursively).
    """
    from dataclasses import asdict

    from pianoeval._paths import expand_inputs
    from pianoeval.audio import AudioInfo, audio_info
    from pianoeval.constants import AUDIO_SUFFIXES
    from pianoeval.errors import AudioError, PianoEvalError

    paths, problems = expand_inputs(files, AUDIO_SUFFIXES, kind=AudioError)
    failures: list[PianoEvalError] = list(problems)
    infos: list[AudioInfo] = []
    for path in paths:
        try:
            infos.append(audio_info(path, decode=decode))
        except PianoEvalError as e:
            failures.append(e)
    if fmt is OutputFormat.json:
        echo_json(
            {
                str(i.path): {
                    **{k: v for k, v in asdict(i).items() if k != "path"},
                    "truncated": i.truncated,
                }
                for i in infos
            }
        )
    elif infos:
        print_table(
            "audio files",
            ["file", "sr", "channels", "duration (s)", "format", "note"],
            [
                [
                    i.path,
                    i.sr,
                    i.channels,
                    f"{i.duration_sec:.2f}",
                    f"{i.format}/{i.subtype}",
                    f"truncated (header: {i.declared_duration_sec:.2f} s)" if i.truncated else "",
                ]
                for i in infos
            ],
        )
    for failure in failures:
        typer.secho(f"error: {failure}", fg="red", err=True)
    if failures:
        raise typer.Exit(1)


@app.command("windows")
def windows(
    file: Annotated[Path, typer.Argument(help="Audio file.")],
    length: Annotated[float, LengthOption] = 20.0,
    hop: Annotated[float, HopOption] = 15.0,
    fmt: Annotated[OutputFormat, FormatOption] = OutputFormat.table,
) -> None:
    """List the fixed windows a file is cut into."""
    from pianoeval.audio import fixed_windows

    wins = fixed_windows(_decoded_duration_sec(file), length_sec=length, hop_sec=hop)
    if fmt is OutputFormat.json:
        echo_json([{"index": w.index, "t0": w.t0, "t1": w.t1} for w in wins])
        return
    print_table(
        str(file),
        ["#", "t0 (s)", "t1 (s)"],
        [[w.index, f"{w.t0:.2f}", f"{w.t1:.2f}"] for w in wins],
    )


@app.command("mel")
def mel(
    file: Annotated[Path, typer.Argument(help="Audio file.")],
    out: Annotated[
        Path, typer.Option("--out", help="Where to save the [B, 1, 128, 128] array (.npy).")
    ],
    length: Annotated[float, LengthOption] = 20.0,
    hop: Annotated[float, HopOption] = 15.0,
) -> None:
    """Compute the mel front end of every window of a file and save it as one batch."""
    import numpy as np

    _check_output_path(out)

    from pianoeval.audio import fixed_windows, load_audio, mel_batch

    wins = fixed_windows(_decoded_duration_sec(file), length_sec=length, hop_sec=hop)
    clips = [load_audio(file, sr=22050, t0=w.t0, t1=w.t1)[0] for w in wins]
    batch = mel_batch(clips)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, batch)
    typer.echo(f"wrote {out}: {list(batch.shape)} float32, {len(wins)} window(s)")
