"""What stands out, and what to practise: flags from measurements, advice in plain words.

A bar's measurement (:func:`pianoeval.symbolic.align.bars.bar_measures`) or a window's
rating *stands out* when it lies below the 10th or above the 90th percentile of the same
quantity over the labelled performances of the same passage (recognised by the score's
fingerprint) where there are some, else over all labelled performances
(:mod:`pianoeval.data.reference`). Each flag keeps the value, the percentiles it was
compared with and which reference served.

:func:`advice` turns flags into at most three sentences. Each is built from one template
per measurement, fills in only measured numbers and names the bars (or seconds) it is
about; consecutive flagged bars of the same kind are merged into one range. Ranges are
ranked by how far beyond the percentiles they lie (summed over their bars), one sentence
per kind first, so the three cover different things to practise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pianoeval.symbolic.align.bars import BarMeasure

__all__ = [
    "ADVICE_MEASURES",
    "MIN_WIDTH",
    "MIN_WIDTH_RATING",
    "Flag",
    "Tip",
    "advice",
    "flag_bars",
    "flag_windows",
]

#: Per-bar measurements that give advice, and the direction that does ("high", "low", both).
ADVICE_MEASURES: dict[str, tuple[str, ...]] = {
    "missing_rate": ("high",),
    "wrong_pitch_rate": ("high",),
    "extra_rate": ("high",),
    "tempo_ratio": ("high", "low"),
    "pedal_blur": ("high",),
    "pedal_down": ("low",),
    "melody_lead": ("low",),
    "dynamics_residual": ("high", "low"),
}
#: Note-accuracy measurements share one sentence (missed, wrong and extra notes).
_NOTE_MEASURES = ("missing_rate", "wrong_pitch_rate", "extra_rate")
#: Least width of a usual range when measuring how far beyond it a value lies (a range
#: that is a single value, such as no wrong notes at all, would make any excess infinite).
MIN_WIDTH: dict[str, float] = {
    "missing_rate": 0.05, "extra_rate": 0.05, "wrong_pitch_rate": 0.05, "tempo_ratio": 0.05,
    "pedal_down": 0.1, "pedal_blur": 0.25, "melody_lead": 3.0, "dynamics_residual": 3.0,
}  # fmt: skip
#: ... and of a window rating's (the label scale).
MIN_WIDTH_RATING = 0.05
#: Window ratings rank below bar measurements of the same excess (they are less specific).
_WINDOW_WEIGHT = 0.5


@dataclass(frozen=True)
class Flag:
    """A measurement or rating beyond the usual range.

    Attributes
    ----------
    kind : {"bar", "window"}
    measure : str
        A bar measurement name, or a dimension name for a window rating.
    direction : {"high", "low"}
    value, p10, p90 : float
    excess : float
        How far beyond the range, in units of the range's width (> 0).
    reference : {"passage", "all"}
    bar : int or None
    start_sec, end_sec : float
        Where, in the performance.
    """

    kind: Literal["bar", "window"]
    measure: str
    direction: Literal["high", "low"]
    value: float
    p10: float
    p90: float
    excess: float
    reference: Literal["passage", "all"]
    bar: int | None
    start_sec: float
    end_sec: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Tip:
    """One thing to practise: the sentence and what it rests on."""

    text: str
    measure: str
    bars: tuple[int, int] | None
    start_sec: float
    end_sec: float
    excess: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record."""
        return {
            "text": self.text,
            "measure": self.measure,
            "bars": list(self.bars) if self.bars else None,
            "start_sec": round(self.start_sec, 3),
            "end_sec": round(self.end_sec, 3),
            "excess": round(self.excess, 3),
        }


def _beyond(value: float, lo: float, hi: float, floor: float) -> tuple[str, float] | None:
    if not math.isfinite(value):
        return None
    width = max(hi - lo, floor)
    if value > hi:
        return "high", (value - hi) / width
    if value < lo:
        return "low", (lo - value) / width
    return None


def _range(table: Mapping[str, Any] | None, key: str) -> tuple[float, float] | None:
    if not table:
        return None
    r = table.get(key)
    if not r or len(r) != 2:
        return None
    return float(r[0]), float(r[1])


