"""Acoustic descriptors: gain-invariant, length-robust, and they tell instruments apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pianoeval.audio.acoustic import (
    ACOUSTIC_COLUMNS,
    ACOUSTIC_PREFIX,
    CHUNK_SEC,
    acoustic_features,
    acoustic_inputs,
)
from pianoeval.errors import ParameterError

SR = 22050


def _plucks(sec: float, *, bright: float, decay: float, seed: int = 0) -> np.ndarray:
    """Notes of random pitch every 0.25 s: harmonics falling off by ``bright`` per partial."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sec * SR)) / SR
    y = np.zeros_like(t)
    for start in np.arange(0, sec - 0.3, 0.25):
        f0 = 110 * 2 ** (rng.integers(0, 36) / 12)
        tt = t[t >= start] - start
        env = np.exp(-decay * tt)
        note = sum(bright**k * np.sin(2 * np.pi * f0 * (k + 1) * tt) for k in range(12))
        y[t >= start] += env * note
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def test_descriptors_are_finite_and_gain_invariant() -> None:
    y = _plucks(6.0, bright=0.5, decay=4.0)
    f = acoustic_features(y, SR)
    assert list(f) == list(ACOUSTIC_COLUMNS)
    assert all(np.isfinite(v) for v in f.values())
    quiet = acoustic_features(0.05 * y, SR)
    np.testing.assert_allclose([quiet[c] for c in f], list(f.values()), rtol=1e-3, atol=1e-3)
    # another sampling rate is resampled first: close, not identical
    import librosa

    f44 = acoustic_features(librosa.resample(y, orig_sr=SR, target_sr=44100), 44100)
    assert abs(f44["centroid"] - f["centroid"]) < 0.02


def test_brightness_and_decay_move_the_right_descriptors() -> None:
    dull = acoustic_features(_plucks(6.0, bright=0.3, decay=2.0), SR)
    bright = acoustic_features(_plucks(6.0, bright=0.8, decay=2.0), SR)
    fast = acoustic_features(_plucks(6.0, bright=0.3, decay=12.0), SR)
    assert bright["centroid"] > dull["centroid"] + 0.01
    assert fast["decay_1"] < dull["decay_1"]  # dB per second, more negative when faster


def test_silence_and_too_short_audio_are_refused() -> None:
    with pytest.raises(ParameterError, match="non-silent"):
        acoustic_features(np.zeros(SR, dtype=np.float32), SR)
    with pytest.raises(ParameterError, match="non-silent"):
        acoustic_features(np.ones(100, dtype=np.float32), SR)


def test_long_recordings_are_described_by_three_chunks(tmp_path: Path) -> None:
    import soundfile as sf

    from pianoeval.audio import load_audio

    y = _plucks(2.5 * CHUNK_SEC, bright=0.5, decay=4.0, seed=3)
    sf.write(tmp_path / "long.wav", y, SR)
    got = acoustic_inputs(tmp_path / "long.wav")
    assert list(got) == [ACOUSTIC_PREFIX + c for c in ACOUSTIC_COLUMNS]
    x, sr = load_audio(tmp_path / "long.wav", sr=SR)
    n = int(CHUNK_SEC * sr)
    starts = np.linspace(0, x.size - n, 3).astype(int)
    parts = [acoustic_features(x[s : s + n], sr) for s in starts]
    for c in ("centroid", "onset_rate", "decay_1"):
        assert got[ACOUSTIC_PREFIX + c] == pytest.approx(np.mean([p[c] for p in parts]))


def test_silent_recordings_give_no_descriptors(tmp_path: Path) -> None:
    """Nothing to describe is not an error here: the rating refuses it for its own reasons."""
    import soundfile as sf

    sf.write(tmp_path / "silence.wav", np.zeros(SR * 2, dtype=np.float32), SR)
    assert acoustic_inputs(tmp_path / "silence.wav") == {}
    # a silent chunk among sounding ones is left out of the average
    y = _plucks(2.5 * CHUNK_SEC, bright=0.5, decay=4.0, seed=4)
    y[-int(CHUNK_SEC * SR) :] = 0.0
    sf.write(tmp_path / "tail.wav", y, SR)
    got = acoustic_inputs(tmp_path / "tail.wav")
    assert got
    assert all(np.isfinite(v) for v in got.values())
