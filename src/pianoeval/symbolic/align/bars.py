"""What happened in each bar: notes, local tempo, pedal, melody and dynamics against the score.

:func:`bar_measures` reads an :class:`~pianoeval.symbolic.align.Alignment` (and the
performance's pedal) bar by bar. Every quantity is a plain measurement with a unit, so a
sentence of feedback built from it can name what was measured
(:mod:`pianoeval.rater.feedback` flags the bars whose measurements are unusual).

Definitions (``docs/evaluate.md`` has the same in prose)
---------------------------------------------------------
- **Bar span.** A bar runs in score seconds from its first notated onset to the first onset
  of the next bar with notes (the last bar: to its last notated release); its performed span
  is that span mapped through the alignment's time map.
- **Notes.** ``n_missing``: non-grace score notes of the bar not played; ``n_extra``:
  performed notes in the bar's performed span that are not in the score; ``n_wrong_pitch``:
  missing/extra pairs a neighbouring key apart (:func:`note_accuracy`'s definition).
- **Local tempo.** ``tempo_ratio``: the bar's performed seconds per score second over the
  whole performance's (> 1: slower than the player's own tempo elsewhere).
- **Pedal.** ``pedal_down``: share of the bar's performed span with the sustain pedal down
  (CC64 >= 64). A *harmony change* is where the pitch classes notated in a half bar share
  less than :data:`HARMONY_JACCARD` with the previous half bar's. ``pedal_blur``: share
  of the bar's harmony changes the pedal is held through: down at the change and not
  lifted from just after the previous half bar's first onset to
  :data:`PEDAL_CHANGE_GRACE_SEC` after the change.
- **Melody.** ``melody_lead``: mean over the bar's chords (at least two matched notes at
  one notated onset) of the top note's velocity minus the mean of the others (MIDI
  velocity; < 0: the melody is softer than the accompaniment).
- **Dynamics.** ``velocity_mean``; with a MusicXML score, ``marking`` (the dynamic in force
  at the bar's start) and ``dynamics_residual``: the bar's mean velocity minus what a
  straight line through all bars' (marking level, mean velocity) predicts, in velocity
  units (< 0: softer than the marking asks for, relative to the rest of the piece). The
  line's slope is at least :data:`VELOCITY_PER_LEVEL` per marking step, so a player who
  ignores the markings shows it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from pianoeval._typing import Float64Array
from pianoeval.constants import PEDAL_DOWN
from pianoeval.symbolic.align.alignment import Alignment
from pianoeval.symbolic.align.measures import _wrong_pitch_pairs
from pianoeval.symbolic.align.score import DYNAMIC_LEVELS, NotatedScore, _interp_extrap
from pianoeval.symbolic.midi import PerformanceMidi

__all__ = [
    "BAR_MEASURES",
    "PEDAL_CHANGE_GRACE_SEC",
    "VELOCITY_PER_LEVEL",
    "BarMeasure",
    "bar_measures",
]

#: A pedal lift this long after a new bass still counts as a (legato) pedal change.
PEDAL_CHANGE_GRACE_SEC = 0.3
#: Consecutive half bars sharing less than this share of pitch classes change harmony.
HARMONY_JACCARD = 0.5
#: Least velocity difference per step of marking (p to mf, ...) the dynamics line assumes.
VELOCITY_PER_LEVEL = 6.0
#: The numeric per-bar measurements (what :mod:`pianoeval.rater.feedback` compares).
BAR_MEASURES = (
    "missing_rate",
    "extra_rate",
    "wrong_pitch_rate",
    "tempo_ratio",
    "pedal_down",
    "pedal_blur",
    "melody_lead",
    "velocity_mean",
    "dynamics_residual",
)


@dataclass(frozen=True)
class BarMeasure:
    """One bar's measurements (NaN where the bar gives too little to measure).

    Times are in seconds: ``score_start_sec``/``score_end_sec`` in the score,
    ``start_sec``/``end_sec`` in the performance. Note lists are indices into
    ``Alignment.score_notes`` (missing, wrong) and ``Alignment.perf_notes`` (extra).
    """

    bar: int
    score_start_sec: float
    score_end_sec: float
    start_sec: float
    end_sec: float
    n_score: int
    n_played: int
    n_missing: int
    n_extra: int
    n_wrong_pitch: int
    missing_rate: float
    extra_rate: float
    wrong_pitch_rate: float
    tempo_ratio: float
    pedal_down: float
    pedal_blur: float
    n_harmony_changes: int
    melody_lead: float
    velocity_mean: float
    marking: str | None = None
    dynamics_residual: float = math.nan
    missing_notes: list[int] = field(default_factory=list)
    extra_notes: list[int] = field(default_factory=list)
    wrong_notes: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (NaN becomes None)."""
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


