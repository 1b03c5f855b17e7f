from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pianoeval.audio import AudioInfo, audio_info, load_audio, resample
from pianoeval.errors import AudioError, ParameterError, PianoEvalError

SR = 22050
WriteAudio = Callable[..., Path]
MakeTone = Callable[..., np.ndarray]


def peak_hz(y: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return float(np.argmax(spectrum) * sr / y.size)


def assert_audio_error(exc: pytest.ExceptionInfo[AudioError], path: Path, *needles: str) -> None:
    message = str(exc.value)
    assert str(path) in message
    assert exc.value.path == str(path)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


# --- formats --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt", "subtype", "lossless"),
    [
        ("a.wav", "WAV", "PCM_16", True),
        ("a.flac", "FLAC", "PCM_16", True),
        ("a.ogg", "OGG", "VORBIS", False),
        ("a.mp3", "MP3", None, False),
    ],
)
def test_formats_load(
    write_audio: WriteAudio,
    make_tone: MakeTone,
    name: str,
    fmt: str,
    subtype: str | None,
    lossless: bool,
) -> None:
    y = make_tone(440.0, 2.0, amplitude=0.5)
    path = write_audio(name, y, format=fmt, subtype=subtype)
    out, sr = load_audio(path)
    assert sr == SR
    assert out.dtype == np.float32
    assert out.shape == y.shape
    assert peak_hz(out, sr) == pytest.approx(440.0, abs=1.0)
    if lossless:
        assert np.allclose(out, y, atol=1e-4)
    else:
        assert np.corrcoef(out, y)[0, 1] > 0.99
    info = audio_info(path)
    assert info.format == fmt
    assert info.n_frames == y.size


def test_audio_info(write_audio: WriteAudio, make_tone: MakeTone) -> None:
    stereo = np.stack([make_tone(440.0, 1.5, sr=44100), make_tone(660.0, 1.5, sr=44100)])
    path = write_audio("s.wav", stereo, 44100, subtype="PCM_24")
    info = audio_info(path)
    assert info == AudioInfo(
        path=str(path),
        sr=44100,
        channels=2,
        n_frames=66150,
        duration_sec=1.5,
        format="WAV",
        subtype="PCM_24",
    )


# --- spans ----------------------------------------------------------------------------


@pytest.mark.parametrize(("t0", "t1"), [(0.0, 1.0), (1.23, 2.5), (0.5, None), (None, 0.77)])
def test_span_returns_exactly_the_slice(
    write_audio: WriteAudio, rng: np.random.Generator, t0: float | None, t1: float | None
) -> None:
    y = (0.2 * rng.standard_normal(3 * SR)).astype(np.float32)
    path = write_audio("n.wav", y, subtype="FLOAT")
    full, _ = load_audio(path, sr=None)
    part, sr = load_audio(path, sr=None, t0=t0, t1=t1)
    start = 0 if t0 is None else round(t0 * sr)
    stop = full.size if t1 is None else round(t1 * sr)
    assert np.array_equal(part, full[start:stop])


def test_t1_past_the_end_is_clipped(write_audio: WriteAudio, make_tone: MakeTone) -> None:
    path = write_audio("t.wav", make_tone(440.0, 2.0, amplitude=0.5))
    part, sr = load_audio(path, t0=1.5, t1=10.0)
    assert part.size == round(0.5 * sr)


@pytest.mark.parametrize(
    ("name", "fmt", "subtype"), [("m.mp3", "MP3", None), ("o.ogg", "OGG", "VORBIS")]
)
def test_span_in_the_middle_of_a_compressed_file(
    write_audio: WriteAudio, rng: np.random.Generator, name: str, fmt: str, subtype: str | None
) -> None:
    # Noise makes the MP3 encoder use its bit reservoir; a plain seek would then decode
    # the first frame after the seek point wrongly.
    t = np.arange(6 * SR) / SR
    y = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * rng.standard_normal(t.size)).astype(np.float32)
    path = write_audio(name, y, format=fmt, subtype=subtype)
    full, _ = load_audio(path, sr=None)
    for t0, t1 in [(0.56, 1.5), (2.345, 4.0), (4.9, 5.95)]:
        part, sr = load_audio(path, sr=None, t0=t0, t1=t1)
        start, stop = round(t0 * sr), round(t1 * sr)
        assert part.shape == (stop - start,)
        # Aligned to the sample; the MP3 synthesis filter's history differs by float
        # round-off only (a misaligned or reservoir-starved read is off by ~0.1-1).
        assert np.allclose(part, full[start:stop], rtol=0, atol=1e-6), (t0, t1)


