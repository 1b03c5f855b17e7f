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


def write_repeated(src: Path, dest: Path, *, times: int = 3, gap_sec: float = 0.5) -> Path:
    """``src`` played ``times`` times end to end (notes and pedal), ``gap_sec`` apart.

    With the bundled example performance (about 31 s) three times make about 95 s: long
    enough to be rated over windows; its score repeated alike gives the bars.
    """
    pm = pretty_midi.PrettyMIDI(str(src))
    step = pm.get_end_time() + gap_sec
    out = pretty_midi.PrettyMIDI()
    for inst in pm.instruments:
        new = pretty_midi.Instrument(program=inst.program, is_drum=inst.is_drum)
        for k in range(times):
            t = k * step
            new.notes += [pretty_midi.Note(n.velocity, n.pitch, n.start + t, n.end + t)
                          for n in inst.notes]  # fmt: skip
            new.control_changes += [pretty_midi.ControlChange(c.number, c.value, c.time + t)
                                    for c in inst.control_changes]  # fmt: skip
        out.instruments.append(new)
    out.write(str(dest))
    return dest


def write_long_example(folder: Path) -> tuple[Path, Path]:
    """The bundled example performance and its score, each three times (about 95 s)."""
    from pianoeval.examples import example_midi_path, example_score_path

    return (
        write_repeated(example_midi_path(), folder / "long_take.mid"),
        write_repeated(example_score_path(), folder / "long_score.mid"),
    )


def write_example_musicxml(path: Path) -> Path:
    """The bundled example score (MIDI) saved as MusicXML with partitura."""
    import partitura as pt

    from pianoeval.examples import example_score_path

    pt.save_musicxml(pt.load_score_midi(str(example_score_path())), str(path))
    return path