def flag_bars(
    bars: Sequence[BarMeasure], reference: Mapping[str, Any], fingerprint: str | None = None
) -> list[Flag]:
    """Flag each bar measurement beyond its 10th/90th percentile.

    Parameters
    ----------
    bars : sequence of BarMeasure
    reference : mapping
        :func:`pianoeval.data.reference.load_reference`'s record.
    fingerprint : str, optional
        The score's :meth:`~pianoeval.symbolic.align.score.NotatedScore.fingerprint`: its
        passage's own percentiles are used where the reference has them.
    """
    ref = reference.get("bars", {})
    passage = ref.get("passages", {}).get(fingerprint or "", {}).get("bars", {})
    flags = []
    for b in bars:
        own = passage.get(str(b.bar))
        for m, directions in ADVICE_MEASURES.items():
            rng, where = _range(own, m), "passage"
            if rng is None:
                rng, where = _range(ref.get("all"), m), "all"
            if rng is None:
                continue
            value = float(getattr(b, m))
            hit = _beyond(value, *rng, MIN_WIDTH[m])
            if hit is None or hit[0] not in directions:
                continue
            if m in _NOTE_MEASURES and _count(b, m) == 0:
                continue
            flags.append(
                Flag("bar", m, hit[0], value, rng[0], rng[1], hit[1], where,  # type: ignore[arg-type]
                     b.bar, b.start_sec, b.end_sec)
            )  # fmt: skip
    return flags


def _count(b: BarMeasure, m: str) -> int:
    return {"missing_rate": b.n_missing, "wrong_pitch_rate": b.n_wrong_pitch,
            "extra_rate": b.n_extra}[m]  # fmt: skip


def flag_windows(
    windows: Sequence[tuple[float, float, Mapping[str, float]]],
    reference: Mapping[str, Any],
    fingerprint: str | None = None,
) -> list[Flag]:
    """Flag window ratings beyond the 10th/90th percentile of the labels.

    Parameters
    ----------
    windows : sequence of (start_sec, end_sec, {dimension: score})
    reference, fingerprint
        As in :func:`flag_bars` (the passage's labels when known, else all labels).
    """
    ratings = reference.get("ratings", {})
    passage = ratings.get("passages", {}).get(fingerprint or "")
    flags = []
    for t0, t1, scores in windows:
        for dim, value in scores.items():
            rng, where = _range(passage, dim), "passage"
            if rng is None:
                rng, where = _range(ratings.get("all"), dim), "all"
            if rng is None:
                continue
            hit = _beyond(float(value), *rng, MIN_WIDTH_RATING)
            if hit is not None:
                flags.append(
                    Flag("window", dim, hit[0], float(value), rng[0], rng[1], hit[1], where,  # type: ignore[arg-type]
                         None, t0, t1)
                )  # fmt: skip
    return flags


def _bar_span(first: int, last: int) -> str:
    return f"bar {first}" if first == last else f"bars {first}-{last}"


def _clock(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60.0)
    return f"{int(m)}:{int(s):02d}"


def _group(flags: list[Flag]) -> list[list[Flag]]:
    """Group flags into runs of consecutive bars of the same measure (and direction)."""
    runs: list[list[Flag]] = []
    key = {m: ("notes" if m in _NOTE_MEASURES else m) for m in ADVICE_MEASURES}
    by: dict[tuple[str, str], list[Flag]] = {}
    for f in flags:
        by.setdefault(
            (key[f.measure], f.direction if f.measure not in _NOTE_MEASURES else ""), []
        ).append(f)
    for group in by.values():
        group.sort(key=lambda f: (f.bar or 0, f.measure))
        run: list[Flag] = []
        for f in group:
            if run and f.bar is not None and run[-1].bar is not None and f.bar > run[-1].bar + 1:
                runs.append(run)
                run = []
            run.append(f)
        if run:
            runs.append(run)
    return runs


def _window_runs(flags: list[Flag]) -> list[list[Flag]]:
    """Group window flags of one dimension and direction into overlapping runs."""
    runs: list[list[Flag]] = []
    by: dict[tuple[str, str], list[Flag]] = {}
    for f in flags:
        by.setdefault((f.measure, f.direction), []).append(f)
    for group in by.values():
        group.sort(key=lambda f: f.start_sec)
        run: list[Flag] = []
        for f in group:
            if run and f.start_sec > max(g.end_sec for g in run):
                runs.append(run)
                run = []
            run.append(f)
        runs.append(run)
    return runs