def bar_measures(
    alignment: Alignment, perf: PerformanceMidi, score: NotatedScore | None = None
) -> list[BarMeasure]:
    """Measure every bar of an aligned performance.

    Parameters
    ----------
    alignment : Alignment
        The performance aligned to its score (any backend).
    perf : PerformanceMidi
        The performance the alignment was made from (for its sustain pedal).
    score : NotatedScore, optional
        The score (for its dynamic markings); without it no bar has a ``marking``.

    Returns
    -------
    list of BarMeasure
        One per bar with notated notes, in bar order.

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path, example_score_path
    >>> from pianoeval.symbolic.align import align
    >>> from pianoeval.symbolic.midi import load_midi
    >>> perf = load_midi(example_midi_path())
    >>> bars = bar_measures(align(perf, example_score_path(), backend="chord_dtw"), perf)
    >>> len(bars) > 4, bars[0].bar
    (True, 1)
    """
    sn, pn = alignment.score_notes, alignment.perf_notes
    if sn.size == 0:
        return []
    bars = np.unique(sn["bar"])
    starts = np.array([sn["onset_sec"][sn["bar"] == b].min() for b in bars])
    ends = np.append(starts[1:], float((sn["onset_sec"] + sn["duration_sec"]).max()))
    ends = np.maximum(ends, starts + 1e-3)
    p_starts, p_ends = alignment.score_to_perf(starts), alignment.score_to_perf(ends)
    whole = _seconds_per_second(alignment)

    played = np.zeros(sn.size, dtype=bool)
    played[alignment.score_index] = True
    wrong = _wrong_pitch_pairs(alignment)
    wrong_score = {s for s, _ in wrong}
    extra_on = pn["onset_sec"][alignment.extra]
    changes = _harmony_changes(sn)
    ch_perf = _played_at(alignment, changes[:, 1]) if changes.size else None
    ch_prev = _played_at(alignment, changes[:, 0]) if changes.size else None
    lead_bar, lead_val = _melody_leads(alignment)

    out: list[BarMeasure] = []
    for k, b in enumerate(bars):
        in_bar = sn["bar"] == b
        graces = sn["is_grace"]
        idx = np.flatnonzero(in_bar & ~graces)
        missing = [int(i) for i in idx if not played[i]]
        t0, t1 = float(p_starts[k]), float(p_ends[k])
        last = k == len(bars) - 1
        ex_mask = (extra_on >= t0) & ((extra_on <= t1) if last else (extra_on < t1))
        extra = [int(i) for i in alignment.extra[ex_mask]]
        n_score = int(idx.size)
        n_played = int(np.sum(played[idx]))
        in_span = (pn["onset_sec"] >= t0) & (pn["onset_sec"] < t1 if not last else True)
        vel = pn["velocity"][in_span].astype(float)
        blur, n_changes = math.nan, 0
        if changes.size and ch_perf is not None and ch_prev is not None:
            sel = sn["bar"][changes[:, 1]] == b
            n_changes = int(sel.sum())
            if n_changes:
                held = [
                    _held_through(perf, a, c)
                    for a, c in zip(ch_prev[sel], ch_perf[sel], strict=True)
                ]
                blur = float(np.mean(held))
        lead = lead_val[lead_bar == b]
        score_span = float(ends[k] - starts[k])
        tempo = (t1 - t0) / score_span / whole if score_span > 0 and whole > 0 else math.nan
        n_perf_bar = int(np.sum(in_span))
        out.append(
            BarMeasure(
                bar=int(b),
                score_start_sec=round(float(starts[k]), 4),
                score_end_sec=round(float(ends[k]), 4),
                start_sec=round(t0, 4),
                end_sec=round(t1, 4),
                n_score=n_score,
                n_played=n_played,
                n_missing=len(missing),
                n_extra=len(extra),
                n_wrong_pitch=sum(1 for i in idx if int(i) in wrong_score),
                missing_rate=len(missing) / n_score if n_score else math.nan,
                extra_rate=len(extra) / n_perf_bar if n_perf_bar else math.nan,
                wrong_pitch_rate=(
                    sum(1 for i in idx if int(i) in wrong_score) / n_score if n_score else math.nan
                ),
                tempo_ratio=float(tempo) if n_played >= 2 else math.nan,
                pedal_down=_pedal_share(perf, t0, t1),
                pedal_blur=blur,
                n_harmony_changes=n_changes,
                melody_lead=float(lead.mean()) if lead.size else math.nan,
                velocity_mean=float(vel.mean()) if vel.size else math.nan,
                missing_notes=missing,
                extra_notes=extra,
                wrong_notes=sorted(int(i) for i in idx if int(i) in wrong_score),
            )
        )
    if score is not None and score.dynamics:
        out = _with_dynamics(out, score)
    return out


