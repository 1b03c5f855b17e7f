"""Pace and space: tempo, rubato at phrase ends, silences.

The tempo against the score, rubato at bar and segment ends, and the silences between
sounds.

Without a score the only tempo is the context's beat period (estimated from the
inter-onset intervals). With one, ``tempo_ratio_log`` is the log ratio of the performed to
the notated duration of the aligned span (positive = slower than notated) and
``perf_tempo_bpm`` the performed tempo. ``end_ritard`` is the mean beat log tempo ratio
(:func:`~.base.beat_log_tempo_ratio`) over the last :data:`END_FRACTION` of the beats
minus the median over all; ``bar_end_stretch`` the same for the last beat of each bar
against the others; ``max_stretch`` the largest beat lengthening above the median.
Silence fractions are the share of the span in which no key is down (``silence_frac``)
or nothing sounds, pedal included (``silence_sound_frac``).
"""

from __future__ import annotations

import numpy as np

from pianoeval.symbolic.features.base import (
    FeatureContext,
    FeatureFamily,
    beat_log_tempo_ratio,
    finite,
    safe_mean,
    safe_median,
)

COLUMNS = (
    "duration_sec",
    "beat_period_sec",
    "tempo_bpm_est",
    "end_ioi_log",
    "silence_frac",
    "silence_sound_frac",
    "gap_max_sec",
    "tempo_ratio_log",
    "tempo_ratio_median",
    "perf_tempo_bpm",
    "end_ritard",
    "bar_end_stretch",
    "max_stretch",
)
#: The columns that need a score (0 without one).
SCORE_COLUMNS = (
    "tempo_ratio_log",
    "tempo_ratio_median",
    "perf_tempo_bpm",
    "end_ritard",
    "bar_end_stretch",
    "max_stretch",
)

END_FRACTION = 0.15


def covered_fraction(
    starts: np.ndarray, ends: np.ndarray, t0: float, t1: float
) -> tuple[float, float]:
    """Share of ``[t0, t1]`` covered by the union of intervals, and the longest gap."""
    span = t1 - t0
    if span <= 0 or len(starts) == 0:
        return 0.0, max(span, 0.0)
    order = np.argsort(starts)
    covered, gap_max = 0.0, 0.0
    cur_s, cur_e = float(starts[order[0]]), float(ends[order[0]])
    gap_max = max(gap_max, cur_s - t0)
    for k in order[1:]:
        s, e = float(starts[k]), float(ends[k])
        if s > cur_e:
            covered += cur_e - cur_s
            gap_max = max(gap_max, s - cur_e)
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    covered += min(cur_e, t1) - cur_s
    return min(covered / span, 1.0), gap_max


def pace_features(ctx: FeatureContext) -> dict[str, float]:
    """Compute the ``pace`` family (see the module docstring)."""
    beat = ctx.beat_period_sec
    first = ctx.cluster_onsets()
    ioi = np.diff(first)
    end_ioi = 0.0
    if len(ioi) >= 4:
        end_ioi = float(np.log(np.mean(ioi[-3:]) / max(np.median(ioi), 1e-3)))
    t0, t1 = ctx.t_start, ctx.t_end
    key_cov, gap_max = covered_fraction(ctx.onset, ctx.offset, t0, t1)
    sound_cov, _ = covered_fraction(ctx.onset, ctx.sounding_offset, t0, t1)
    out: dict[str, float] = {
        "duration_sec": ctx.duration_sec,
        "beat_period_sec": beat,
        "tempo_bpm_est": 60.0 / beat if beat > 0 else 0.0,
        "end_ioi_log": end_ioi,
        "silence_frac": 1.0 - key_cov if ctx.n_notes else 1.0,
        "silence_sound_frac": 1.0 - sound_cov if ctx.n_notes else 1.0,
        "gap_max_sec": gap_max,
    }
    out.update(_score_pace(ctx))
    return {k: finite(v) for k, v in out.items()}


def _score_pace(ctx: FeatureContext) -> dict[str, float]:
    out = {
        "tempo_ratio_log": 0.0,
        "tempo_ratio_median": 0.0,
        "perf_tempo_bpm": 0.0,
        "end_ritard": 0.0,
        "bar_end_stretch": 0.0,
        "max_stretch": 0.0,
    }
    if not ctx.aligned or ctx.score is None or ctx.alignment is None:
        return out
    a, s = ctx.alignment, ctx.score
    s_on = s.onset[a.score_index]
    p_on = ctx.onset[a.perf_index]
    ds = float(s_on.max() - s_on.min())
    dp = float(p_on.max() - p_on.min())
    if ds > 0 and dp > 0:
        out["tempo_ratio_log"] = float(np.log(dp / ds))
        out["perf_tempo_bpm"] = s.tempo_bpm * ds / dp
    _pos, lr = beat_log_tempo_ratio(ctx)
    if len(lr) == 0:
        return out
    med = safe_median(lr)
    out["tempo_ratio_median"] = med
    n_end = max(1, round(END_FRACTION * len(lr)))
    out["end_ritard"] = safe_mean(lr[-n_end:]) - med
    out["max_stretch"] = float(np.max(lr)) - med
    # beats that end a bar: the beat interval whose end is a downbeat
    lo = float(s_on.min())
    beats = s.beats_sec[(s.beats_sec >= lo - 1e-6) & (s.beats_sec <= float(s_on.max()) + 1e-6)]
    if len(beats) == len(lr) + 1 and len(s.downbeats_sec):
        ends = beats[1:]
        is_end = np.isin(np.round(ends, 4), np.round(s.downbeats_sec, 4))
        if is_end.any() and (~is_end).any():
            out["bar_end_stretch"] = safe_mean(lr[is_end]) - safe_mean(lr[~is_end])
    return out


FAMILY = FeatureFamily(
    name="pace",
    columns=COLUMNS,
    function=pace_features,
    description="tempo against the score, rubato at bar and segment ends, silences",
    score_columns=SCORE_COLUMNS,
)
