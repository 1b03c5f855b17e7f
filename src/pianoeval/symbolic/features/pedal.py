"""Pedalling: amount, changes, clarity, half pedal, soft and sostenuto pedals.

How much sustain pedal (CC64), how often it changes, whether it is changed with the
harmony, half-pedalling, and the soft and sostenuto pedals.

Times are fractions of the performance span (first onset to the end of the last sounding
note). The pedal is *down* at values >= 64 (the MIDI convention that
:func:`~pianoeval.symbolic.midi.sounding_offsets` also uses); *half pedal* is time spent
at values in :data:`HALF_PEDAL` (a partly depressed pedal on instruments that report
continuous values). A *press* is a change from up to down.

Clarity proxies: a *harmony change* is a pair of consecutive onset clusters whose
pitch-class sets overlap by less than half (Jaccard); the pedal is *held across* it when
it stays down from the earlier cluster's onset to :data:`CHANGE_GRACE_SEC` after the
later one's (a pianist changing pedal with the harmony lifts it at or just after the new
chord). ``blur_pc_log`` is the log ratio of distinct pitch classes sounding at chord
onsets with the pedal's sustain to those held by the keys alone.
"""

from __future__ import annotations

import numpy as np

from pianoeval.constants import PEDAL_DOWN
from pianoeval.symbolic.features.base import (
    FeatureContext,
    FeatureFamily,
    finite,
    safe_mean,
    safe_median,
    step_value_at,
    time_fraction,
    time_mean,
)
from pianoeval.symbolic.features.texture import held_counts

COLUMNS = (
    "on_frac",
    "depth_mean",
    "half_frac",
    "touched_frac",
    "presses_per_sec",
    "presses_per_beat",
    "presses_per_bar",
    "press_mean_sec",
    "held_across_harmony",
    "blur_pc_log",
    "sounding_poly_log",
    "press_latency_ms",
    "release_to_onset_ms",
    "soft_frac",
    "sostenuto_frac",
    "depth_when_used",
    "notes_pedalled_frac",
)

HALF_PEDAL = (32, 96)
#: Values at or above this count as the pedal being touched at all.
TOUCHED = 8
CHANGE_GRACE_SEC = 0.15
HARMONY_JACCARD = 0.5
#: Presses and releases further than this from a chord onset are not timed against it.
MAX_LATENCY_SEC = 1.0


def _presses(ctx: FeatureContext) -> tuple[np.ndarray, np.ndarray]:
    """Return the times of pedal presses (up → down) and releases (down → up)."""
    t, v = ctx.sustain_t, ctx.sustain_v
    if len(t) == 0:
        return np.zeros(0), np.zeros(0)
    down = v >= PEDAL_DOWN
    prev = np.concatenate([[False], down[:-1]])
    return t[down & ~prev], t[~down & prev]


def _down_intervals(ctx: FeatureContext, t0: float, t1: float) -> list[tuple[float, float]]:
    t, v = ctx.sustain_t, ctx.sustain_v
    inside = (t > t0) & (t < t1)
    edges = np.concatenate([[t0], t[inside], [t1]])
    state = step_value_at(t, v, edges[:-1]) >= PEDAL_DOWN
    out: list[tuple[float, float]] = []
    start: float | None = None
    for k, s in enumerate(state):
        if s and start is None:
            start = float(edges[k])
        elif not s and start is not None:
            out.append((start, float(edges[k])))
            start = None
    if start is not None:
        out.append((start, float(edges[-1])))
    return out


def pedal_features(ctx: FeatureContext) -> dict[str, float]:
    """Compute the ``pedal`` family (see the module docstring)."""
    t0, t1 = ctx.t_start, ctx.t_end
    st, sv = ctx.sustain_t, ctx.sustain_v
    span = max(t1 - t0, 1e-3)
    presses, releases = _presses(ctx)
    n_press = int(np.sum((presses >= t0) & (presses <= t1)))
    beat = ctx.beat_period_sec if ctx.beat_period_sec > 0 else 0.5
    intervals = _down_intervals(ctx, t0, t1)
    out: dict[str, float] = {
        "on_frac": time_fraction(st, sv, t0, t1, lambda x: x >= PEDAL_DOWN),
        "depth_mean": time_mean(st, sv, t0, t1) / 127.0,
        "half_frac": time_fraction(
            st, sv, t0, t1, lambda x: (x >= HALF_PEDAL[0]) & (x < HALF_PEDAL[1])
        ),
        "touched_frac": time_fraction(st, sv, t0, t1, lambda x: x >= TOUCHED),
        "presses_per_sec": n_press / span,
        "presses_per_beat": n_press / (span / beat),
        "presses_per_bar": n_press / (span / (beat * ctx.beats_per_bar)),
        "press_mean_sec": safe_mean(np.array([b - a for a, b in intervals])),
        "soft_frac": time_fraction(ctx.soft_t, ctx.soft_v, t0, t1, lambda x: x >= PEDAL_DOWN),
        "sostenuto_frac": time_fraction(
            ctx.sostenuto_t, ctx.sostenuto_v, t0, t1, lambda x: x >= PEDAL_DOWN
        ),
    }
    touched = out["touched_frac"]
    out["depth_when_used"] = out["depth_mean"] / touched if touched > 0 else 0.0
    at_onsets = step_value_at(st, sv, ctx.onset + 0.02)
    out["notes_pedalled_frac"] = float(np.mean(at_onsets >= PEDAL_DOWN)) if ctx.n_notes else 0.0
    out.update(_clarity(ctx, presses, releases))
    return {k: finite(v) for k, v in out.items()}