def _seconds_per_second(alignment: Alignment) -> float:
    """Return the performed seconds per score second of the whole (its time map's slope)."""
    xs, ys = alignment.anchor_score_sec, alignment.anchor_perf_sec
    if xs.size >= 2 and xs[-1] > xs[0]:
        return float((ys[-1] - ys[0]) / (xs[-1] - xs[0]))
    return 1.0


def _played_at(alignment: Alignment, score_idx: npt.NDArray[np.intp]) -> Float64Array:
    """Return the performed onsets of score notes (their own if played, else the time map's)."""
    t = alignment.score_to_perf(alignment.score_notes["onset_sec"][score_idx])
    played = dict(zip(alignment.score_index.tolist(), alignment.perf_index.tolist(), strict=True))
    for k, i in enumerate(score_idx.tolist()):
        if i in played:
            t[k] = alignment.perf_notes["onset_sec"][played[i]]
    return t


def _harmony_changes(sn: npt.NDArray[np.void]) -> npt.NDArray[np.intp]:
    """Pairs (first note of the previous half bar, first note of the new one) at harmony changes.

    Each bar is cut in two halves (by its notated onsets' span); a half bar's harmony is the
    set of pitch classes notated in it. The harmony changes where consecutive half bars
    share less than :data:`HARMONY_JACCARD` of their pitch classes (Jaccard index).
    """
    ok = np.flatnonzero(~sn["is_grace"])
    if ok.size == 0:
        return np.zeros((0, 2), dtype=np.intp)
    halves: list[tuple[int, set[int]]] = []
    for b in np.unique(sn["bar"][ok]):
        idx = ok[sn["bar"][ok] == b]
        on = sn["onset_quarter"][idx]
        mid = (on.min() + on.max()) / 2 if on.size > 1 else on.min()
        for part in (idx[on <= mid], idx[on > mid]):
            if part.size:
                halves.append((int(part[0]), {int(p) % 12 for p in sn["pitch"][part]}))
    pairs = []
    for (i0, a), (i1, b) in itertools.pairwise(halves):
        if len(a & b) / len(a | b) < HARMONY_JACCARD:
            pairs.append((i0, i1))
    return np.array(pairs, dtype=np.intp).reshape(-1, 2)


