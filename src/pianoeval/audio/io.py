"""Decoding and resampling: audio files in, float32 waveforms out.

Conventions
-----------
- Every file is read through :mod:`soundfile` (the libsndfile it bundles reads WAV, AIFF,
  FLAC, Ogg Vorbis/Opus and MP3). Samples come back as ``float32`` in [-1, 1] for integer
  formats; float files keep their values, so a float WAV may exceed full scale.
- A mono waveform has shape ``(n_samples,)``; a multichannel one ``(n_channels, n_samples)``
  (channels first, as librosa). ``mono=True`` downmixes by averaging the channels.
- Nothing here normalises the level: loudness is a label (see ``docs/audio.md``).
- Only the requested span ``[t0, t1]`` is decoded: the reader seeks to ``t0`` and reads the
  frames up to ``t1``. MP3 decoders need the bit reservoir of the frames before a seek
  point, so for MP3 the reader starts :data:`MP3_PREROLL_FRAMES` frames early and drops them;
  the span then matches a full decode sample for sample (to float round-off, < 1e-6).
- Resampling uses soxr at ``"HQ"`` quality; the output length is
  ``floor(n_samples * sr_out / sr_in + 0.5)`` (halves round up: one sample stays one).
- Every problem with a file raises :class:`pianoeval.errors.AudioError` whose message names
  the file and says what is wrong with it (missing, a directory, unreadable, a name longer
  than the system allows, a symbolic link loop, empty, not decodable as the format its
  suffix names, no frames, too short, a bad span, all silent, non-finite samples); the
  path is checked by :func:`pianoeval._paths.check_input_file` before anything is decoded.
  Bad *arguments* raise :class:`pianoeval.errors.ParameterError`.
- A file that holds less audio than its header declares (a cut-off download: a WAV whose
  data chunk is longer than the file, a FLAC or MP3 that stops early) is read up to the
  damage with a :class:`TruncatedAudioWarning` naming both durations; :func:`audio_info`
  reports it (``truncated``, ``declared_duration_sec``), for a compressed file with
  ``decode=True``.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from pianoeval._paths import check_input_file
from pianoeval._typing import FloatArray, PathLike
from pianoeval.errors import AudioError, ParameterError, PianoEvalWarning

__all__ = [
    "MP3_PREROLL_FRAMES",
    "RESAMPLE_QUALITY",
    "AudioInfo",
    "TruncatedAudioWarning",
    "audio_info",
    "load_audio",
    "resample",
    "warn_truncated",
]

#: Frames decoded and dropped before a seek point in an MP3 file. Layer III frames borrow
#: up to 511 bytes from the frames before them (the bit reservoir) and overlap-add with the
#: previous granule; at the lowest bitrates that reaches back about 8000 samples. Twice that
#: costs a fraction of a second of decoding and makes span reads match a full decode to float
#: round-off (measured at 8-44.1 kHz, constant and variable bitrate).
MP3_PREROLL_FRAMES: int = 16 * 1152

#: soxr quality recipe used by :func:`resample` ("HQ": 20-bit precision, linear phase).
RESAMPLE_QUALITY: str = "HQ"

#: Frames decoded per read of a compressed file. Blocks let a truncated or damaged file
#: give up the audio before the damage: a read that fails returns nothing of its block.
#: 4096 is FLAC's usual block size; it costs about 20 % more than one big read of a clean
#: FLAC (0.138 s against 0.115 s for 2 min of 44.1 kHz stereo, measured on the shared
#: 2-core machine), and 1024 would cost 3 times as much. See :func:`_block_frames` for the
#: formats read in one call.
_BLOCK_FRAMES = 4096

#: Formats read in one call: libsndfile already counts only the frames a WAV-like file
#: holds (and decoding PCM cannot fail part way), and MP3 must be (see _block_frames).
_ONE_READ_FORMATS = frozenset({"WAV", "WAVEX", "W64", "RF64", "MP3"})

#: libsndfile messages that mislead once the path is known to be a readable regular file
#: (it says this for any MP3 it cannot find a stream in).
_MISLEADING = ("possibly a pipe", "file does not exist")


def _block_frames(f: sf.SoundFile, want: int) -> int:
    """Frames per read for this file.

    libsndfile 1.2's MP3 decoder returns wrong samples from the second ``read`` after an
    open or seek (measured: every sample after the first block differs), so an MP3 is read
    in one call; a truncated MP3 then simply returns fewer frames, which is detected too.
    A WAV is read in one call too: blocks would double its (small) cost for nothing.
    """
    return max(want, 1) if str(f.format).upper() in _ONE_READ_FORMATS else _BLOCK_FRAMES


class TruncatedAudioWarning(PianoEvalWarning):
    """The file holds less audio than its header declares (a cut-off download or copy).

    The audio that could be decoded is returned; the message names the file and both
    durations. A :class:`~pianoeval.errors.PianoEvalWarning`, so a rating carries it.
    """


def warn_truncated(
    path: PathLike, *, declared_sec: float, decoded_sec: float, stacklevel: int = 2
) -> None:
    """Warn that ``path`` holds ``decoded_sec`` of the ``declared_sec`` its header declares.

    :func:`load_audio` calls it when a read stops early; a caller that skips decoding (a
    cached transcription) calls it with the durations it stored, so the warning is the
    same on every run. Nothing happens when ``decoded_sec >= declared_sec``.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_truncated("cut.flac", declared_sec=4.0, decoded_sec=1.115)
    >>> str(caught[0].message)[:58]
    'cut.flac: truncated audio: the header declares 4.000 s but'
    """
    if decoded_sec >= declared_sec:
        return
    warnings.warn(
        f"{os.fspath(path)}: truncated audio: the header declares {declared_sec:.3f} s but "
        f"only {decoded_sec:.3f} s could be decoded; using what was decoded",
        TruncatedAudioWarning,
        stacklevel=stacklevel + 1,
    )


@dataclass(frozen=True)
class AudioInfo:
    """What the header of an audio file says, without decoding it.

    Attributes
    ----------
    path : str
        The file.
    sr : int
        Native sampling rate in Hz.
    channels : int
        Number of channels.
    n_frames : int
        Number of sample frames (samples per channel).
    duration_sec : float
        ``n_frames / sr`` in seconds.
    format : str
        Container format as libsndfile names it (``"WAV"``, ``"FLAC"``, ``"OGG"``, ``"MP3"``...).
    subtype : str
        Encoding (``"PCM_16"``, ``"FLOAT"``, ``"VORBIS"``, ``"MPEG_LAYER_III"``...).
    declared_n_frames : int or None
        Frames the header declares, when that differs from ``n_frames`` (a truncated
        file); None when they agree.
    """

    path: str
    sr: int
    channels: int
    n_frames: int
    duration_sec: float
    format: str
    subtype: str
    declared_n_frames: int | None = None

    @property
    def truncated(self) -> bool:
        """True when the file holds fewer frames than its header declares."""
        return self.declared_n_frames is not None and self.declared_n_frames > self.n_frames

    @property
    def declared_duration_sec(self) -> float:
        """Duration the header declares, in seconds (``duration_sec`` when not truncated)."""
        n = self.n_frames if self.declared_n_frames is None else self.declared_n_frames
        return n / self.sr


def _check_path(path: PathLike) -> str:
    """Return ``path`` as a string; AudioError when it is not a readable, non-empty file."""
    return os.fspath(check_input_file(path, AudioError, what="audio file"))


def _format_label(path_str: str) -> str:
    """``"MP3 audio"`` for ``x.mp3``: what the suffix says the file should hold."""
    suffix = Path(path_str).suffix.lstrip(".").upper()
    return f"{suffix} audio" if suffix else "audio in any format libsndfile reads"


def _open(path_str: str) -> sf.SoundFile:
    try:
        return sf.SoundFile(path_str)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        detail = _libsndfile_message(exc)
        if "malformed" in detail.lower():
            problem = f"truncated or corrupt {_format_label(path_str)}: the format is known "
            problem += "but its structure is broken"
        else:
            problem = f"not decodable as {_format_label(path_str)}"
        if not any(m in detail.lower() for m in _MISLEADING):
            problem += f" (libsndfile: {detail})"
        raise AudioError(path_str, f"unreadable or corrupt audio: {problem}") from exc


def _libsndfile_message(exc: BaseException) -> str:
    message = getattr(exc, "error_string", None)
    return (str(message) if message else str(exc)).strip()


def _declared_frames(f: sf.SoundFile) -> int:
    """Frames the header declares; libsndfile shortens a truncated WAV's count silently.

    For WAV-like formats libsndfile logs the data chunk's declared size next to the size
    the file can hold (``data : 176400 (should be 58770)``); other formats report the
    header's count as ``frames`` and fail (or stop) when decoding past the real end.
    """
    frames = int(f.frames)
    if str(f.format).upper() not in {"WAV", "WAVEX", "W64", "RF64"}:
        return frames
    log = str(f.extra_info)
    data = re.search(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", log, re.MULTILINE)
    align = re.search(r"Block Align\s*:\s*(\d+)", log)
    if data is None or align is None or int(align.group(1)) <= 0:
        return frames
    declared_bytes = int(data.group(1))
    if declared_bytes in (0, 0xFFFFFFFF):  # streaming writers: length unknown, not truncated
        return frames
    return max(frames, declared_bytes // int(align.group(1)))


def _count_decodable(f: sf.SoundFile) -> tuple[int, BaseException | None]:
    """Decode the whole file block by block; return the frames decoded and the error, if any."""
    # Counting needs no correct samples, so MP3 too is read in blocks (its values after
    # the first block are wrong, see _block_frames, but their number is right).
    n = 0
    try:
        while True:
            block = f.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
            n += block.shape[0]
            if block.shape[0] < _BLOCK_FRAMES:
                return n, None
    except (sf.LibsndfileError, RuntimeError) as exc:
        return n, exc


def audio_info(path: PathLike, *, decode: bool = False) -> AudioInfo:
    """Read the header of an audio file.

    Parameters
    ----------
    path : str or os.PathLike
        The audio file (any format libsndfile reads: wav, flac, ogg, mp3, ...).
    decode : bool
        Decode the whole file to count the frames it really holds. The header alone
        reveals a truncated WAV, but a FLAC, Ogg or MP3 cut short still declares its full
        length; ``decode=True`` finds those too, at the cost of a full decode.

    Returns
    -------
    AudioInfo
        Rate, channels, frame count, duration, format and subtype. When the file holds
        fewer frames than its header declares, ``n_frames`` and ``duration_sec`` are what
        it holds, ``declared_n_frames`` what the header says, and ``truncated`` is True.

    Raises
    ------
    AudioError
        If the file is missing, a directory, unreadable, empty (0 bytes), not decodable,
        or (with ``decode``) holds no decodable frame at all.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.zeros(22050, dtype=np.float32), 22050)
    >>> audio_info(path).duration_sec
    1.0
    """
    path_str = _check_path(path)
    with _open(path_str) as f:
        sr = int(f.samplerate)
        n_frames = int(f.frames)
        declared = _declared_frames(f)
        if decode and n_frames > 0:
            n_frames, error = _count_decodable(f)
            if n_frames == 0 and error is not None:
                raise AudioError(
                    path_str,
                    f"truncated or corrupt: the header declares {declared / sr:.3f} s of "
                    f"audio but none could be decoded (libsndfile: {_libsndfile_message(error)})",
                )
        return AudioInfo(
            path=path_str,
            sr=sr,
            channels=int(f.channels),
            n_frames=n_frames,
            duration_sec=n_frames / sr,
            format=str(f.format),
            subtype=str(f.subtype),
            declared_n_frames=declared if declared != n_frames else None,
        )


def resample(y: FloatArray, sr_in: int, sr_out: int) -> FloatArray:
    """Resample a waveform with soxr (quality :data:`RESAMPLE_QUALITY`).

    Parameters
    ----------
    y : np.ndarray [float], shape=(n_samples,) or (n_channels, n_samples)
        Waveform, channels first.
    sr_in : int
        Its sampling rate in Hz.
    sr_out : int
        The rate wanted, in Hz.

    Returns
    -------
    np.ndarray [float32], shape=(n,) or (n_channels, n)
        The resampled waveform, ``n = floor(n_samples * sr_out / sr_in + 0.5)``. When the rates
        are equal, ``y`` as float32 (no copy when it already is).

    Raises
    ------
    ParameterError
        If a rate is not a positive integer or ``y`` has more than two dimensions.

    Examples
    --------
    >>> import numpy as np
    >>> resample(np.zeros(44100, dtype=np.float32), 44100, 22050).shape
    (22050,)
    """
    for name, value in (("sr_in", sr_in), ("sr_out", sr_out)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise ParameterError(f"{name} must be a positive integer in Hz, got {value!r}")
    y = np.asarray(y)
    if y.ndim not in (1, 2):
        raise ParameterError(
            f"y must have shape (n_samples,) or (n_channels, n_samples), got {y.shape}"
        )
    y32 = y.astype(np.float32, copy=False)
    if sr_in == sr_out:
        return y32
    if y32.ndim == 1:
        out = soxr.resample(y32, int(sr_in), int(sr_out), quality=RESAMPLE_QUALITY)
    else:
        # soxr wants (frames, channels).
        out = soxr.resample(
            np.ascontiguousarray(y32.T), int(sr_in), int(sr_out), quality=RESAMPLE_QUALITY
        ).T
    return np.ascontiguousarray(out, dtype=np.float32)


def _validate_load_args(
    sr: int | None,
    t0: float | None,
    t1: float | None,
    min_duration_sec: float,
    silence_dbfs: float | None,
) -> None:
    if sr is not None and (isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr <= 0):
        raise ParameterError(f"sr must be a positive integer in Hz or None, got {sr!r}")
    if not math.isfinite(min_duration_sec) or min_duration_sec < 0:
        raise ParameterError(f"min_duration_sec must be >= 0, got {min_duration_sec!r}")
    if silence_dbfs is not None and math.isnan(silence_dbfs):
        raise ParameterError("silence_dbfs must be a number in dBFS or None, got nan")
    for name, value in (("t0", t0), ("t1", t1)):
        if value is not None and not isinstance(value, int | float | np.floating | np.integer):
            raise ParameterError(f"{name} must be a time in seconds or None, got {value!r}")


def _span_frames(
    path_str: str, t0: float | None, t1: float | None, sr_native: int, n_frames: int
) -> tuple[int, int]:
    """Frame range [start, stop) of the span; AudioError when the span is unusable."""
    duration_sec = n_frames / sr_native
    start_sec = 0.0 if t0 is None else float(t0)
    stop_sec = duration_sec if t1 is None else float(t1)
    span = f"[{_fmt_t(t0, 'start')}, {_fmt_t(t1, 'end')}]"
    if not (math.isfinite(start_sec) and math.isfinite(stop_sec)):
        raise AudioError(path_str, f"invalid span {span}: times must be finite")
    if start_sec < 0:
        raise AudioError(path_str, f"invalid span {span}: t0 is negative")
    if t1 is not None and stop_sec <= start_sec:
        raise AudioError(path_str, f"invalid span {span}: t1 must be greater than t0")
    start = round(start_sec * sr_native)
    stop = min(round(stop_sec * sr_native), n_frames)
    if start >= n_frames:
        raise AudioError(
            path_str,
            f"invalid span {span}: t0 is at or beyond the end of the file "
            f"(duration {duration_sec:.3f} s)",
        )
    if stop <= start:
        raise AudioError(path_str, f"invalid span {span}: shorter than one sample")
    return start, stop


def _fmt_t(t: float | None, default: str) -> str:
    return default if t is None else f"{float(t):g} s"


def _read_frames(
    f: sf.SoundFile, path_str: str, start: int, stop: int, declared_frames: int
) -> FloatArray:
    """Decode frames [start, stop) as (channels, n) float32, seeking instead of decoding all.

    Reads block by block, so a file cut short (or corrupt part way) still gives the audio
    before the damage, with a :class:`TruncatedAudioWarning`; AudioError when no frame of
    the span can be decoded.
    """
    sr_native = int(f.samplerate)
    preroll = min(start, MP3_PREROLL_FRAMES) if str(f.format).upper() == "MP3" else 0
    want = stop - start + preroll
    blocks: list[FloatArray] = []
    got = 0
    error: BaseException | None = None
    try:
        if start - preroll > 0:
            f.seek(start - preroll)
        size = _block_frames(f, want)
        while got < want:
            block = f.read(min(size, want - got), dtype="float32", always_2d=True)
            if block.shape[0] == 0:
                break
            blocks.append(block)
            got += block.shape[0]
    except (sf.LibsndfileError, RuntimeError) as exc:
        error = exc
    if not blocks:
        data = np.zeros((0, int(f.channels)), dtype=np.float32)
    else:  # one block (WAV, MP3, short spans) needs no copy
        data = (blocks[0] if len(blocks) == 1 else np.concatenate(blocks))[preroll:]
    declared_sec = declared_frames / sr_native
    if data.shape[0] == 0:
        detail = f" (libsndfile: {_libsndfile_message(error)})" if error is not None else ""
        raise AudioError(
            path_str,
            f"truncated or corrupt: the header declares {declared_sec:.3f} s of audio but "
            f"none could be decoded from {start / sr_native:.3f} s on{detail}",
        )
    end = start + data.shape[0]
    # A span reaching the end of what libsndfile reports wants the whole declared length:
    # libsndfile shortens a truncated WAV's `frames` to what the file holds.
    wanted_end = declared_frames if stop >= int(f.frames) else stop
    if end < wanted_end:
        warn_truncated(
            path_str,
            declared_sec=declared_sec,
            decoded_sec=end / sr_native,
            stacklevel=3,
        )
    return np.ascontiguousarray(data.T, dtype=np.float32)


def load_audio(
    path: PathLike,
    *,
    sr: int | None = 22050,
    t0: float | None = None,
    t1: float | None = None,
    mono: bool = True,
    min_duration_sec: float = 0.0,
    silence_dbfs: float | None = -80.0,
) -> tuple[FloatArray, int]:
    """Load an audio file, or the span ``[t0, t1]`` of it, as a float32 waveform.

    Parameters
    ----------
    path : str or os.PathLike
        The audio file: wav, flac, ogg (Vorbis, Opus), mp3, or anything else libsndfile reads.
    sr : int or None
        Rate to return, in Hz; the audio is resampled with soxr when the file's rate
        differs. ``None`` keeps the native rate.
    t0 : float or None
        Start of the span in seconds (``None``: the start of the file).
    t1 : float or None
        End of the span in seconds (``None``: the end of the file). A ``t1`` past the end
        is clipped to the end. Only the span is decoded.
    mono : bool
        Average the channels into one. When False, the result always has a channel axis,
        ``(n_channels, n_samples)``, even for a mono file.
    min_duration_sec : float
        Smallest acceptable duration of the loaded audio (the span when one is given).
    silence_dbfs : float or None
        Peak level in dBFS below which the loaded audio counts as silent (an error).
        ``None`` accepts silent audio.

    Returns
    -------
    y : np.ndarray [float32], shape=(n_samples,) or (n_channels, n_samples)
        The waveform, not normalised: its level is the file's level.
    sr : int
        Its sampling rate in Hz.

    Raises
    ------
    AudioError
        One message per problem, each naming the file: no such file; a directory; not
        readable; a name or path too long; a symbolic link loop; an empty (0-byte) file;
        unreadable or corrupt data; truncated with nothing decodable; no audio frames;
        shorter than ``min_duration_sec``; an invalid span (negative ``t0``, ``t1 <= t0``,
        ``t0`` at or past the end); non-finite samples; all silent.
    ParameterError
        If an argument has an unusable value (``sr <= 0``, ``min_duration_sec < 0``).

    Warns
    -----
    TruncatedAudioWarning
        When the span reaches past what the file really holds (its header declares more):
        the audio that could be decoded is returned, and the message names the file, the
        declared and the decoded duration.

    Notes
    -----
    Sample indices are ``round(t * sr_native)`` in the file's own rate, so the span read
    equals the same slice of a full read (resampling happens after the slice).

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> t = np.arange(44100 * 2) / 44100
    >>> sf.write(path, 0.5 * np.sin(2 * np.pi * 440 * t), 44100)
    >>> y, sr = load_audio(path, t0=0.5, t1=1.5)
    >>> y.shape, y.dtype, sr
    ((22050,), dtype('float32'), 22050)
    """
    _validate_load_args(sr, t0, t1, min_duration_sec, silence_dbfs)
    path_str = _check_path(path)
    with _open(path_str) as f:
        sr_native = int(f.samplerate)
        n_frames = int(f.frames)
        if n_frames <= 0:
            raise AudioError(path_str, "contains no audio (0 frames)")
        start, stop = _span_frames(path_str, t0, t1, sr_native, n_frames)
        duration_sec = (stop - start) / sr_native
        if duration_sec < min_duration_sec:
            what = "audio is" if t0 is None and t1 is None else "span holds"
            raise AudioError(
                path_str,
                f"too short: {what} {duration_sec:.3f} s, shorter than the required "
                f"minimum of {min_duration_sec:.3f} s",
            )
        data = _read_frames(f, path_str, start, stop, _declared_frames(f))

    finite = np.isfinite(data)
    if not finite.all():
        bad_frames = np.nonzero(~finite.all(axis=0))[0]
        raise AudioError(
            path_str,
            f"contains non-finite samples (NaN or inf) in {bad_frames.size} frames, "
            f"the first at {(start + bad_frames[0]) / sr_native:.3f} s",
        )

    y: FloatArray = data.mean(axis=0, dtype=np.float32) if mono else data
    if sr is not None and sr != sr_native:
        y = resample(y, sr_native, int(sr))
    sr_out = sr_native if sr is None else int(sr)

    if silence_dbfs is not None:
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        peak_dbfs = 20.0 * math.log10(peak) if peak > 0 else -math.inf
        if peak_dbfs < silence_dbfs:
            raise AudioError(
                path_str,
                f"all silent: peak level {peak_dbfs:.1f} dBFS is below the silence "
                f"threshold of {silence_dbfs:.1f} dBFS",
            )
    return y, sr_out