def _clarity(ctx: FeatureContext, presses: np.ndarray, releases: np.ndarray) -> dict[str, float]:
    out = {
        "held_across_harmony": 0.0,
        "blur_pc_log": 0.0,
        "sounding_poly_log": 0.0,
        "press_latency_ms": 0.0,
        "release_to_onset_ms": 0.0,
    }
    if ctx.n_notes == 0:
        return out
    first = ctx.cluster_onsets()
    n_cl = len(first)
    pc = (ctx.pitch % 12).astype(np.int64)
    # notes of a cluster are contiguous (notes in onset order, clusters numbered in time)
    bounds = np.searchsorted(ctx.cluster, np.arange(n_cl + 1), side="left")
    pc_list = pc.tolist()
    pcs = [set(pc_list[bounds[c] : bounds[c + 1]]) for c in range(n_cl)]
    st, sv = ctx.sustain_t, ctx.sustain_v
    # pedal state from each cluster onset to just after the next one: the state at the
    # earlier onset and every event in (lo, hi] must be down
    lo, hi = first[:-1], first[1:] + CHANGE_GRACE_SEC
    down_at_lo = step_value_at(st, sv, lo) >= PEDAL_DOWN
    n_up = np.concatenate([[0], np.cumsum(sv < PEDAL_DOWN)])
    a = np.searchsorted(st, lo, side="right")
    b = np.searchsorted(st, hi, side="right")
    all_down = down_at_lo & (n_up[np.maximum(b, a)] - n_up[a] == 0)
    held: list[bool] = []
    for c in range(1, n_cl):
        x, y = pcs[c - 1], pcs[c]
        if len(x & y) / len(x | y) >= HARMONY_JACCARD:
            continue
        held.append(bool(all_down[c - 1]))
    out["held_across_harmony"] = float(np.mean(held)) if held else 0.0
    # pitch classes sounding just after each cluster onset, with and without the pedal
    probe = first + 0.03
    n_key = np.zeros(n_cl, dtype=np.int64)
    n_sound = np.zeros(n_cl, dtype=np.int64)
    for k in range(12):
        mine = pc == k
        if mine.any():
            n_key += held_counts(ctx.onset[mine], ctx.offset[mine], probe) > 0
            n_sound += held_counts(ctx.onset[mine], ctx.sounding_offset[mine], probe) > 0
    poly_key = held_counts(ctx.onset, ctx.offset, probe)
    poly_sound = held_counts(ctx.onset, ctx.sounding_offset, probe)
    out["blur_pc_log"] = safe_mean(np.log((n_sound + 1.0) / (n_key + 1.0)))
    out["sounding_poly_log"] = safe_mean(np.log((poly_sound + 1.0) / (poly_key + 1.0)))
    if len(presses):
        idx = np.searchsorted(first, presses, side="right") - 1
        ok = idx >= 0
        lat = presses[ok] - first[idx[ok]]
        out["press_latency_ms"] = safe_median(lat[lat <= MAX_LATENCY_SEC]) * 1000.0
    if len(releases):
        idx = np.searchsorted(first, releases, side="left")
        ok = idx < n_cl
        gap = first[idx[ok]] - releases[ok]
        out["release_to_onset_ms"] = safe_median(gap[gap <= MAX_LATENCY_SEC]) * 1000.0
    return out


FAMILY = FeatureFamily(
    name="pedal",
    columns=COLUMNS,
    function=pedal_features,
    description="CC64 on-fraction and depth, changes per second/beat/bar, pedal held "
    "across harmony changes (clarity proxy), half-pedal, soft and sostenuto use",
    version=2,
)
