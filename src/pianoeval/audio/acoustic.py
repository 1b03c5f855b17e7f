"""Acoustic descriptors of a whole recording: what it sounds like, not what is played.

The raters read what is *played* (notes from a transcription, pooled embeddings). To tell
whether a recording is a solo piano at all (not a harpsichord, an organ, two pianists
playing different things at once), the out-of-distribution check needs what it *sounds*
like: the spectral shape, how notes start and decay, how much is percussive, how
periodic the onsets are and how tonal the pitch content is. :func:`acoustic_features`
computes these from the audio alone, in about 0.1-0.3 s per 20 s of audio on one core.

Every feature is gain-invariant (levels are in dB against the clip's own loudest frame:
DESIGN.md, "per-clip dB") and summarises the active frames only (within
:data:`ACTIVE_DB` of the loudest), so silence and the clip's length do not move it.

Examples
--------
>>> import numpy as np
>>> t = np.arange(22050 * 3) / 22050
>>> y = np.sin(2 * np.pi * 220 * t) * np.exp(-2 * (t % 0.5))
>>> f = acoustic_features(y.astype(np.float32), 22050)
>>> len(f) == len(ACOUSTIC_COLUMNS), all(np.isfinite(v) for v in f.values())
(True, True)
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

from pianoeval._typing import PathLike
from pianoeval.errors import ParameterError

__all__ = [
    "ACOUSTIC_COLUMNS",
    "ACOUSTIC_PREFIX",
    "ACOUSTIC_SR",
    "ACTIVE_DB",
    "CHUNK_SEC",
    "RHYTHM_COLUMNS",
    "TIMBRE_COLUMNS",
    "acoustic_features",
    "acoustic_inputs",
]

#: Sampling rate the descriptors are computed at (Hz); other rates are resampled.
ACOUSTIC_SR = 22050
#: Frames within this many dB of the loudest frame are "active".
ACTIVE_DB = 40.0
#: A long recording is described by at most :data:`MAX_CHUNKS` evenly spaced chunks of
#: this many seconds (the length the check learned from), their descriptors averaged.
CHUNK_SEC = 20.0
MAX_CHUNKS = 3
#: Prefix of the descriptors among a recording's rater inputs (``acoustic.<name>``).
ACOUSTIC_PREFIX = "acoustic."
_N_FFT, _HOP, _N_MELS, _N_SHAPE = 2048, 512, 64, 16
#: Band edges (Hz) of the envelope groups.
_GROUPS = ((0.0, 500.0), (500.0, 2000.0), (2000.0, 8000.0))
#: Band edges (Hz) of the note-locked envelopes (octaves from 100 Hz).
_NOTE_BANDS = (100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0, 11000.0)
#: Note-locked frames (hop 256 at 22050 Hz: 11.6 ms): just after the onset, ~90 ms and
#: ~290 ms later, and ~35 ms before (the attack).
_NOTE_HOP, _AT, _EARLY, _LATE, _BEFORE = 256, 2, 8, 25, -3
#: Krumhansl-Kessler key profiles (major, minor), for the key clarity of the pitch content.
_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _columns() -> tuple[str, ...]:
    cols = [f"shape_{i}" for i in range(_N_SHAPE)] + [f"shape_sd_{i}" for i in range(_N_SHAPE)]
    cols += [f"mfcc_{i}" for i in range(1, 20)] + [f"mfcc_sd_{i}" for i in range(1, 20)]
    cols += ["flatness", "flatness_sd", "centroid", "centroid_sd", "rolloff", "bandwidth"]
    cols += [f"contrast_{i}" for i in range(7)]
    for g in range(len(_GROUPS)):
        cols += [f"rise_{g}", f"fall_{g}", f"decay_{g}", f"percussive_{g}"]
    cols += ["onset_rate", "ioi_short", "ioi_cv", "ioi_med", "acf_peak", "acf_second", "acf_n"]
    cols += ["tempo_entropy", "tempo_top2"]
    cols += ["chroma_entropy", "chroma_frame_entropy", "key_clarity", "key_margin"]
    cols += ["active_share", "level_sd"]
    cols += ["ioi_short_50", "ioi_short_130", "ioi_grid_fit", "ioi_grid_share", "ioi_entropy"]
    cols += [f"note_decay_{b}" for b in range(len(_NOTE_BANDS) - 1)]
    cols += [f"note_decay_late_{b}" for b in range(len(_NOTE_BANDS) - 1)]
    cols += [f"note_attack_{b}" for b in range(len(_NOTE_BANDS) - 1)]
    cols += ["note_decay_all", "note_bright_change", "note_level_brightness", "n_notes_measured"]
    return tuple(cols)


#: The descriptor names, in the order :func:`acoustic_features` returns them.
ACOUSTIC_COLUMNS = _columns()
#: What is played rather than how it sounds: onsets, rhythm, tempo, pitch content, levels.
RHYTHM_COLUMNS = tuple(
    c
    for c in ACOUSTIC_COLUMNS
    if c.startswith(("onset_", "ioi_", "acf_", "tempo_", "chroma_", "key_"))
    or c in ("active_share", "level_sd", "n_notes_measured")
)
#: How it sounds: spectral shape, its spread, how notes start and decay.
TIMBRE_COLUMNS = tuple(c for c in ACOUSTIC_COLUMNS if c not in RHYTHM_COLUMNS)


def _entropy(p: npt.NDArray[np.float64], axis: int = 0) -> npt.NDArray[np.float64]:
    p = p / np.maximum(p.sum(axis=axis, keepdims=True), 1e-12)
    return np.asarray(-(p * np.log(np.maximum(p, 1e-12))).sum(axis=axis))


def acoustic_features(y: npt.ArrayLike, sr: int) -> dict[str, float]:
    """Return the acoustic descriptors of mono audio ``y`` at ``sr`` Hz (:data:`ACOUSTIC_COLUMNS`).

    Raises
    ------
    ParameterError
        If the audio is empty or silent (nothing to describe).
    """
    import librosa

    x = np.asarray(y, dtype=np.float32).reshape(-1)
    if sr != ACOUSTIC_SR:
        x = librosa.resample(x, orig_sr=sr, target_sr=ACOUSTIC_SR)
    sr = ACOUSTIC_SR
    peak = float(np.abs(x).max()) if x.size else 0.0
    if x.size < _N_FFT or peak < 1e-6:
        raise ParameterError("acoustic features need at least 0.1 s of non-silent audio")
    x = x / peak  # levels are relative to the clip (the dB floors below are absolute)
    stft = np.abs(librosa.stft(x, n_fft=_N_FFT, hop_length=_HOP))
    power = stft**2
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=_N_MELS, fmax=sr / 2)
    mel_db = librosa.power_to_db(mel, ref=float(mel.max()), top_db=100.0)
    frame_db = librosa.power_to_db(mel.sum(axis=0), ref=float(mel.sum(axis=0).max()))
    active = frame_db > -ACTIVE_DB
    if active.sum() < 3:
        active = frame_db >= np.sort(frame_db)[-3]
    a = mel_db[:, active]
    out: list[float] = []
    # spectral shape: band means relative to the clip's mean level, in 16 groups of 4 bands
    grouped = a.reshape(_N_SHAPE, _N_MELS // _N_SHAPE, -1).mean(axis=1)
    means = grouped.mean(axis=1)
    out += list(means - means.mean()) + list(grouped.std(axis=1))
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=20)[:, active]
    out += list(mfcc[1:].mean(axis=1)) + list(mfcc[1:].std(axis=1))
    flat = librosa.feature.spectral_flatness(S=stft)[0, active]
    cent = librosa.feature.spectral_centroid(S=stft, sr=sr)[0, active] / (sr / 2)
    roll = librosa.feature.spectral_rolloff(S=stft, sr=sr)[0, active] / (sr / 2)
    bw = librosa.feature.spectral_bandwidth(S=stft, sr=sr)[0, active] / (sr / 2)
    out += [float(np.log10(flat.mean() + 1e-12)), float(np.log10(flat + 1e-12).std())]
    out += [float(cent.mean()), float(cent.std()), float(roll.mean()), float(bw.mean())]
    contrast = librosa.feature.spectral_contrast(S=stft, sr=sr)[:, active]
    out += list(contrast.mean(axis=1))
    # envelopes per band group: attacks, decays, and the percussive share (HPSS)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=_N_FFT)
    # on the mel power (64 bands), not the STFT: the same split at a tenth of the cost
    harm, perc = librosa.decompose.hpss(mel, kernel_size=(17, 5))
    mel_freqs = librosa.mel_frequencies(n_mels=_N_MELS, fmax=sr / 2)
    frame_sec = _HOP / sr
    for lo, hi in _GROUPS:
        band = (freqs >= lo) & (freqs < hi)
        env = 10 * np.log10(power[band].sum(axis=0) + 1e-12)
        env = env - env.max()
        d = np.diff(env) / frame_sec
        act = active[1:] & (env[1:] > -ACTIVE_DB)
        rises, falls = d[act & (d > 0)], d[act & (d < 0)]
        out += [
            float(np.mean(rises)) / 100 if rises.size else 0.0,
            float(np.mean(falls)) / 100 if falls.size else 0.0,
            float(np.median(falls)) / 100 if falls.size else 0.0,
        ]
        mb = (mel_freqs >= lo) & (mel_freqs < hi)
        p, h = perc[mb].sum(), harm[mb].sum()
        out.append(float(10 * np.log10((p + 1e-12) / (p + h + 1e-12))))
    # rhythm: onset rate, inter-onset intervals, periodicity of the onset envelope
    env = librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=_HOP)
    dur = max(x.size / sr, 1e-3)
    onsets = librosa.onset.onset_detect(onset_envelope=env, sr=sr, hop_length=_HOP, units="time")
    ioi = np.diff(onsets)
    out += [
        float(onsets.size / dur),
        float(np.mean(ioi < 0.09)) if ioi.size else 0.0,
        float(ioi.std() / max(ioi.mean(), 1e-3)) if ioi.size > 1 else 0.0,
        float(np.median(ioi)) if ioi.size else 0.0,
    ]
    e = env - env.mean()
    acf = np.correlate(e, e, mode="full")[e.size - 1 :]
    acf = acf / max(float(acf[0]), 1e-12)
    lo_lag, hi_lag = int(0.1 / frame_sec), min(acf.size - 1, int(3.0 / frame_sec))
    seg = acf[lo_lag:hi_lag] if hi_lag > lo_lag + 2 else np.zeros(3)
    peaks = [i for i in range(1, seg.size - 1) if seg[i] >= seg[i - 1] and seg[i] > seg[i + 1]]
    heights = np.sort(seg[peaks])[::-1] if peaks else np.zeros(2)
    out += [
        float(heights[0]),
        float(heights[1]) if heights.size > 1 else 0.0,
        float(np.sum(heights > 0.2)),
    ]
    tg = librosa.feature.tempogram(onset_envelope=env, sr=sr, hop_length=_HOP, win_length=192)
    prof = np.maximum(tg[1:].mean(axis=1), 0.0)
    top = np.sort(prof)[::-1]
    out += [float(_entropy(prof)), float(top[1] / max(top[0], 1e-12)) if top.size > 1 else 0.0]
    # pitch content: how tonal (one key) it is
    chroma = librosa.feature.chroma_stft(S=power, sr=sr)[:, active]
    cm = chroma.mean(axis=1)
    corr = [
        float(np.corrcoef(cm, np.roll(prof_k, k))[0, 1])
        for prof_k in (_KK_MAJOR, _KK_MINOR)
        for k in range(12)
    ]
    best = np.sort(np.nan_to_num(corr))[::-1]
    out += [
        float(_entropy(cm)),
        float(_entropy(chroma, axis=0).mean()),
        float(best[0]),
        float(best[0] - best[1]),
    ]
    out += [float(active.mean()), float(frame_db[active].std())]
    out += [
        float(np.mean(ioi < 0.05)) if ioi.size else 0.0,
        float(np.mean(ioi < 0.13)) if ioi.size else 0.0,
        *_rhythmic_grid(ioi),
    ]
    out += _note_locked(x, sr)
    if len(out) != len(ACOUSTIC_COLUMNS):  # pragma: no cover - a programming error
        raise AssertionError(f"{len(out)} descriptors for {len(ACOUSTIC_COLUMNS)} names")
    return {c: float(np.nan_to_num(v)) for c, v in zip(ACOUSTIC_COLUMNS, out, strict=True)}


#: Ratios of note values one player's rhythm moves between (octaves: 1/4 ... 4, with the
#: dotted and triplet ones), the grid :func:`_rhythmic_grid` measures inter-onset intervals on.
_RHYTHM_GRID = np.log2([0.25, 1 / 3, 0.5, 2 / 3, 0.75, 1.0, 4 / 3, 1.5, 2.0, 3.0, 4.0])


def _rhythmic_grid(ioi: npt.NDArray[np.float64]) -> list[float]:
    """How well inter-onset intervals sit on one player's rhythmic grid.

    One performer's intervals are near simple ratios of the typical interval (whole,
    half, dotted, triplet...); two performers at once give intervals at random ratios.
    Returns the median distance (octaves) of ``log2(ioi / median)`` to the nearest grid
    ratio, the share within 0.08 octave of one, and the entropy of the intervals'
    histogram (0.1-octave bins).
    """
    if ioi.size < 4:
        return [0.0, 1.0, 0.0]
    r = np.log2(np.maximum(ioi, 1e-3) / max(float(np.median(ioi)), 1e-3))
    dist = np.abs(r[:, None] - _RHYTHM_GRID[None, :]).min(axis=1)
    hist, _ = np.histogram(np.log2(np.maximum(ioi, 1e-3)), bins=np.arange(-6.0, 2.05, 0.1))
    return [
        float(np.median(dist)),
        float(np.mean(dist < 0.08)),
        float(_entropy(hist.astype(float))),
    ]


def _note_locked(x: npt.NDArray[np.float32], sr: int) -> list[float]:
    """How notes evolve, per octave band, from their onsets: what an instrument is.

    Medians over the onsets of: the band's level change from just after the onset to
    ~90 ms and ~290 ms later, relative to the whole spectrum's change (a piano's high
    partials die much faster than its low ones; a harpsichord's stay), the band's rise over
    the attack, the whole spectrum's decay, the change of the high-frequency share, and
    how brightness follows loudness across notes. Changes of level within a band are
    unmoved by a fixed EQ or microphone (they cancel), which the clip statistics are not.
    """
    import librosa

    n_bands = len(_NOTE_BANDS) - 1
    power = np.abs(librosa.stft(x, n_fft=_N_FFT, hop_length=_NOTE_HOP)) ** 2
    freqs = librosa.fft_frequencies(sr=sr, n_fft=_N_FFT)
    bands = np.stack(
        [
            power[(freqs >= lo) & (freqs < hi)].sum(axis=0)
            for lo, hi in itertools.pairwise(_NOTE_BANDS)
        ]
    )
    floor = 1e-10 * float(power.sum(axis=0).max())
    level = 10 * np.log10(bands + floor)
    total = 10 * np.log10(bands.sum(axis=0) + floor)
    env = librosa.onset.onset_strength(y=x, sr=sr, hop_length=_NOTE_HOP)
    on = librosa.onset.onset_detect(onset_envelope=env, sr=sr, hop_length=_NOTE_HOP)
    on = on[(on + _BEFORE >= 0) & (on + _LATE < level.shape[1])]
    on = on[total[on + _AT] > total.max() - ACTIVE_DB]
    if on.size < 3:
        return [0.0] * (3 * n_bands + 4)
    at, early, late = level[:, on + _AT], level[:, on + _EARLY], level[:, on + _LATE]
    t_at, t_early, t_late = total[on + _AT], total[on + _EARLY], total[on + _LATE]
    decay = np.median((early - at) - (t_early - t_at), axis=1)
    decay_late = np.median((late - at) - (t_late - t_at), axis=1)
    attack = np.median(at - level[:, on + _BEFORE], axis=1)
    hi = (bands[-3:].sum(axis=0) + floor) / (bands.sum(axis=0) + floor)
    hf = 10 * np.log10(hi)
    bright = hf[on + _AT]
    corr = np.corrcoef(t_at, bright)[0, 1] if np.std(t_at) > 0 and np.std(bright) > 0 else 0.0
    return [
        *map(float, decay),
        *map(float, decay_late),
        *map(float, attack / 10),
        float(np.median(t_late - t_at)) / 10,
        float(np.median(hf[on + _LATE] - bright)),
        float(corr),
        float(np.log(on.size)),
    ]


def acoustic_inputs(path: PathLike) -> dict[str, float]:
    """Describe a recording for the acoustic check: ``{"acoustic.<name>": value}``.

    Up to :data:`CHUNK_SEC` seconds are described whole; a longer recording by
    :data:`MAX_CHUNKS` evenly spaced chunks of that length, averaged, so a five-minute
    recording costs about as much as a minute (about 1 s on one core). Silent chunks are
    left out; a recording with nothing to describe (silent, or under 0.1 s) gives an
    empty dict, so the check is skipped and the rating refuses it for its own reasons
    (too little music) rather than this step.
    """
    from pianoeval.audio.io import load_audio

    y, sr = load_audio(path, sr=ACOUSTIC_SR, silence_dbfs=None)
    n = int(CHUNK_SEC * sr)
    if y.size <= n:
        chunks = [y]
    else:
        starts = np.linspace(0, y.size - n, min(MAX_CHUNKS, int(np.ceil(y.size / n))))
        chunks = [y[int(s) : int(s) + n] for s in starts]
    feats = []
    for chunk in chunks:
        try:
            feats.append(acoustic_features(chunk, sr))
        except ParameterError:  # silent or too short: nothing to describe
            continue
    if not feats:
        return {}
    return {
        f"{ACOUSTIC_PREFIX}{c}": float(np.mean([f[c] for f in feats])) for c in ACOUSTIC_COLUMNS
    }
