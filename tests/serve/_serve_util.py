"""Helpers of the service tests: small MIDI and rendered audio made in code, free ports."""

from __future__ import annotations

import socket
from pathlib import Path

import pretty_midi


def write_midi(path: Path, n_notes: int = 30, step_sec: float = 0.4) -> Path:
    """A little melody: ``n_notes`` notes, one every ``step_sec``."""
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [
        pretty_midi.Note(60 + (i * 7) % 30, 60 + i % 12, i * step_sec, i * step_sec + 0.3)
        for i in range(n_notes)
    ]
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_piano_wav(path: Path, *, n_notes: int = 12, step_sec: float = 0.35) -> Path:
    """Render a short melody with FluidSynth to a 16-bit WAV (real piano-like audio)."""
    import soundfile as sf

    from pianoeval.render import render_midi

    midi = write_midi(path.with_suffix(".mid"), n_notes=n_notes, step_sec=step_sec)
    y, sr = render_midi(midi, tail_sec=0.5)
    sf.write(path, y, sr, subtype="PCM_16")
    return path
