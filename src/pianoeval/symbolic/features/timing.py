"""Timing: inter-onset intervals, tempo curve, drift, asynchrony, onset deviation.

Inter-onset statistics, the local tempo curve, drift, chord asynchrony, and the onset
deviation from the score grid.

Inter-onset intervals (IOIs) are taken between consecutive onset clusters (chords), so
chord spreads do not count as short IOIs. Without a score, the tempo curve is a rolling
median of the log IOIs (a steady pulse keeps it flat whatever the rhythm's repeating
pattern); with one, it is the beat-by-beat log ratio of performed to notated beat
duration (:func:`~.base.beat_log_tempo_ratio`). Positive drift means slowing down.
"""

from __future__ import annotations

import itertools

import numpy as np

from pianoeval._typing import Float64Array
from pianoeval.symbolic.features.base import (
    FeatureContext,
    FeatureFamily,
    beat_log_tempo_ratio,
    finite,
    safe_mean,
    safe_median,
    safe_quantile,
    safe_std,
    theil_sen_slope,
)

COLUMNS = (
    "ioi_median_sec",
    "ioi_log_std",
    "ioi_jitter",
    "notes_per_sec",
    "chords_per_sec",
    "tempo_var",
    "drift",
    "drift_late",
    "async_mean_ms",
    "async_p90_ms",
    "tempo_std",
    "tempo_range",
    "tempo_drift",
    "tempo_jerk",
    "onset_dev_local_ms",
    "onset_dev_global_ms",
    "ioi_dev_log_std",
    "async_score_ms",
)
#: The columns that need a score (0 without one).
SCORE_COLUMNS = (
    "tempo_std",
    "tempo_range",
    "tempo_drift",
    "tempo_jerk",
    "onset_dev_local_ms",
    "onset_dev_global_ms",
    "ioi_dev_log_std",
    "async_score_ms",
)

#: Rolling window of the performance-only tempo curve (chords).
ROLL_CHORDS = 7
#: Width (score beats) of the Gaussian local-linear fit the onset deviations are taken from.
LOCAL_FIT_BEATS = 1.0


def rolling_median(x: Float64Array, width: int) -> Float64Array:
    """Centred rolling median (shorter windows at the ends).

    Examples
    --------
    >>> rolling_median(np.array([1.0, 5.0, 2.0, 8.0, 3.0]), 3).tolist()
    [3.0, 2.0, 5.0, 3.0, 5.5]
    """
    h = width // 2
    n = len(x)
    if n <= 2 * h:
        return np.array([np.median(x[max(0, i - h) : i + h + 1]) for i in range(n)])
    out = np.empty(n)
    out[h : n - h] = np.median(np.lib.stride_tricks.sliding_window_view(x, 2 * h + 1), axis=1)
    for i in (*range(h), *range(n - h, n)):  # the ends: shorter windows
        out[i] = np.median(x[max(0, i - h) : i + h + 1])
    return out


#: Points of the local linear fit further than this many sigmas apart get no weight
#: (exp(-0.5 * 9**2) < 1e-17: below float precision next to the point's own weight 1).
_CUTOFF_SIGMAS = 9.0
#: Rows of the local linear fit computed at once (its weights are a band, not an n x n
#: matrix, for long performances).
_FIT_ROWS = 1024


def _local_linear_residuals(s: Float64Array, p: Float64Array, sigma: float) -> Float64Array:
    """Residuals of ``p`` from a Gaussian-weighted local linear fit on ``s`` (``s`` sorted)."""
    if len(s) < 3 or sigma <= 0:
        return np.zeros(len(s))
    n = len(s)
    fit = np.empty(n)
    for r0 in range(0, n, _FIT_ROWS):
        r1 = min(r0 + _FIT_ROWS, n)
        if n <= _FIT_ROWS:
            c0, c1 = 0, n
        else:
            c0 = int(np.searchsorted(s, s[r0] - _CUTOFF_SIGMAS * sigma, side="left"))
            c1 = int(np.searchsorted(s, s[r1 - 1] + _CUTOFF_SIGMAS * sigma, side="right"))
        rs, cs, cp = s[r0:r1], s[c0:c1], p[c0:c1]
        d = rs[:, None] - cs[None, :]
        w = np.exp(-0.5 * (d / sigma) ** 2)
        sw = w.sum(1)
        ms = (w @ cs) / sw
        mp = (w @ cp) / sw
        cov = (w * (cs[None, :] - ms[:, None]) * (cp[None, :] - mp[:, None])).sum(1) / sw
        var = (w * (cs[None, :] - ms[:, None]) ** 2).sum(1) / sw
        slope = np.where(var > 1e-12, cov / np.maximum(var, 1e-12), 0.0)
        fit[r0:r1] = mp + slope * (rs - ms)
    result: Float64Array = p - fit
    return result


