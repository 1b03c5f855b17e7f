"""Bad inputs answered honestly: paths the system refuses, undecodable bytes, truncated files,
and audio in which nothing (or almost nothing) is recorded."""

from __future__ import annotations

import errno
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pianoeval.audio import TruncatedAudioWarning, audio_info, load_audio, warn_truncated
from pianoeval.errors import AudioError, PianoEvalWarning

SR = 22050
WriteAudio = Callable[..., Path]
MakeTone = Callable[..., np.ndarray]


def cut(path: Path, keep_frac: float) -> Path:
    """Keep the first ``keep_frac`` of a file's bytes (a cut-off download)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_frac)])
    return path


def both_readers_say(path: Path | str, *needles: str) -> None:
    for read in (audio_info, load_audio):
        with pytest.raises(AudioError) as exc:
            read(path)
        message = str(exc.value)
        assert exc.value.path == os.fspath(path)
        assert message.startswith(os.fspath(path) + ": ")
        for needle in needles:
            assert needle in message, f"{read.__name__}: {needle!r} not in {message!r}"


# --- paths the system refuses ---------------------------------------------------------


def test_name_longer_than_name_max(tmp_path: Path) -> None:
    path = tmp_path / ("x" * 300 + ".wav")
    both_readers_say(path, "file name too long", "304 bytes", "allows (255)")


def test_path_longer_than_path_max(tmp_path: Path) -> None:
    path = tmp_path.joinpath(*(["d" * 200] * 25), "a.wav")  # about 5000 bytes
    assert len(os.fsencode(path)) > 4096
    both_readers_say(path, "path too long")


def test_symlink_loop(tmp_path: Path) -> None:
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    a.symlink_to(b)
    b.symlink_to(a)
    both_readers_say(a, "symbolic link loop")


def test_broken_symlink(tmp_path: Path) -> None:
    link = tmp_path / "link.wav"
    link.symlink_to(tmp_path / "gone.wav")
    both_readers_say(link, "broken symbolic link", "gone.wav")


def test_directory(tmp_path: Path) -> None:
    both_readers_say(tmp_path, "is a directory, not an audio file")


def test_part_of_path_is_a_file(tmp_path: Path, tone_wav: Path) -> None:
    both_readers_say(tone_wav / "inner.wav", "a part of the path is not a folder")


def test_unreadable_file_is_named(tone_wav: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root reads any file, so the refusal is made by the open the check does.
    import pianoeval._paths as paths

    real_open = os.open

    def refuse(path: str, flags: int, *args: int) -> int:
        if os.fspath(path) == os.fspath(tone_wav):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(paths.os, "open", refuse)
    both_readers_say(tone_wav, "cannot be read: permission denied")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_unreadable_file_for_real(tone_wav: Path) -> None:
    tone_wav.chmod(0)
    try:
        both_readers_say(tone_wav, "permission denied")
    finally:
        tone_wav.chmod(0o644)


# --- bytes that are not audio ---------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mp3", ".wav", ".flac", ".ogg"])
def test_random_bytes_say_not_decodable_as_their_format(
    tmp_path: Path, rng: np.random.Generator, suffix: str
) -> None:
    path = tmp_path / f"noise{suffix}"
    path.write_bytes(rng.integers(0, 256, 8000, dtype=np.uint8).tobytes())
    label = suffix.lstrip(".").upper()
    both_readers_say(path, f"not decodable as {label} audio")
    with pytest.raises(AudioError) as exc:
        load_audio(path)
    # libsndfile says "(possibly a pipe?)" of an MP3 it cannot find a stream in: misleading
    assert "pipe" not in str(exc.value)
    assert "does not exist" not in str(exc.value)


def test_no_suffix(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "noise"
    path.write_bytes(rng.integers(0, 256, 8000, dtype=np.uint8).tobytes())
    both_readers_say(path, "not decodable as audio in any format libsndfile reads")


# --- truncated files ------------------------------------------------------------------


def test_truncated_wav_is_read_up_to_the_cut_and_named(
    write_audio: WriteAudio, make_tone: MakeTone
) -> None:
    y = make_tone(440.0, 4.0, amplitude=0.5)
    path = cut(write_audio("cut.wav", y, subtype="PCM_16"), 1 / 3)
    held = (path.stat().st_size - 44) // 2  # 16-bit mono after a 44-byte header

    info = audio_info(path)
    assert info.truncated
    assert info.n_frames == held
    assert info.declared_n_frames == y.size
    assert info.declared_duration_sec == pytest.approx(4.0)
    assert info.duration_sec == pytest.approx(held / SR)

    with pytest.warns(TruncatedAudioWarning) as record:
        out, _sr = load_audio(path)
    message = str(record[0].message)
    assert str(path) in message
    assert "4.000 s" in message
    assert f"{held / SR:.3f} s" in message
    assert out.shape == (held,)
    np.testing.assert_allclose(out, y[:held], atol=1e-4)

    # a span inside what the file holds is whole: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        part, _ = load_audio(path, t0=0.1, t1=0.5)
    assert part.shape == (round(0.4 * SR),)


def test_truncated_flac_needs_a_decode_to_be_found(
    write_audio: WriteAudio, make_tone: MakeTone
) -> None:
    y = make_tone(440.0, 4.0, amplitude=0.5)
    path = cut(write_audio("cut.flac", y), 0.5)

    header = audio_info(path)  # FLAC's STREAMINFO still declares 4 s
    assert not header.truncated
    assert header.duration_sec == pytest.approx(4.0)

    decoded = audio_info(path, decode=True)
    assert decoded.truncated
    assert decoded.declared_duration_sec == pytest.approx(4.0)
    assert 0.5 < decoded.duration_sec < 2.0

    with pytest.warns(TruncatedAudioWarning, match="header declares 4.000 s"):
        out, _ = load_audio(path)
    assert out.size == decoded.n_frames
    np.testing.assert_allclose(out, y[: out.size], atol=1e-4)

    # a span entirely past the damage has nothing to give: an error, not a warning
    with pytest.raises(AudioError) as exc:
        load_audio(path, t0=3.0, t1=3.5)
    assert "truncated or corrupt" in str(exc.value)
    assert "3.000 s" in str(exc.value)


def test_truncated_mp3(write_audio: WriteAudio, make_tone: MakeTone) -> None:
    y = make_tone(440.0, 4.0, amplitude=0.5)
    path = cut(write_audio("cut.mp3", y, format="MP3"), 0.4)
    decoded = audio_info(path, decode=True)
    assert decoded.truncated
    assert decoded.duration_sec < 2.5
    with pytest.warns(TruncatedAudioWarning, match=r"only \d\.\d{3} s could be decoded"):
        out, _ = load_audio(path)
    assert out.size == decoded.n_frames


def test_truncated_ogg_is_named(write_audio: WriteAudio, make_tone: MakeTone) -> None:
    path = cut(write_audio("cut.ogg", make_tone(440.0, 4.0, amplitude=0.5), format="OGG"), 1 / 3)
    both_readers_say(path, "truncated or corrupt OGG audio")


def test_warn_truncated_is_a_pianoeval_warning() -> None:
    assert issubclass(TruncatedAudioWarning, PianoEvalWarning)
    with pytest.warns(TruncatedAudioWarning) as record:
        warn_truncated("cached.flac", declared_sec=4.0, decoded_sec=1.5)
    assert str(record[0].message) == (
        "cached.flac: truncated audio: the header declares 4.000 s but only 1.500 s could be "
        "decoded; using what was decoded"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_truncated("whole.flac", declared_sec=4.0, decoded_sec=4.0)


def test_whole_files_are_not_truncated(write_audio: WriteAudio, make_tone: MakeTone) -> None:
    y = make_tone(440.0, 1.0, amplitude=0.5)
    for name, fmt in [("w.wav", None), ("f.flac", None), ("m.mp3", "MP3")]:
        path = write_audio(name, y, format=fmt)
        info = audio_info(path, decode=True)
        assert not info.truncated
        assert info.declared_n_frames is None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            load_audio(path)


# --- nothing (or almost nothing) recorded ----------------------------------------------


def test_one_sample_file(write_audio: WriteAudio) -> None:
    path = write_audio("one.wav", np.array([0.5], dtype=np.float32), 44100)
    y, sr = load_audio(path)  # 44.1 kHz -> 22.05 kHz: one sample stays one
    assert (y.shape, sr) == ((1,), SR)
    assert np.isfinite(y).all()
    y, sr = load_audio(path, sr=None)
    assert (y.shape, sr) == ((1,), 44100)
    assert y[0] == pytest.approx(0.5, abs=1e-4)


def test_one_silent_sample_is_silent(write_audio: WriteAudio) -> None:
    path = write_audio("one0.wav", np.zeros(1, dtype=np.float32))
    with pytest.raises(AudioError, match="all silent"):
        load_audio(path)
    y, _ = load_audio(path, silence_dbfs=None)
    np.testing.assert_array_equal(y, [0.0])


def test_tenth_of_a_second(write_audio: WriteAudio, make_tone: MakeTone) -> None:
    path = write_audio("short.wav", make_tone(440.0, 0.1, sr=44100, amplitude=0.5), 44100)
    y, sr = load_audio(path)
    assert y.shape == (round(0.1 * SR),)
    assert sr == SR
    with pytest.raises(AudioError, match="too short"):
        load_audio(path, min_duration_sec=1.0)


def test_dc_is_loaded_as_it_is(write_audio: WriteAudio) -> None:
    path = write_audio("dc.wav", np.full(SR, 0.5, dtype=np.float32))
    y, _ = load_audio(path)
    np.testing.assert_allclose(y, 0.5, atol=1e-4)  # no normalising, no DC removal


def test_silence_and_nan(write_audio: WriteAudio) -> None:
    silent = write_audio("silent.wav", np.zeros(SR, dtype=np.float32))
    with pytest.raises(AudioError, match="all silent"):
        load_audio(silent)
    y = np.zeros(SR, dtype=np.float32)
    y[SR // 2] = np.nan
    nan = write_audio("nan.wav", y, subtype="FLOAT")
    with pytest.raises(AudioError) as exc:
        load_audio(nan)
    assert "non-finite samples" in str(exc.value)
    assert "0.500 s" in str(exc.value)


def test_stays_readable_in_bulk(tmp_path: Path) -> None:
    # the readers decode a file they checked: the check opens and closes, leaking nothing
    path = tmp_path / "t.wav"
    sf.write(path, np.full(100, 0.25), SR)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(200):
        audio_info(path)
    assert len(os.listdir("/proc/self/fd")) <= before + 1
