"""Touch and dynamics: velocities, their range, smoothness and slopes.

The velocity distribution, its range, its smoothness across beats, crescendo and
diminuendo slopes, and how closely it follows the notated dynamics.

MIDI velocity (1-127) is the only loudness information in a performance MIDI. The beat
contour is the mean velocity of the notes starting in each beat of the context's beat
grid (the score's beats mapped to the performance when aligned). Crescendo slopes are
least-squares slopes of that contour over windows of :data:`SLOPE_BEATS` beats, in
velocity units per beat. *Loudness energy* is log(sum of (velocity/127)^2 per second), a
crude proxy for how much sound the texture makes.
"""

from __future__ import annotations

import numpy as np

from pianoeval.symbolic.features.base import (
    FeatureContext,
    FeatureFamily,
    beat_index,
    finite,
    linear_slope,
    safe_corr,
    safe_mean,
    safe_median,
    safe_quantile,
    safe_std,
)

COLUMNS = (
    "vel_mean",
    "vel_median",
    "vel_std",
    "vel_p05",
    "vel_p95",
    "vel_range",
    "vel_iqr",
    "vel_max",
    "chord_peak_mean",
    "loudness_energy",
    "beat_vel_std",
    "beat_vel_jitter",
    "beat_vel_smoothness",
    "cresc_slope_max",
    "dim_slope_min",
    "slope_abs_mean",
    "vel_trend",
    "vel_score_corr",
    "vel_minus_score",
    "beat_vel_score_corr",
    "loud_frac",
    "soft_frac",
    "accent_frac",
    "downbeat_accent",
)
#: The columns that need a score (0 without one).
SCORE_COLUMNS = (
    "vel_score_corr",
    "vel_minus_score",
    "beat_vel_score_corr",
)

#: Velocities from which a note counts as loud, and below which as soft.
LOUD_VELOCITY, SOFT_VELOCITY = 90, 40
#: A note this much louder than its beat's mean velocity is an accent.
ACCENT_ABOVE = 15.0
#: Notes within this of a bar line count as on the downbeat (seconds).
DOWNBEAT_TOL_SEC = 0.07

SLOPE_BEATS = 4


def beat_contour(ctx: FeatureContext, values: np.ndarray) -> np.ndarray:
    """Average ``values`` (one per note) over the notes starting in each beat.

    Beats without onsets are left out.
    """
    if ctx.n_notes == 0:
        return np.zeros(0)
    b = beat_index(ctx, ctx.onset)
    sums = np.bincount(b, weights=values)
    counts = np.bincount(b)
    keep = counts > 0
    result: np.ndarray = sums[keep] / counts[keep]
    return result


def dynamics_features(ctx: FeatureContext) -> dict[str, float]:
    """Compute the ``dynamics`` family (see the module docstring)."""
    v = ctx.velocity
    out: dict[str, float] = {
        "vel_mean": safe_mean(v),
        "vel_median": safe_median(v),
        "vel_std": safe_std(v),
        "vel_p05": safe_quantile(v, 0.05),
        "vel_p95": safe_quantile(v, 0.95),
        "vel_iqr": safe_quantile(v, 0.75) - safe_quantile(v, 0.25),
        "vel_max": float(v.max()) if len(v) else 0.0,
    }
    out["vel_range"] = out["vel_p95"] - out["vel_p05"]
    if ctx.n_notes:
        peak = np.zeros(int(ctx.cluster[-1]) + 1)
        np.maximum.at(peak, ctx.cluster, v)
        out["chord_peak_mean"] = safe_mean(peak)
    else:
        out["chord_peak_mean"] = 0.0
    dur = max(ctx.duration_sec, 1e-3)
    energy = float(np.sum((v / 127.0) ** 2)) / dur
    out["loudness_energy"] = float(np.log(energy + 1e-3))
    contour = beat_contour(ctx, v)
    out["beat_vel_std"] = safe_std(contour)
    jitter = safe_mean(np.abs(np.diff(contour))) if len(contour) > 1 else 0.0
    out["beat_vel_jitter"] = jitter
    out["beat_vel_smoothness"] = jitter / (out["beat_vel_std"] + 1.0)
    slopes = (
        np.array(
            [
                linear_slope(np.arange(SLOPE_BEATS, dtype=np.float64), contour[i : i + SLOPE_BEATS])
                for i in range(len(contour) - SLOPE_BEATS + 1)
            ]
        )
        if len(contour) >= SLOPE_BEATS
        else np.zeros(0)
    )
    out["cresc_slope_max"] = max(float(slopes.max()), 0.0) if len(slopes) else 0.0
    out["dim_slope_min"] = min(float(slopes.min()), 0.0) if len(slopes) else 0.0
    out["slope_abs_mean"] = safe_mean(np.abs(slopes))
    out["vel_trend"] = linear_slope(np.arange(len(contour), dtype=np.float64), contour)
    out["loud_frac"] = float(np.mean(v >= LOUD_VELOCITY)) if len(v) else 0.0
    out["soft_frac"] = float(np.mean(v < SOFT_VELOCITY)) if len(v) else 0.0
    if ctx.n_notes:
        b = beat_index(ctx, ctx.onset)
        beat_mean = (np.bincount(b, weights=v) / np.maximum(np.bincount(b), 1))[b]
        out["accent_frac"] = float(np.mean(v - beat_mean >= ACCENT_ABOVE))
    else:
        out["accent_frac"] = 0.0
    out["downbeat_accent"] = 0.0
    if len(ctx.downbeats_sec) and ctx.n_notes:
        k = np.clip(np.searchsorted(ctx.downbeats_sec, ctx.onset), 1, len(ctx.downbeats_sec)) - 1
        near = np.minimum(
            np.abs(ctx.onset - ctx.downbeats_sec[k]),
            np.abs(ctx.onset - ctx.downbeats_sec[np.minimum(k + 1, len(ctx.downbeats_sec) - 1)]),
        )
        on_db = near <= DOWNBEAT_TOL_SEC
        if on_db.any() and (~on_db).any():
            out["downbeat_accent"] = safe_mean(v[on_db]) - safe_mean(v[~on_db])
    out.update(_score_dynamics(ctx))
    return {k: finite(x) for k, x in out.items()}


def _score_dynamics(ctx: FeatureContext) -> dict[str, float]:
    out = {"vel_score_corr": 0.0, "vel_minus_score": 0.0, "beat_vel_score_corr": 0.0}
    if not ctx.aligned or ctx.score is None or ctx.alignment is None:
        return out
    a = ctx.alignment
    pv = ctx.velocity[a.perf_index]
    sv = ctx.score.velocity[a.score_index]
    out["vel_score_corr"] = safe_corr(pv, sv)
    out["vel_minus_score"] = safe_mean(pv) - safe_mean(sv)
    b = beat_index(ctx, ctx.onset[a.perf_index])
    counts = np.bincount(b)
    keep = counts > 0
    if keep.sum() >= 3:
        pb = np.bincount(b, weights=pv)[keep] / counts[keep]
        sb = np.bincount(b, weights=sv)[keep] / counts[keep]
        out["beat_vel_score_corr"] = safe_corr(pb, sb)
    return out


FAMILY = FeatureFamily(
    name="dynamics",
    columns=COLUMNS,
    function=dynamics_features,
    description="velocity distribution and range, smoothness across beats, crescendo "
    "slopes, agreement with notated dynamics",
    score_columns=SCORE_COLUMNS,
    version=2,
)