def test_span_with_resampling(write_audio: WriteAudio, make_tone: MakeTone) -> None:
    path = write_audio("t.wav", make_tone(1000.0, 3.0, sr=44100, amplitude=0.5), 44100)
    part, sr = load_audio(path, t0=1.0, t1=2.5)
    assert sr == SR
    assert part.size == round(1.5 * SR)


# --- resampling and channels ----------------------------------------------------------


def test_resampling_keeps_frequency_and_length(
    write_audio: WriteAudio, make_tone: MakeTone
) -> None:
    y = make_tone(1000.0, 2.0, sr=44100, amplitude=0.5)
    path = write_audio("k.wav", y, 44100, subtype="FLOAT")
    out, sr = load_audio(path, sr=SR)
    assert sr == SR
    assert abs(out.size - y.size * SR / 44100) <= 1
    assert peak_hz(out, sr) == pytest.approx(1000.0, abs=1.0)
    # Level is kept too (no normalisation): RMS of a 0.5 sine.
    assert np.sqrt(np.mean(out[1000:-1000] ** 2)) == pytest.approx(0.5 / math.sqrt(2), rel=1e-3)


def test_native_rate(write_audio: WriteAudio, make_tone: MakeTone) -> None:
    path = write_audio("k.wav", make_tone(1000.0, 1.0, sr=44100), 44100)
    out, sr = load_audio(path, sr=None)
    assert (sr, out.size) == (44100, 44100)


@pytest.mark.parametrize("n", [44100, 44101, 3])
def test_resample_length(n: int) -> None:
    y = np.zeros(n, dtype=np.float32)
    assert abs(resample(y, 44100, 22050).size - n / 2) <= 0.5


def test_resample_stereo_and_identity() -> None:
    y = np.zeros((2, 48000), dtype=np.float32)
    assert resample(y, 48000, 22050).shape == (2, 22050)
    assert resample(y, 48000, 48000) is y
    assert resample(y.astype(np.float64), 48000, 48000).dtype == np.float32


@pytest.mark.parametrize(("sr_in", "sr_out"), [(0, 22050), (44100, -1), (44100.0, 22050)])
def test_resample_bad_rates(sr_in: int, sr_out: int) -> None:
    with pytest.raises(ParameterError, match="sr_"):
        resample(np.zeros(10, dtype=np.float32), sr_in, sr_out)


def test_stereo_downmix_averages_channels(write_audio: WriteAudio, make_tone: MakeTone) -> None:
    left = make_tone(440.0, 1.0, amplitude=0.5)
    stereo = np.stack([left, -0.5 * left])
    path = write_audio("st.wav", stereo, subtype="FLOAT")
    mono, _ = load_audio(path)
    assert mono.shape == left.shape
    assert np.allclose(mono, 0.25 * left, atol=1e-7)
    both, _ = load_audio(path, mono=False)
    assert both.shape == (2, left.size)
    assert np.array_equal(both[0], left)


def test_mono_file_with_mono_false_has_a_channel_axis(
    write_audio: WriteAudio, make_tone: MakeTone
) -> None:
    path = write_audio("m.wav", make_tone(440.0, 1.0, amplitude=0.5))
    y, _ = load_audio(path, mono=False)
    assert y.shape == (1, SR)


