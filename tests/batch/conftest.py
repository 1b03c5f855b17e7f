"""Batch fixtures: small performance MIDI files made in the test, and one broken file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_performance(path: Path, seed: int, n_notes: int = 40) -> Path:
    """Write a short, seeded, varied piano performance (notes and sustain pedal)."""
    import pretty_midi

    rng = np.random.default_rng(seed)
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    t = 0.0
    for _ in range(n_notes):
        step = float(rng.uniform(0.12, 0.35))
        dur = float(rng.uniform(0.1, 0.6))
        pitch = int(rng.integers(48, 84))
        vel = int(rng.integers(35, 110))
        inst.notes.append(pretty_midi.Note(velocity=vel, pitch=pitch, start=t, end=t + dur))
        if rng.random() < 0.3:  # chord tone
            inst.notes.append(pretty_midi.Note(velocity=vel - 10, pitch=pitch - 7, start=t,
                                               end=t + dur))  # fmt: skip
        t += step
    for k in range(int(t // 2)):
        inst.control_changes.append(pretty_midi.ControlChange(64, 127, 2.0 * k + 0.05))
        inst.control_changes.append(pretty_midi.ControlChange(64, 0, 2.0 * k + 1.9))
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


@pytest.fixture(scope="session")
def midi_set(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six performances and, third, a broken MIDI file: ``[ok, ok, bad, ok, ok, ok, ok]``."""
    folder = tmp_path_factory.mktemp("takes")
    files = [write_performance(folder / f"take_{i}.mid", seed=i) for i in range(6)]
    bad = folder / "broken.mid"
    bad.write_bytes(b"MThd nonsense")
    return [*files[:2], bad, *files[2:]]
