"""Render augmentations: SoundFont, room, EQ tilt, band limit, gain, noise and MP3, per render.

An :class:`Augment` is part of a render's cache key, and every random part of it is seeded
by its ``seed`` and the MIDI file's content, so the same MIDI and Augment always give the
same audio, while two files with the same Augment get different noise and rooms.

Processing order: reverb, tilt, band limit, gain, noise, MP3 (a room, then the
microphone's colour and bandwidth, then the recording level, then the noise floor, and
last the lossy codec, which sees the noisy signal as a phone's encoder does). None of them
moves anything in time: reverb keeps the dry signal in place and adds a causal tail; tilt
and the band limit are zero-phase; the MP3 codec's delay is measured and removed
(:func:`mp3_delay`); the length stays ``end_sec + tail_sec``.

There is deliberately **no time-stretch and no tempo change**: timing and pace are labels,
and the audio must stay aligned with the MIDI's note times.

Examples
--------
>>> import numpy as np
>>> y = np.ones(8, dtype=np.float32)
>>> apply_augment(y, 22050, Augment(gain_db=6.0), file_seed=0)[0].round(3)
np.float32(1.995)
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pianoeval._typing import Float64Array, FloatArray
from pianoeval.errors import ParameterError

#: The level reference of :func:`tilt`: 0 dB at this frequency.
TILT_PIVOT_HZ = 1000.0
#: Below this the tilt stays constant (no infinite boost or cut towards 0 Hz).
TILT_MIN_HZ = 20.0
_DECAY_60DB = math.log(1000.0)  # amplitude falls by 60 dB when exp(-x) = 1e-3
#: Order of each Butterworth section of :func:`band_limit`; run forwards and backwards, so
#: the slope is 2 x 24 = 48 dB per octave and the cutoff is at -6 dB.
BAND_ORDER = 4
#: Sample rates an MP3 (MPEG-1, 2 and 2.5 Layer III) can have.
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


@dataclass(frozen=True)
class Augment:
    """How one render differs from the dry, calibrated default.

    Parameters
    ----------
    soundfont : str, optional
        A SoundFont key or ``.sf2``/``.sf3`` path replacing the render's ``soundfont``.
    reverb_rt60_sec : float
        Reverberation time of a synthetic room (exponentially decaying noise impulse
        response), in seconds; 0 for none.
    reverb_wet : float
        Share of the energy in the reverberant part, 0-1 (equal-power mix, so the level
        stays about the same); needs ``reverb_rt60_sec > 0``.
    gain_db : float
        Gain in dB (exact, applied after the calibrated SoundFont gain).
    tilt_db_per_octave : float
        Spectral tilt around :data:`TILT_PIVOT_HZ`: positive brightens, negative darkens.
    snr_db : float, optional
        Add white Gaussian noise at this signal-to-noise ratio (dB, against the whole
        augmented render's mean power); None for none.
    seed : int
        Seed of the room and the noise, combined with the MIDI file's content.
    lowpass_hz : float, optional
        Band limit from above (a phone or a cheap microphone): zero-phase Butterworth
        low-pass with its -6 dB point here, 1000-48000 Hz and below the render's Nyquist
        frequency (checked when applied); None for none.
    highpass_hz : float, optional
        Band limit from below (small microphones lose the bass): zero-phase Butterworth
        high-pass, 20-4000 Hz and below ``lowpass_hz``; None for none.
    mp3_kbps : int, optional
        Encode to MP3 at this constant bitrate (8-320 kbps; a phone's is about 64) and
        decode again, last of all; None for none. The rate decides which bitrates exist:
        32-320 kbps at 32-48 kHz, 8-160 at 16-24 kHz, 8-64 below (checked when applied);
        LAME takes the nearest standard bitrate (e.g. 150 gives 144 at 22050 Hz).

    Raises
    ------
    ParameterError
        If a value is out of range.

    Examples
    --------
    >>> Augment(reverb_rt60_sec=0.8, reverb_wet=0.3).changes_signal
    True
    >>> Augment(soundfont="timgm6mb").changes_signal
    False
    >>> Augment(mp3_kbps=64, lowpass_hz=4000.0).signal_params()
    {'lowpass_hz': 4000.0, 'mp3_kbps': 64}
    """

    soundfont: str | None = None
    reverb_rt60_sec: float = 0.0
    reverb_wet: float = 0.0
    gain_db: float = 0.0
    tilt_db_per_octave: float = 0.0
    snr_db: float | None = None
    seed: int = 0
    lowpass_hz: float | None = None
    highpass_hz: float | None = None
    mp3_kbps: int | None = None

    def __post_init__(self) -> None:
        def check(name: str, value: Any, lo: float, hi: float) -> None:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or not lo <= value <= hi:
                raise ParameterError(f"Augment.{name} must be in [{lo}, {hi}], got {value!r}")

        if self.soundfont is not None and not isinstance(self.soundfont, str):
            raise ParameterError(f"Augment.soundfont must be a str or None, got {self.soundfont!r}")
        check("reverb_rt60_sec", self.reverb_rt60_sec, 0.0, 10.0)
        check("reverb_wet", self.reverb_wet, 0.0, 1.0)
        check("gain_db", self.gain_db, -60.0, 40.0)
        check("tilt_db_per_octave", self.tilt_db_per_octave, -12.0, 12.0)
        if self.snr_db is not None:
            check("snr_db", self.snr_db, -20.0, 120.0)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ParameterError(f"Augment.seed must be an integer >= 0, got {self.seed!r}")
        if self.reverb_wet > 0 and self.reverb_rt60_sec == 0:
            raise ParameterError("Augment.reverb_wet > 0 needs reverb_rt60_sec > 0")
        if self.lowpass_hz is not None:
            check("lowpass_hz", self.lowpass_hz, 1000.0, 48000.0)
        if self.highpass_hz is not None:
            check("highpass_hz", self.highpass_hz, 20.0, 4000.0)
            if self.lowpass_hz is not None and self.highpass_hz >= self.lowpass_hz:
                raise ParameterError(
                    f"Augment.highpass_hz ({self.highpass_hz!r}) must be below "
                    f"lowpass_hz ({self.lowpass_hz!r})"
                )
        if self.mp3_kbps is not None and (
            isinstance(self.mp3_kbps, bool)
            or not isinstance(self.mp3_kbps, int)
            or not 8 <= self.mp3_kbps <= 320
        ):
            raise ParameterError(
                f"Augment.mp3_kbps must be an integer in [8, 320] or None, got {self.mp3_kbps!r}"
            )

    @property
    def has_reverb(self) -> bool:
        """Whether a room is added."""
        return self.reverb_rt60_sec > 0 and self.reverb_wet > 0

    @property
    def changes_signal(self) -> bool:
        """Whether any processing happens after synthesis (the SoundFont aside)."""
        return (
            self.has_reverb
            or self.gain_db != 0
            or self.tilt_db_per_octave != 0
            or self.snr_db is not None
            or self.lowpass_hz is not None
            or self.highpass_hz is not None
            or self.mp3_kbps is not None
        )

    def to_dict(self) -> dict[str, Any]:
        """Return every field, as recorded in provenance."""
        return asdict(self)

    def signal_params(self) -> dict[str, Any]:
        """Return only the settings that change the signal (the cache key's part).

        ``Augment()`` and no augmentation give ``{}``; the seed is kept only when something
        random (reverb, noise) uses it. ``lowpass_hz``, ``highpass_hz`` and ``mp3_kbps``
        appear only when set, so the keys of renders without them are what they were
        before these fields existed.
        """
        out: dict[str, Any] = {}
        if self.has_reverb:
            out["reverb_rt60_sec"] = float(self.reverb_rt60_sec)
            out["reverb_wet"] = float(self.reverb_wet)
        if self.gain_db != 0:
            out["gain_db"] = float(self.gain_db)
        if self.tilt_db_per_octave != 0:
            out["tilt_db_per_octave"] = float(self.tilt_db_per_octave)
        if self.snr_db is not None:
            out["snr_db"] = float(self.snr_db)
        if self.has_reverb or self.snr_db is not None:
            out["seed"] = self.seed
        if self.lowpass_hz is not None:
            out["lowpass_hz"] = float(self.lowpass_hz)
        if self.highpass_hz is not None:
            out["highpass_hz"] = float(self.highpass_hz)
        if self.mp3_kbps is not None:
            out["mp3_kbps"] = int(self.mp3_kbps)
        return out


def room_impulse_response(sr: int, rt60_sec: float, rng: np.random.Generator) -> Float64Array:
    """Return a synthetic room response: Gaussian noise decaying by 60 dB over ``rt60_sec``.

    Parameters
    ----------
    sr : int
    rt60_sec : float
    rng : np.random.Generator

    Returns
    -------
    np.ndarray [float64], shape=(round(rt60_sec * sr),)
        Unit energy (sum of squares 1), so a wet signal is about as loud as the dry one.
    """
    n = max(1, round(rt60_sec * sr))
    t = np.arange(n) / sr
    h = rng.standard_normal(n) * np.exp(-_DECAY_60DB * t / rt60_sec)
    result: Float64Array = h / np.sqrt(np.sum(h**2))
    return result


def reverb(
    y: FloatArray, sr: int, rt60_sec: float, wet: float, rng: np.random.Generator
) -> FloatArray:
    """Add a synthetic room (:func:`room_impulse_response`), equal-power mixed.

    Returns
    -------
    np.ndarray [float32], same shape as ``y``
        ``sqrt(1 - wet) * y + sqrt(wet) * (y * h)``, cut to the input's length.
    """
    from scipy.signal import fftconvolve

    h = room_impulse_response(sr, rt60_sec, rng)
    wet_y: Float64Array = fftconvolve(y.astype(np.float64), h)[: len(y)]
    out = math.sqrt(1.0 - wet) * y.astype(np.float64) + math.sqrt(wet) * wet_y
    return out.astype(np.float32)


def tilt(y: FloatArray, sr: int, db_per_octave: float) -> FloatArray:
    """Tilt the spectrum by ``db_per_octave`` around 1 kHz (zero-phase, FFT domain).

    The gain at frequency f is ``db_per_octave * log2(f / 1000 Hz)`` dB, f held at
    :data:`TILT_MIN_HZ` below that.

    Returns
    -------
    np.ndarray [float32], same shape as ``y``
    """
    from scipy.fft import irfft, next_fast_len, rfft

    n = len(y)
    n_fft = next_fast_len(n + sr // 10, real=True)  # margin against circular wrap-around
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    gain_db = db_per_octave * np.log2(np.maximum(freqs, TILT_MIN_HZ) / TILT_PIVOT_HZ)
    spec = rfft(y.astype(np.float64), n_fft) * 10.0 ** (gain_db / 20.0)
    return np.asarray(irfft(spec, n_fft)[:n], dtype=np.float32)


def add_noise(y: FloatArray, snr_db: float, rng: np.random.Generator) -> FloatArray:
    """Add white Gaussian noise ``snr_db`` below the mean power of ``y``.

    A silent ``y`` gets no noise (its SNR is undefined).

    Returns
    -------
    np.ndarray [float32], same shape as ``y``
    """
    power = float(np.mean(y.astype(np.float64) ** 2))
    if power == 0.0:
        return y
    noise = rng.standard_normal(len(y)) * math.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (y + noise).astype(np.float32)


def band_limit(
    y: FloatArray, sr: int, *, lowpass_hz: float | None, highpass_hz: float | None
) -> FloatArray:
    """Band-limit ``y`` with zero-phase Butterworth filters (scipy ``sosfiltfilt``).

    Each filter is of order :data:`BAND_ORDER`, run forwards and backwards: no delay, the
    magnitude response squared (-6 dB at the cutoff, 48 dB per octave beyond it).

    Parameters
    ----------
    y : np.ndarray [float32], shape=(n_samples,)
    sr : int
    lowpass_hz, highpass_hz : float or None
        Cutoffs; each must be below ``sr / 2``.

    Returns
    -------
    np.ndarray [float32], same shape as ``y``

    Raises
    ------
    ParameterError
        If a cutoff is not below the Nyquist frequency.
    """
    from scipy.signal import butter, sosfiltfilt

    out = y.astype(np.float64)
    for name, cutoff, btype in (
        ("lowpass_hz", lowpass_hz, "lowpass"),
        ("highpass_hz", highpass_hz, "highpass"),
    ):
        if cutoff is None:
            continue
        if not 0 < cutoff < sr / 2:
            raise ParameterError(
                f"Augment.{name}={cutoff!r} must be below the Nyquist frequency "
                f"({sr / 2:g} Hz at {sr} Hz)"
            )
        if len(out) < 2:
            continue
        sos = butter(BAND_ORDER, cutoff, btype=btype, fs=sr, output="sos")
        padlen = min(3 * (2 * len(sos) + 1), len(out) - 1)  # scipy's default, or less
        out = sosfiltfilt(sos, out, padlen=padlen)
    return np.asarray(out, dtype=np.float32)


def mp3_bitrate_range(sr: int) -> tuple[int, int]:
    """Return the lowest and highest MP3 bitrate (kbps) at rate ``sr``.

    MPEG-1 (32-48 kHz): 32-320; MPEG-2 (16-24 kHz): 8-160; MPEG-2.5 (8-12 kHz): 8-64.

    Raises
    ------
    ParameterError
        If MP3 has no such rate (:data:`MP3_RATES`).

    Examples
    --------
    >>> mp3_bitrate_range(22050), mp3_bitrate_range(44100)
    ((8, 160), (32, 320))
    """
    if sr not in MP3_RATES:
        raise ParameterError(f"Augment.mp3_kbps needs an MP3 sample rate {MP3_RATES}, got {sr}")
    if sr >= 32000:
        return 32, 320
    if sr >= 16000:
        return 8, 160
    return 8, 64


def mp3_compression_level(sr: int, kbps: int) -> float:
    """Return libsndfile's ``compression_level`` that makes LAME encode at ``kbps``.

    libsndfile 1.2 (``mpeg_l3_encoder_set_quality``) maps a level c in [0, 1] of a
    constant-bitrate MP3 to ``int(hi - c * (hi - lo))`` kbps, (lo, hi) from
    :func:`mp3_bitrate_range`; this is its inverse, half a kbps up so the truncation
    lands on ``kbps``. LAME then takes the nearest standard bitrate.

    Raises
    ------
    ParameterError
        If ``kbps`` is outside the rate's range.

    Examples
    --------
    >>> round(mp3_compression_level(22050, 64), 4)
    0.6283
    """
    lo, hi = mp3_bitrate_range(sr)
    if not lo <= kbps <= hi:
        raise ParameterError(
            f"Augment.mp3_kbps={kbps!r} is not an MP3 bitrate at {sr} Hz (must be in [{lo}, {hi}])"
        )
    return min(max((hi - kbps - 0.5) / (hi - lo), 0.0), 1.0)


def mp3_encode(y: FloatArray, sr: int, kbps: int) -> bytes:
    """Encode a mono signal to a constant-bitrate MP3 in memory (libsndfile + LAME).

    Returns
    -------
    bytes
        The MP3 file; ``8 * len(result) / duration`` is close to ``kbps * 1000``.
    """
    import soundfile as sf

    level = mp3_compression_level(sr, kbps)
    buf = io.BytesIO()
    sf.write(
        buf,
        np.asarray(y, dtype=np.float32),
        sr,
        format="MP3",
        compression_level=level,
        bitrate_mode="CONSTANT",
    )
    return buf.getvalue()


def mp3_decode(data: bytes) -> FloatArray:
    """Decode an MP3 (libsndfile + mpg123) to a float32 mono signal, as the decoder gives it."""
    import soundfile as sf

    y, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return np.ascontiguousarray(y.mean(axis=1), dtype=np.float32)


@functools.lru_cache(maxsize=64)
def mp3_delay(sr: int, kbps: int) -> int:
    """Measure how many samples an MP3 round trip at ``(sr, kbps)`` delays the signal.

    A noise burst 0.25 s into 1 s of silence is encoded, decoded and cross-correlated with
    the original; the lag of the peak is the delay. With libsndfile 1.2 it is either 0
    (LAME wrote its info tag and mpg123 trims the encoder delay and padding itself) or
    1105 samples = 576 (LAME's encoder delay) + 529 (the decoder's), when the frames are
    too small for the tag: below 56 kbps at 22050 Hz, 64 at 48 kHz, 40 at 16 kHz.
    Measured once per process and rate.
    """
    from scipy.signal import correlate

    n = sr
    x = np.zeros(n, dtype=np.float32)
    burst = np.random.default_rng(0).standard_normal(sr // 50) * np.hanning(sr // 50) * 0.3
    x[sr // 4 : sr // 4 + len(burst)] = burst
    d = mp3_decode(mp3_encode(x, sr, kbps)).astype(np.float64)
    xc = correlate(d, x.astype(np.float64), mode="full", method="fft")
    return max(0, int(np.argmax(xc)) - (n - 1))


def mp3(y: FloatArray, sr: int, kbps: int) -> FloatArray:
    """MP3-encode and decode ``y`` at ``kbps``, realigned and cut to the input's length.

    The codec delay (:func:`mp3_delay`) is removed, so nothing moves in time, and the end
    is padded with zeros if the decoder returned fewer samples.

    Returns
    -------
    np.ndarray [float32], same shape as ``y``

    Raises
    ------
    ParameterError
        If ``sr`` is not an MP3 rate or ``kbps`` not a bitrate at that rate.
    """
    mp3_compression_level(sr, kbps)  # validates before any encoding
    n = len(y)
    if n == 0:
        return y
    delay = mp3_delay(sr, kbps)
    d = mp3_decode(mp3_encode(y, sr, kbps))[delay : delay + n]
    if len(d) < n:
        d = np.concatenate([d, np.zeros(n - len(d), dtype=np.float32)])
    return np.ascontiguousarray(d, dtype=np.float32)


def _check_rate(augment: Augment, sr: int) -> None:
    """Raise :class:`ParameterError` if ``augment`` cannot be applied at rate ``sr``."""
    for name in ("lowpass_hz", "highpass_hz"):
        cutoff = getattr(augment, name)
        if cutoff is not None and not cutoff < sr / 2:
            raise ParameterError(
                f"Augment.{name}={cutoff!r} must be below the Nyquist frequency "
                f"({sr / 2:g} Hz at {sr} Hz)"
            )
    if augment.mp3_kbps is not None:
        mp3_compression_level(sr, augment.mp3_kbps)


def apply_augment(y: FloatArray, sr: int, augment: Augment, *, file_seed: int) -> FloatArray:
    """Apply ``augment``'s signal processing to a render (its ``soundfont`` is not used here).

    Parameters
    ----------
    y : np.ndarray [float32], shape=(n_samples,)
    sr : int
    augment : Augment
    file_seed : int
        The file's part of the seed (:func:`pianoeval.render.synth.midi_seed`).

    Returns
    -------
    np.ndarray [float32], shape=(n_samples,)

    Raises
    ------
    ParameterError
        If a band limit is not below ``sr / 2``, or ``sr``/``mp3_kbps`` is no MP3 setting.
    """
    _check_rate(augment, sr)  # before any processing, not after the room
    rng = np.random.default_rng([augment.seed, file_seed])
    if augment.has_reverb:
        y = reverb(y, sr, augment.reverb_rt60_sec, augment.reverb_wet, rng)
    if augment.tilt_db_per_octave != 0:
        y = tilt(y, sr, augment.tilt_db_per_octave)
    if augment.lowpass_hz is not None or augment.highpass_hz is not None:
        y = band_limit(y, sr, lowpass_hz=augment.lowpass_hz, highpass_hz=augment.highpass_hz)
    if augment.gain_db != 0:
        y = (y * np.float32(10.0 ** (augment.gain_db / 20.0))).astype(np.float32)
    if augment.snr_db is not None:
        y = add_noise(y, augment.snr_db, rng)
    if augment.mp3_kbps is not None:
        y = mp3(y, sr, augment.mp3_kbps)
    return y
