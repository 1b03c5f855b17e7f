"""Texture: what is being played (register, density, chord sizes, pitch-class spread).

Not a performance quality by itself, but the context the perceptual dimensions depend on
(the same velocity sounds louder in a thick low chord than in a single high note; some
dimensions, such as brightness or valence, follow the passage more than the player).
Everything is computed from the one performance.
"""

from __future__ import annotations

import numpy as np

from pianoeval.symbolic.features.base import (
    FeatureContext,
    FeatureFamily,
    finite,
    safe_mean,
    safe_quantile,
    safe_std,
)

COLUMNS = (
    "n_notes_log",
    "pitch_mean",
    "pitch_std",
    "pitch_p10",
    "pitch_p90",
    "chord_size_mean",
    "polyphony_mean",
    "bass_frac",
    "treble_frac",
    "pc_entropy",
    "vel_weighted_pitch",
    "major_corr",
    "minor_corr",
    "mode_diff",
    "dissonance_frac",
    "top_pitch_median",
    "bass_pitch_median",
    "chord_span_mean",
    "major_triad_frac",
    "minor_triad_frac",
    "local_mode_mean",
)

#: Krumhansl-Kessler key profiles (C major, C minor); other keys are rotations.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
#: Intervals (semitones mod 12) counted as dissonant between simultaneous notes.
DISSONANT = (1, 2, 6, 10, 11)

#: Below C3 counts as bass, from C5 up as treble (MIDI pitch).
BASS_BELOW, TREBLE_FROM = 48, 72


def texture_features(ctx: FeatureContext) -> dict[str, float]:
    """Compute the ``texture`` family (see the module docstring)."""
    p = ctx.pitch
    out: dict[str, float] = dict.fromkeys(COLUMNS, 0.0)
    out["n_notes_log"] = float(np.log1p(ctx.n_notes))
    if ctx.n_notes == 0:
        return out
    out["pitch_mean"] = safe_mean(p)
    out["pitch_std"] = safe_std(p)
    out["pitch_p10"] = safe_quantile(p, 0.1)
    out["pitch_p90"] = safe_quantile(p, 0.9)
    out["chord_size_mean"] = float(np.mean(np.bincount(ctx.cluster)))
    # keys down at each onset (the note itself included)
    out["polyphony_mean"] = float(np.mean(held_counts(ctx.onset, ctx.offset, ctx.onset)))
    out["bass_frac"] = float(np.mean(p < BASS_BELOW))
    out["treble_frac"] = float(np.mean(p >= TREBLE_FROM))
    hist = np.bincount((p % 12).astype(np.int64), minlength=12) / ctx.n_notes
    nz = hist[hist > 0]
    out["pc_entropy"] = float(-np.sum(nz * np.log2(nz)))
    w = ctx.velocity
    out["vel_weighted_pitch"] = float(np.sum(w * p) / np.sum(w)) if np.sum(w) > 0 else 0.0
    out.update(_harmony(ctx))
    return {k: finite(v) for k, v in out.items()}