def _sustain_at(perf: PerformanceMidi, t: Float64Array) -> npt.NDArray[np.int_]:
    """Sustain controller value in force at each time (0 before the first event)."""
    ev = perf.sustain
    if ev.size == 0:
        return np.zeros(np.shape(t), dtype=int)
    i = np.searchsorted(ev["time_sec"], t, side="right") - 1
    vals = np.where(i >= 0, ev["value"][np.clip(i, 0, None)], 0)
    return np.asarray(vals, dtype=int)


def _held_through(perf: PerformanceMidi, prev_on: float, new_on: float) -> bool:
    """Whether the pedal stays down from just after ``prev_on`` to after ``new_on``."""
    a = prev_on + 0.05
    b = new_on + PEDAL_CHANGE_GRACE_SEC
    if b <= a:
        b = a + 1e-3
    ev = perf.sustain
    if _sustain_at(perf, np.array([new_on]))[0] < PEDAL_DOWN:
        return False
    if _sustain_at(perf, np.array([a]))[0] < PEDAL_DOWN:
        return False
    inside = (ev["time_sec"] > a) & (ev["time_sec"] <= b)
    return bool(np.all(ev["value"][inside] >= PEDAL_DOWN))


def _pedal_share(perf: PerformanceMidi, t0: float, t1: float) -> float:
    """Share of ``[t0, t1]`` with the sustain pedal down."""
    if t1 <= t0:
        return math.nan
    ev = perf.sustain
    cuts = np.concatenate(
        [[t0], ev["time_sec"][(ev["time_sec"] > t0) & (ev["time_sec"] < t1)], [t1]]
    )
    down = _sustain_at(perf, cuts[:-1]) >= PEDAL_DOWN
    return float(np.sum(np.diff(cuts) * down) / (t1 - t0))


def _melody_leads(alignment: Alignment) -> tuple[npt.NDArray[np.int_], Float64Array]:
    """Per chord of >= 2 matched notes: its bar and top velocity minus the others' mean."""
    m = alignment.matched()
    m = m[~m["is_grace"]]
    if m.size == 0:
        return np.zeros(0, dtype=int), np.zeros(0)
    bars, leads = [], []
    for q in np.unique(m["score_onset_quarter"]):
        c = m[m["score_onset_quarter"] == q]
        if c.size < 2:
            continue
        top = int(np.argmax(c["pitch"]))
        others = np.delete(c["velocity"].astype(float), top)
        bars.append(int(c["bar"][top]))
        leads.append(float(c["velocity"][top]) - float(others.mean()))
    return np.asarray(bars, dtype=int), np.asarray(leads, dtype=np.float64)


def _with_dynamics(bars: list[BarMeasure], score: NotatedScore) -> list[BarMeasure]:
    """Add each bar's marking and its velocity's residual from the marking-velocity line."""
    from dataclasses import replace

    q_of_sec = score.quarter_to_sec
    pos = np.array([d[0] for d in score.dynamics])
    marks = [d[1] for d in score.dynamics]
    marked: list[str | None] = []
    for b in bars:
        q = float(_interp_extrap(np.array([b.score_start_sec]), q_of_sec[1], q_of_sec[0])[0])
        i = int(np.searchsorted(pos, q + 1e-6, side="right")) - 1
        marked.append(marks[i] if i >= 0 else None)
    lv = np.array([DYNAMIC_LEVELS[m] if m else np.nan for m in marked], dtype=float)
    vel = np.array([b.velocity_mean for b in bars], dtype=float)
    ok = np.isfinite(lv) & np.isfinite(vel)
    resid = np.full(len(bars), math.nan)
    if ok.sum() >= 2 and np.ptp(lv[ok]) > 0:
        slope = max(float(np.polyfit(lv[ok], vel[ok], 1)[0]), VELOCITY_PER_LEVEL)
        expected = vel[ok].mean() + slope * (lv[ok] - lv[ok].mean())
        resid[ok] = vel[ok] - expected
    return [
        replace(b, marking=m, dynamics_residual=float(r))
        for b, m, r in zip(bars, marked, resid, strict=True)
    ]
