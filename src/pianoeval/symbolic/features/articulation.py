"""Articulation: how long notes are held.

Against the time to the next chord and against their notated value.

The *duty ratio* of a note is its key-down duration over the time to the next onset
cluster: about 1 for legato, above 1 when keys overlap, below 0.5 for staccato. A note is
counted legato when its key is still down at the next cluster's onset (minus
:data:`LEGATO_SLACK_SEC`) and staccato when its duty ratio is below
:data:`STACCATO_DUTY`. The key-overlap ratio (KOR, Repp 1997) is measured along the top
voice: (release of one top note - onset of the next) / their inter-onset interval.
With a score, the duration ratio is the performed key-down duration over the notated
duration mapped to performance time through the alignment (so tempo is factored out).
"""

from __future__ import annotations

import numpy as np

from pianoeval.symbolic.features.base import (
    FeatureContext,
    FeatureFamily,
    finite,
    next_cluster_onset,
    safe_mean,
    safe_median,
    safe_std,
)

COLUMNS = (
    "dur_log_mean",
    "dur_log_std",
    "duty_median",
    "duty_mean",
    "kor_top_mean",
    "kor_top_median",
    "legato_frac",
    "staccato_frac",
    "overlap_mean_sec",
    "pedal_extension_log",
    "dur_ratio_log_median",
    "dur_ratio_log_mean",
    "dur_ratio_log_std",
    "dur_ratio_short_log",
    "dur_ratio_long_log",
    "legato_frac_score",
    "top_legato_frac",
    "bass_duty_median",
)
#: The columns that need a score (0 without one).
SCORE_COLUMNS = (
    "dur_ratio_log_median",
    "dur_ratio_log_mean",
    "dur_ratio_log_std",
    "dur_ratio_short_log",
    "dur_ratio_long_log",
    "legato_frac_score",
)

LEGATO_SLACK_SEC = 0.01
STACCATO_DUTY = 0.5
#: Duty ratios are clipped here before averaging (a held bass note would dominate).
MAX_DUTY = 4.0


def top_voice(ctx: FeatureContext) -> np.ndarray:
    """Index of the highest note of every onset cluster."""
    if ctx.n_notes == 0:
        return np.zeros(0, dtype=np.int64)
    n_cl = int(ctx.cluster[-1]) + 1
    order = np.lexsort((ctx.pitch, ctx.cluster))  # by cluster, then pitch
    last_of_cluster = np.searchsorted(ctx.cluster[order], np.arange(n_cl), side="right") - 1
    return order[last_of_cluster]


def _lowest(ctx: FeatureContext) -> np.ndarray:
    """Index of the lowest note of every onset cluster."""
    if ctx.n_notes == 0:
        return np.zeros(0, dtype=np.int64)
    n_cl = int(ctx.cluster[-1]) + 1
    order = np.lexsort((-ctx.pitch, ctx.cluster))
    return order[np.searchsorted(ctx.cluster[order], np.arange(n_cl), side="right") - 1]


def articulation_features(ctx: FeatureContext) -> dict[str, float]:
    """Compute the ``articulation`` family (see the module docstring)."""
    dur = np.maximum(ctx.offset - ctx.onset, 1e-3)
    log_dur = np.log(dur)
    nxt = next_cluster_onset(ctx)
    ioi = nxt - ctx.onset
    has_next = np.isfinite(ioi) & (ioi > 0)
    duty = np.clip(dur[has_next] / ioi[has_next], 0.0, MAX_DUTY)
    legato = ctx.offset[has_next] >= nxt[has_next] - LEGATO_SLACK_SEC
    overlap = (ctx.offset - nxt)[has_next]
    top = top_voice(ctx)
    if len(top) >= 2:
        t_on, t_off = ctx.onset[top], ctx.offset[top]
        kor = np.clip((t_off[:-1] - t_on[1:]) / np.maximum(np.diff(t_on), 1e-3), -1.0, MAX_DUTY)
    else:
        kor = np.zeros(0)
    low = _lowest(ctx)
    is_low = np.zeros(ctx.n_notes, dtype=bool)
    is_low[low] = True
    sounding = np.maximum(ctx.sounding_offset - ctx.onset, 1e-3)
    out: dict[str, float] = {
        "dur_log_mean": safe_mean(log_dur),
        "dur_log_std": safe_std(log_dur),
        "duty_median": safe_median(duty),
        "duty_mean": safe_mean(duty),
        "kor_top_mean": safe_mean(kor),
        "kor_top_median": safe_median(kor),
        "legato_frac": float(np.mean(legato)) if len(legato) else 0.0,
        "staccato_frac": float(np.mean(duty < STACCATO_DUTY)) if len(duty) else 0.0,
        "overlap_mean_sec": safe_mean(overlap[overlap > 0]),
        "pedal_extension_log": safe_mean(np.log(sounding / dur)),
        "top_legato_frac": float(np.mean(kor >= -LEGATO_SLACK_SEC)) if len(kor) else 0.0,
        "bass_duty_median": safe_median(np.clip(dur / ioi, 0.0, MAX_DUTY)[has_next & is_low]),
    }
    out.update(_score_articulation(ctx, dur))
    return {k: finite(v) for k, v in out.items()}


def _score_articulation(ctx: FeatureContext, dur: np.ndarray) -> dict[str, float]:
    out = {
        "dur_ratio_log_median": 0.0,
        "dur_ratio_log_mean": 0.0,
        "dur_ratio_log_std": 0.0,
        "dur_ratio_short_log": 0.0,
        "dur_ratio_long_log": 0.0,
        "legato_frac_score": 0.0,
    }
    if not ctx.aligned or ctx.score is None or ctx.alignment is None:
        return out
    a, s = ctx.alignment, ctx.score
    s_on, s_off = s.onset[a.score_index], s.offset[a.score_index]
    mapped = a.score_to_perf(s_off) - a.score_to_perf(s_on)
    ok = mapped > 1e-3
    if not ok.any():
        return out
    lr = np.log(np.clip(dur[a.perf_index][ok] / mapped[ok], 0.02, 50.0))
    notated = (s_off - s_on)[ok]
    beat = 60.0 / s.tempo_bpm if s.tempo_bpm > 0 else 0.5
    short = notated < 0.75 * beat
    out["dur_ratio_log_median"] = safe_median(lr)
    out["dur_ratio_log_mean"] = safe_mean(lr)
    out["dur_ratio_log_std"] = safe_std(lr)
    out["dur_ratio_short_log"] = safe_median(lr[short], safe_median(lr))
    out["dur_ratio_long_log"] = safe_median(lr[~short], safe_median(lr))
    out["legato_frac_score"] = float(np.mean(lr > np.log(0.9)))
    return out


FAMILY = FeatureFamily(
    name="articulation",
    columns=COLUMNS,
    function=articulation_features,
    description="duration ratio to the notated value, key-overlap ratio, legato and "
    "staccato fractions",
    score_columns=SCORE_COLUMNS,
    version=2,
)
