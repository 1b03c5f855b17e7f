"""Synthetic signals shared by the encoder tests."""

from __future__ import annotations

import numpy as np


def piano_like(sr: int, seconds: float, *, seed: int = 0, gain: float = 0.3) -> np.ndarray:
    """Decaying harmonic notes at random pitches: enough structure for every encoder."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    y = np.zeros(n)
    t = np.arange(n) / sr
    for onset in np.arange(0.0, seconds, 0.25):
        f0 = 440.0 * 2 ** ((rng.integers(-12, 12)) / 12)
        env = np.where(t >= onset, np.exp(-(t - onset) * 4.0), 0.0)
        for h in (1, 2, 3):
            y += env * np.sin(2 * np.pi * f0 * h * (t - onset)) / h
    return (gain * y / np.abs(y).max()).astype(np.float32)