def held_counts(onset: np.ndarray, offset: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Count the notes with ``onset <= t < offset`` at each time of ``t``.

    Counted from sorted onsets and ends (``n log n``), not from a notes-by-times matrix:
    the notes started by ``t`` minus those also ended by it.

    Examples
    --------
    >>> held_counts(np.array([0.0, 0.0, 1.0]), np.array([2.0, 0.5, 1.5]), np.array([0.0, 1.0]))
    array([2, 2])
    """
    started = np.searchsorted(np.sort(onset), t, side="right")
    ended = np.searchsorted(np.sort(np.maximum(onset, offset)), t, side="right")
    counts: np.ndarray = started - ended
    return counts


def key_correlations_many(pc_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the best correlations of pitch-class histograms with major and minor keys.

    Krumhansl-Schmuckler key finding over the 12 rotations of each profile, for many
    histograms at once (one matrix product instead of 24 correlations each); 0 for a flat
    or empty histogram.

    Parameters
    ----------
    pc_weights : np.ndarray, shape=(n, 12)

    Returns
    -------
    major, minor : np.ndarray, shape=(n,)
    """
    h = np.asarray(pc_weights, dtype=np.float64).reshape(-1, 12)
    hc = h - h.mean(axis=1, keepdims=True)
    h_norm = np.sqrt((hc**2).sum(axis=1))
    flat = np.ptp(h, axis=1) == 0
    best = []
    for profile in (MAJOR_PROFILE, MINOR_PROFILE):
        rolled = np.stack([np.roll(profile, k) for k in range(12)])
        rc = rolled - rolled.mean(axis=1, keepdims=True)
        r_norm = np.sqrt((rc**2).sum(axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = np.clip((hc @ rc.T) / (h_norm[:, None] * r_norm[None, :]), -1.0, 1.0)
        top = corr.max(axis=1)
        best.append(np.where(flat | ~np.isfinite(top), 0.0, top))
    return best[0], best[1]


def key_correlations(pc_weights: np.ndarray) -> tuple[float, float]:
    """Return the best correlations of a pitch-class histogram with major and minor keys.

    Krumhansl-Schmuckler key finding over the 12 rotations of each profile; 0 for a flat
    or empty histogram.

    Examples
    --------
    >>> major, minor = key_correlations(MAJOR_PROFILE)
    >>> round(major, 6), minor < major
    (1.0, True)
    """
    major, minor = key_correlations_many(pc_weights)
    return float(major[0]), float(minor[0])


def _harmony(ctx: FeatureContext) -> dict[str, float]:
    from pianoeval.symbolic.features.articulation import top_voice

    dur = np.maximum(ctx.offset - ctx.onset, 1e-3)
    pc = (ctx.pitch % 12).astype(np.int64)
    hist = np.bincount(pc, weights=dur, minlength=12)
    major, minor = key_correlations(hist)
    n_cl = int(ctx.cluster[-1]) + 1
    lo = np.full(n_cl, np.inf)
    hi = np.full(n_cl, -np.inf)
    np.minimum.at(lo, ctx.cluster, ctx.pitch)
    np.maximum.at(hi, ctx.cluster, ctx.pitch)
    # dissonant pairs among the notes of each cluster
    n_pairs = n_diss = 0
    for c in np.flatnonzero(np.bincount(ctx.cluster) >= 2):
        ps = ctx.pitch[ctx.cluster == c]
        i, j = np.triu_indices(len(ps), k=1)
        iv = (np.abs(ps[i] - ps[j]) % 12).astype(np.int64)
        n_pairs += len(iv)
        n_diss += int(np.isin(iv, DISSONANT).sum())
    triads = _triads(ctx)
    return {
        **triads,
        "major_corr": major,
        "minor_corr": minor,
        "mode_diff": major - minor,
        "dissonance_frac": n_diss / n_pairs if n_pairs else 0.0,
        "top_pitch_median": float(np.median(ctx.pitch[top_voice(ctx)])),
        "bass_pitch_median": float(np.median(lo)),
        "chord_span_mean": float(np.mean(hi - lo)),
    }


#: Beats per window of the local key estimate.
KEY_WINDOW_BEATS = 4


def _triads(ctx: FeatureContext) -> dict[str, float]:
    """Return triad fractions and the mean local mode.

    The share of beats whose pitch classes hold a major (minor) triad and no minor (major)
    one, and the mean local mode (major - minor key correlation over 4-beat windows).
    """
    from pianoeval.symbolic.features.base import beat_index

    b = beat_index(ctx, ctx.onset)
    n_beats = int(b.max()) + 1
    pcs = np.zeros((n_beats, 12))
    pcs[b, (ctx.pitch % 12).astype(np.int64)] += np.maximum(ctx.offset - ctx.onset, 1e-3)
    present = pcs > 0
    roots = np.arange(12)
    has_major = np.zeros(n_beats, dtype=bool)
    has_minor = np.zeros(n_beats, dtype=bool)
    for r in roots:
        root, fifth = present[:, r], present[:, (r + 7) % 12]
        has_major |= root & fifth & present[:, (r + 4) % 12]
        has_minor |= root & fifth & present[:, (r + 3) % 12]
    starts = np.arange(0, n_beats, KEY_WINDOW_BEATS)
    hists = np.add.reduceat(pcs, starts, axis=0)
    hists = hists[np.count_nonzero(hists, axis=1) >= 3]
    major, minor = key_correlations_many(hists)
    modes = (major - minor).tolist()
    return {
        "major_triad_frac": float(np.mean(has_major & ~has_minor)),
        "minor_triad_frac": float(np.mean(has_minor & ~has_major)),
        "local_mode_mean": float(np.mean(modes)) if modes else 0.0,
    }


FAMILY = FeatureFamily(
    name="texture",
    columns=COLUMNS,
    function=texture_features,
    description="register, density, chord sizes, pitch-class spread, key mode and "
    "dissonance of what is played",
    version=3,
)
