"""Recording degradations: MP3 at a phone's bitrate and band limiting, never moving notes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pianoeval.errors import ParameterError
from pianoeval.render import Augment, apply_augment, render_files, render_midi
from pianoeval.render.augment import (
    band_limit,
    mp3,
    mp3_bitrate_range,
    mp3_compression_level,
    mp3_delay,
    mp3_encode,
)

SR = 22050


def sine(freq_hz: float, seconds: float = 2.0, amplitude: float = 0.1) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def band_power(y: np.ndarray, lo_hz: float, hi_hz: float) -> float:
    spec = np.abs(np.fft.rfft(np.asarray(y, dtype=np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(y), 1.0 / SR)
    return float(spec[(freqs >= lo_hz) & (freqs < hi_hz)].sum())


def clicks(positions_sec: tuple[float, ...], seconds: float = 3.0) -> np.ndarray:
    """Quiet noise (a noise floor for the codec) with sharp clicks at ``positions_sec``."""
    y = (0.003 * np.random.default_rng(0).standard_normal(round(seconds * SR))).astype(np.float32)
    for pos in positions_sec:
        p = round(pos * SR)
        y[p : p + 3] = [0.6, -0.6, 0.6]
    return y


# --- MP3 ------------------------------------------------------------------------------


@pytest.mark.parametrize("kbps", [16, 32, 64, 128])  # below 56 kbps: no info tag, delay 1105
def test_mp3_keeps_length_and_click_times(kbps: int) -> None:
    positions = (0.5, 1.7, 2.6)
    y = clicks(positions)
    out = mp3(y, SR, kbps)
    assert out.shape == y.shape
    assert out.dtype == np.float32
    assert not np.allclose(out, y, atol=1e-4)  # the codec did change the signal
    for pos in positions:  # the click is the loudest sample within 50 ms of its place
        p = round(pos * SR)
        window = np.abs(out[p - SR // 20 : p + SR // 20])
        assert window.max() > 0.05, (kbps, pos)  # the click (0.1-0.4 left), not the noise
        moved_ms = 1000 * abs(int(np.argmax(window)) - SR // 20) / SR
        assert moved_ms <= 1.0, (kbps, pos, moved_ms)


def test_mp3_delay_is_measured_as_0_or_1105_samples() -> None:
    # 576 (LAME) + 529 (decoder) samples when frames are too small for LAME's info tag;
    # otherwise mpg123 trims encoder delay and padding from the tag itself
    assert mp3_delay(SR, 32) == 1105
    assert mp3_delay(SR, 64) == 0


@pytest.mark.parametrize("kbps", [32, 64, 128])
def test_mp3_real_bitrate_is_the_requested_one(kbps: int) -> None:
    y = (0.1 * np.random.default_rng(1).standard_normal(3 * SR)).astype(np.float32)
    real_kbps = 8 * len(mp3_encode(y, SR, kbps)) / 3.0 / 1000
    assert real_kbps == pytest.approx(kbps, rel=0.25)
    assert real_kbps == pytest.approx(kbps, rel=0.05)  # measured: +1.6 to +2.8 %


def test_mp3_in_apply_augment_is_last_and_deterministic() -> None:
    y = sine(440.0) + clicks((1.0,), seconds=2.0)
    aug = Augment(mp3_kbps=64, snr_db=30.0, seed=3)
    a = apply_augment(y, SR, aug, file_seed=7)
    b = apply_augment(y, SR, aug, file_seed=7)
    np.testing.assert_array_equal(a, b)
    noisy = apply_augment(y, SR, Augment(snr_db=30.0, seed=3), file_seed=7)
    np.testing.assert_array_equal(a, mp3(noisy, SR, 64))  # the codec sees the noisy signal
    assert a.shape == y.shape


def test_mp3_compression_level_inverts_libsndfile() -> None:
    for sr in (8000, 16000, 22050, 44100):
        lo, hi = mp3_bitrate_range(sr)
        for kbps in (lo, (lo + hi) // 2, hi):
            c = mp3_compression_level(sr, kbps)
            assert 0.0 <= c < 1.0
            assert int(hi - c * (hi - lo)) == kbps  # libsndfile's own formula


# --- band limit -----------------------------------------------------------------------


def test_lowpass_removes_the_top_and_keeps_a_low_tone() -> None:
    noise = (0.1 * np.random.default_rng(2).standard_normal(2 * SR)).astype(np.float32)
    out = band_limit(noise, SR, lowpass_hz=4000.0, highpass_hz=None)
    assert out.shape == noise.shape
    kept = band_power(out, 0, 3000) / band_power(noise, 0, 3000)
    above = band_power(out, 6000, SR / 2) / band_power(noise, 6000, SR / 2)
    assert kept > 0.95
    assert 10 * math.log10(above) < -40  # 48 dB per octave from 4 kHz, 6 kHz on

    tone = sine(440.0)
    low = band_limit(tone, SR, lowpass_hz=4000.0, highpass_hz=None)
    np.testing.assert_allclose(low[SR // 4 : -SR // 4], tone[SR // 4 : -SR // 4], atol=1e-4)


def test_highpass_removes_the_bass_and_nothing_moves() -> None:
    y = sine(50.0) + sine(2000.0)
    out = band_limit(y, SR, lowpass_hz=None, highpass_hz=300.0)
    assert band_power(out, 0, 100) / band_power(y, 0, 100) < 1e-4
    assert band_power(out, 1500, 2500) / band_power(y, 1500, 2500) > 0.99
    click = clicks((1.0,))
    filtered = band_limit(click, SR, lowpass_hz=4000.0, highpass_hz=300.0)
    assert abs(int(np.argmax(np.abs(filtered))) - SR) <= 1  # zero-phase: no delay


# --- parameters and the cache key -----------------------------------------------------


def test_old_style_signal_params_are_unchanged() -> None:
    # these dicts are the render cache keys' augmentation part from before the new fields
    assert Augment().signal_params() == {}
    assert Augment(soundfont="timgm6mb", seed=2).signal_params() == {}
    assert Augment(reverb_rt60_sec=0.8).signal_params() == {}
    assert Augment(reverb_rt60_sec=0.8, reverb_wet=0.3, seed=1).signal_params() == {
        "reverb_rt60_sec": 0.8,
        "reverb_wet": 0.3,
        "seed": 1,
    }
    assert Augment(gain_db=-3).signal_params() == {"gain_db": -3.0}
    assert Augment(tilt_db_per_octave=1.5, snr_db=30, seed=7).signal_params() == {
        "tilt_db_per_octave": 1.5,
        "snr_db": 30.0,
        "seed": 7,
    }
    full = Augment(
        soundfont="musescore_general",
        reverb_rt60_sec=1.2,
        reverb_wet=0.5,
        gain_db=2,
        tilt_db_per_octave=-1,
        snr_db=25,
        seed=4,
    )
    assert list(full.signal_params().items()) == [
        ("reverb_rt60_sec", 1.2),
        ("reverb_wet", 0.5),
        ("gain_db", 2.0),
        ("tilt_db_per_octave", -1.0),
        ("snr_db", 25.0),
        ("seed", 4),
    ]
    assert not Augment(soundfont="timgm6mb").changes_signal


def test_new_fields_enter_signal_params_only_when_set() -> None:
    aug = Augment(mp3_kbps=64, lowpass_hz=4000, highpass_hz=200.0, seed=9)
    assert aug.signal_params() == {"lowpass_hz": 4000.0, "highpass_hz": 200.0, "mp3_kbps": 64}
    for kwargs in ({"mp3_kbps": 64}, {"lowpass_hz": 3000.0}, {"highpass_hz": 100.0}):
        assert Augment(**kwargs).changes_signal, kwargs


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mp3_kbps": 4}, "mp3_kbps"),
        ({"mp3_kbps": 400}, "mp3_kbps"),
        ({"mp3_kbps": 64.0}, "mp3_kbps"),
        ({"mp3_kbps": True}, "mp3_kbps"),
        ({"lowpass_hz": 500.0}, "lowpass_hz"),
        ({"lowpass_hz": float("nan")}, "lowpass_hz"),
        ({"lowpass_hz": "4000"}, "lowpass_hz"),
        ({"highpass_hz": 5.0}, "highpass_hz"),
        ({"highpass_hz": 3000.0, "lowpass_hz": 2000.0}, "highpass_hz"),
    ],
)
def test_bad_recording_values_are_refused(kwargs: dict, field: str) -> None:
    with pytest.raises(ParameterError, match=rf"Augment\.{field}"):
        Augment(**kwargs)


def test_values_impossible_at_the_rate_are_refused_when_applied() -> None:
    y = sine(440.0, 0.5)
    with pytest.raises(ParameterError, match=r"lowpass_hz=12000\.0 must be below the Nyquist"):
        apply_augment(y, SR, Augment(lowpass_hz=12000.0), file_seed=0)
    with pytest.raises(ParameterError, match="mp3_kbps"):
        apply_augment(y, SR, Augment(mp3_kbps=320), file_seed=0)  # 8-160 at 22050 Hz
    with pytest.raises(ParameterError, match="mp3_kbps"):
        apply_augment(y, 20000, Augment(mp3_kbps=64), file_seed=0)  # no MP3 rate


# --- through the renderer -------------------------------------------------------------


@pytest.mark.backend
def test_render_files_with_a_phone_recording(tmp_path: Path) -> None:
    import soundfile as sf

    from pianoeval.examples import example_midi_path

    midi = example_midi_path()
    aug = Augment(mp3_kbps=64, lowpass_hz=4000.0)
    res = render_files([midi], tmp_path / "cache", augment=aug, jobs=1, progress=False)[0]
    assert res.error is None, res.error
    phone, sr = sf.read(res.audio_path, dtype="float32")
    dry, dry_sr = render_midi(midi)
    assert sr == dry_sr
    assert len(phone) == len(dry)
    assert band_power(phone, 6000, sr / 2) < 1e-4 * band_power(dry, 6000, sr / 2)
    # the level below the cutoff stays (16-bit cache and codec aside)
    assert band_power(phone, 100, 3000) == pytest.approx(band_power(dry, 100, 3000), rel=0.1)
    again = render_files([midi], tmp_path / "cache", augment=aug, jobs=1, progress=False)[0]
    assert again.cached
    assert again.key == res.key
    plain = render_files([midi], tmp_path / "cache", jobs=1, progress=False)[0]
    assert plain.key != res.key