def test_import_is_light() -> None:
    code = (
        "import sys, pianoeval.audio; "
        "assert 'torch' not in sys.modules, 'torch'; "
        "assert 'librosa' not in sys.modules, 'librosa'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- errors ---------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioError) as exc:
        load_audio(path)
    assert_audio_error(exc, path, "file does not exist")
    with pytest.raises(AudioError, match="file does not exist"):
        audio_info(path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as exc:
        load_audio(tmp_path)
    assert_audio_error(exc, tmp_path, "is a directory")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"")
    with pytest.raises(AudioError) as exc:
        load_audio(path)
    assert_audio_error(exc, path, "empty file (0 bytes)")
    with pytest.raises(AudioError, match="0 bytes"):
        audio_info(path)


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "noise.wav"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(AudioError) as exc:
        load_audio(path)
    assert_audio_error(exc, path, "unreadable or corrupt", "libsndfile:", "Format not recognised")


def test_truncated_header(write_audio: WriteAudio, make_tone: MakeTone) -> None:
    path = write_audio("cut.wav", make_tone(440.0, 1.0, amplitude=0.5))
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(AudioError) as exc:
        load_audio(path)
    assert_audio_error(exc, path, "unreadable or corrupt", "libsndfile:")


def test_zero_frames(write_audio: WriteAudio) -> None:
    path = write_audio("none.wav", np.zeros(0, dtype=np.float32))
    assert path.stat().st_size > 0  # a valid header, no data
    with pytest.raises(AudioError) as exc:
        load_audio(path)
    assert_audio_error(exc, path, "no audio (0 frames)")


def test_too_short(write_audio: WriteAudio, make_tone: MakeTone) -> None:
    path = write_audio("short.wav", make_tone(440.0, 1.5, amplitude=0.5))
    with pytest.raises(AudioError) as exc:
        load_audio(path, min_duration_sec=2.0)
    assert_audio_error(exc, path, "too short", "1.500 s", "2.000 s")
    with pytest.raises(AudioError, match=r"span holds 0\.500 s"):
        load_audio(path, t0=1.0, min_duration_sec=1.0)
    y, _ = load_audio(path, min_duration_sec=1.5)
    assert y.size == round(1.5 * SR)


@pytest.mark.parametrize(
    ("t0", "t1", "needles"),
    [
        (1.0, 1.0, ("invalid span", "t1 must be greater than t0")),
        (1.0, 0.5, ("invalid span", "t1 must be greater than t0")),
        (-0.5, 1.0, ("invalid span", "t0 is negative")),
        (5.0, None, ("invalid span", "beyond the end", "duration 2.000 s")),
        (2.0, 3.0, ("invalid span", "beyond the end", "duration 2.000 s")),
        (float("nan"), None, ("invalid span", "finite")),
    ],
)
def test_invalid_span(
    write_audio: WriteAudio,
    make_tone: MakeTone,
    t0: float,
    t1: float | None,
    needles: tuple[str, ...],
) -> None:
    path = write_audio("span.wav", make_tone(440.0, 2.0, amplitude=0.5))
    with pytest.raises(AudioError) as exc:
        load_audio(path, t0=t0, t1=t1)
    assert_audio_error(exc, path, *needles)


def test_all_silent(write_audio: WriteAudio, make_tone: MakeTone) -> None:
    path = write_audio("zero.wav", np.zeros(SR, dtype=np.float32))
    with pytest.raises(AudioError) as exc:
        load_audio(path)
    assert_audio_error(exc, path, "all silent", "peak level -inf dBFS", "-80.0 dBFS")

    quiet = write_audio("quiet.wav", make_tone(440.0, 1.0, amplitude=1e-5), subtype="FLOAT")
    with pytest.raises(AudioError) as exc:
        load_audio(quiet)
    assert_audio_error(exc, quiet, "all silent", "peak level -100.0 dBFS")
    y, _ = load_audio(quiet, silence_dbfs=-120.0)
    assert y.size == SR
    y, _ = load_audio(path, silence_dbfs=None)
    assert not y.any()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(write_audio: WriteAudio, make_tone: MakeTone, bad: float) -> None:
    y = make_tone(440.0, 1.0, amplitude=0.5)
    y[11025] = bad
    path = write_audio("nan.wav", y, subtype="FLOAT")
    with pytest.raises(AudioError) as exc:
        load_audio(path)
    assert_audio_error(exc, path, "non-finite samples", "1 frames", "0.500 s")


def test_audio_error_is_a_pianoeval_error(tmp_path: Path) -> None:
    with pytest.raises(PianoEvalError):
        load_audio(tmp_path / "missing.flac")


@pytest.mark.parametrize(
    "kwargs",
    [{"sr": 0}, {"sr": -22050}, {"min_duration_sec": -1.0}, {"silence_dbfs": float("nan")}],
)
def test_bad_arguments(
    write_audio: WriteAudio, make_tone: MakeTone, kwargs: dict[str, float]
) -> None:
    path = write_audio("ok.wav", make_tone(440.0, 1.0, amplitude=0.5))
    with pytest.raises(ParameterError):
        load_audio(path, **kwargs)  # type: ignore[arg-type]


def test_sf_is_the_reader(write_audio: WriteAudio, make_tone: MakeTone) -> None:
    # load_audio(sr=None) is exactly what soundfile decodes: no gain, no normalisation.
    y = make_tone(440.0, 1.0, amplitude=0.25)
    path = write_audio("g.wav", y, subtype="PCM_16")
    ours, _ = load_audio(path, sr=None)
    theirs, _ = sf.read(path, dtype="float32")
    assert np.array_equal(ours, theirs)