def _group_stats(
    inv: np.ndarray, values: Float64Array
) -> tuple[Float64Array, Float64Array, np.ndarray]:
    """Median, range (max - min) and size of the values of each group ``0 .. inv.max()``."""
    order = np.argsort(inv, kind="stable")
    v = values[order]
    bounds = np.append(np.searchsorted(inv[order], np.arange(int(inv.max()) + 1)), len(v))
    med = np.array([np.median(v[a:b]) for a, b in itertools.pairwise(bounds)])
    sizes = np.diff(bounds)
    lo = np.minimum.reduceat(v, bounds[:-1])
    hi = np.maximum.reduceat(v, bounds[:-1])
    return med, hi - lo, sizes


def timing_features(ctx: FeatureContext) -> dict[str, float]:
    """Compute the ``timing`` family (see the module docstring)."""
    first = ctx.cluster_onsets()
    ioi = np.diff(first)
    ioi = ioi[ioi > 0]
    log_ioi = np.log(ioi) if len(ioi) else np.zeros(0)
    dur = ctx.duration_sec
    out: dict[str, float] = {
        "ioi_median_sec": safe_median(ioi),
        "ioi_log_std": safe_std(log_ioi),
        "ioi_jitter": safe_median(np.abs(np.diff(log_ioi))) if len(log_ioi) > 1 else 0.0,
        "notes_per_sec": ctx.n_notes / dur if dur > 0 else 0.0,
        "chords_per_sec": len(first) / dur if dur > 0 else 0.0,
    }
    if len(log_ioi) >= 3:
        curve = rolling_median(log_ioi, ROLL_CHORDS)
        pos = (first[1:][np.diff(first) > 0] - ctx.t_start) / max(dur, 1e-9)
        out["tempo_var"] = safe_std(curve)
        # slope of the smoothed curve: robust to the rhythm's own long-short patterns
        out["drift"] = finite(theil_sen_slope(pos, curve))
        late = pos >= 2 / 3
        out["drift_late"] = (
            safe_median(log_ioi[late]) - safe_median(log_ioi[~late])
            if late.any() and (~late).any()
            else 0.0
        )
    else:
        out.update(tempo_var=0.0, drift=0.0, drift_late=0.0)

    sizes = np.bincount(ctx.cluster) if ctx.n_notes else np.zeros(0, dtype=np.int64)
    if ctx.n_notes:
        last = np.full(len(first), -np.inf)
        np.maximum.at(last, ctx.cluster, ctx.onset)
        spread = (last - first)[sizes >= 2] * 1000.0
    else:
        spread = np.zeros(0)
    out["async_mean_ms"] = safe_mean(spread)
    out["async_p90_ms"] = safe_quantile(spread, 0.9)
    out.update(_score_timing(ctx))
    return out


def _score_timing(ctx: FeatureContext) -> dict[str, float]:
    neutral = dict.fromkeys(
        (
            "tempo_std",
            "tempo_range",
            "tempo_drift",
            "tempo_jerk",
            "onset_dev_local_ms",
            "onset_dev_global_ms",
            "ioi_dev_log_std",
            "async_score_ms",
        ),
        0.0,
    )
    if not ctx.aligned or ctx.score is None or ctx.alignment is None:
        return neutral
    out = dict(neutral)
    pos, lr = beat_log_tempo_ratio(ctx)
    if len(lr):
        out["tempo_std"] = safe_std(lr)
        out["tempo_range"] = safe_quantile(lr, 0.9) - safe_quantile(lr, 0.1)
        out["tempo_drift"] = finite(theil_sen_slope(pos, lr))
        out["tempo_jerk"] = safe_mean(np.abs(np.diff(lr, 2))) if len(lr) > 2 else 0.0
    a = ctx.alignment
    s_on = ctx.score.onset[a.score_index]
    p_on = ctx.onset[a.perf_index]
    # one point per notated onset: the median of its matched notes' performed onsets
    uniq, inv = np.unique(np.round(s_on, 4), return_inverse=True)
    p_med, p_range, sizes = _group_stats(inv, p_on)
    beat = 60.0 / ctx.score.tempo_bpm if ctx.score.tempo_bpm > 0 else 0.5
    if len(uniq) >= 3:
        res = _local_linear_residuals(uniq, p_med, LOCAL_FIT_BEATS * beat)
        out["onset_dev_local_ms"] = safe_std(res) * 1000.0
        slope, icpt = np.polyfit(uniq, p_med, 1)
        out["onset_dev_global_ms"] = safe_std(p_med - (slope * uniq + icpt)) * 1000.0
        ds, dp = np.diff(uniq), np.diff(p_med)
        ok = (ds > 0) & (dp > 0)
        if ok.sum() >= 2 and slope > 0:
            out["ioi_dev_log_std"] = safe_std(np.log(dp[ok] / (ds[ok] * slope)))
    out["async_score_ms"] = safe_mean(p_range[sizes >= 2]) * 1000.0
    return {k: finite(v) for k, v in out.items()}


FAMILY = FeatureFamily(
    name="timing",
    columns=COLUMNS,
    function=timing_features,
    description="inter-onset statistics, tempo curve and variability, drift, chord "
    "asynchrony, onset deviation from the score grid",
    score_columns=SCORE_COLUMNS,
)