def _bar_sentence(run: list[Flag], bars: Mapping[int, BarMeasure]) -> tuple[str, str]:
    first, last = run[0].bar or 0, run[-1].bar or 0
    where = _bar_span(first, last)
    in_run = [bars[b] for b in range(first, last + 1) if b in bars]
    m, d = run[0].measure, run[0].direction
    if m in _NOTE_MEASURES:
        # a wrong pitch is one missed and one extra note: count it once, as wrong
        wrong = sum(b.n_wrong_pitch for b in in_run)
        miss = sum(max(b.n_missing - b.n_wrong_pitch, 0) for b in in_run)
        extra = sum(max(b.n_extra - b.n_wrong_pitch, 0) for b in in_run)
        parts = [f"{n} {w}" for n, w in ((wrong, "wrong"), (miss, "missed"), (extra, "extra")) if n]
        what = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
        return "notes", f"{where}: {what} notes; practise them slowly until they are secure"
    if m == "tempo_ratio":
        r = sum(f.value for f in run) / len(run)
        pct = abs(r - 1) * 100
        if d == "high":
            return m, f"{where}: slower than your tempo elsewhere ({pct:.0f} % more time per bar)"
        return m, f"{where}: rushed, {pct:.0f} % faster than your tempo elsewhere"
    if m == "pedal_blur":
        n = sum(b.n_harmony_changes for b in in_run)
        held = sum(round((b.pedal_blur if math.isfinite(b.pedal_blur) else 0) * b.n_harmony_changes)
                   for b in in_run)  # fmt: skip
        return m, (
            f"{where}: pedal held through harmony changes ({held} of {n} changes not cleared); "
            "lift and catch the pedal as the harmony changes"
        )
    if m == "pedal_down":
        share = sum(f.value for f in run) / len(run)
        return m, (
            f"{where}: little sustain pedal (down {share:.0%} of the time; usually at least "
            f"{run[0].p10:.0%} here)"
        )
    if m == "melody_lead":
        lead = sum(f.value for f in run) / len(run)
        return m, (
            f"{where}: the melody is softer than the accompaniment (top notes {abs(lead):.0f} "
            "velocity below the others); bring the melody out"
        )
    if m == "dynamics_residual":
        marks = sorted({b.marking for b in in_run if b.marking})
        marked = f" ({', '.join(marks)})" if marks else ""
        if d == "low":
            return m, f"{where}: softer than the notated dynamics{marked} ask for"
        return m, f"{where}: louder than the notated dynamics{marked} ask for"
    return m, f"{where}: {m} unusual"


def advice(
    flags: Sequence[Flag],
    bars: Sequence[BarMeasure] = (),
    *,
    descriptors: Mapping[str, tuple[str, str]] | None = None,
    max_tips: int = 3,
) -> list[Tip]:
    """Say up to ``max_tips`` things to practise, most outstanding first.

    Parameters
    ----------
    flags : sequence of Flag
        From :func:`flag_bars` and :func:`flag_windows`.
    bars : sequence of BarMeasure
        The measurements the bar flags came from (for counts in the sentences).
    descriptors : mapping, optional
        ``{dimension: (low, high)}`` descriptors, for window-rating sentences.
    max_tips : int

    Returns
    -------
    list of Tip
        One per kind of measurement first (the strongest range of each), then further
        ranges, until ``max_tips``.
    """
    by_bar = {b.bar: b for b in bars}
    candidates: list[Tip] = []
    for run in _group([f for f in flags if f.kind == "bar"]):
        kind, text = _bar_sentence(run, by_bar)
        candidates.append(
            Tip(text, kind, (run[0].bar or 0, run[-1].bar or 0), run[0].start_sec,
                run[-1].end_sec, sum(f.excess for f in run))
        )  # fmt: skip
    for run in _window_runs([f for f in flags if f.kind == "window"]):
        f = max(run, key=lambda g: g.excess)
        t0, t1 = min(g.start_sec for g in run), max(g.end_sec for g in run)
        low, high = (descriptors or {}).get(f.measure, ("low", "high"))
        end = high if f.direction == "high" else low
        text = (
            f"{_clock(t0)}-{_clock(t1)}: {f.measure.replace('_', ' ')} rated unusually far "
            f"towards \u201c{end}\u201d ({f.value:.2f}; most performances "
            f"{f.p10:.2f}-{f.p90:.2f})"
        )
        candidates.append(Tip(text, f"rating.{f.measure}", None, t0, t1, f.excess * _WINDOW_WEIGHT))
    candidates.sort(key=lambda t: -t.excess)
    chosen: list[Tip] = []
    kinds: set[str] = set()
    for t in candidates:  # one per kind first
        if t.measure not in kinds:
            chosen.append(t)
            kinds.add(t.measure)
        if len(chosen) == max_tips:
            break
    for t in candidates:
        if len(chosen) >= max_tips:
            break
        if t not in chosen:
            chosen.append(t)
    return sorted(chosen, key=lambda t: -t.excess)[:max_tips]
