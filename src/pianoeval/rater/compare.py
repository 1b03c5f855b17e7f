"""Two takes of the same piece side by side: which dimensions and bars differ beyond doubt.

:func:`compare_performances` evaluates both takes (:func:`evaluate_performance`), lines
them up and reports what differs:

- **Aligned by the score** when one is given and both match it: bar numbers line up, and
  each take is rated over the same bar windows.
- **Aligned by DTW** otherwise: take B is aligned note by note to take A read as a score
  (chord DTW, :func:`pianoeval.symbolic.align.align`), and each of A's windows is mapped to
  the span of B that plays the same music; B is rated over those spans.

A dimension *differs* when the two intervals do not overlap (both raters calibrated), else
when the scores differ by more than a tenth of the scale. A bar differs on a measurement
when the two values lie further apart than half the usual range of that measurement over
the labelled performances (:mod:`pianoeval.data.reference`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pianoeval._typing import PathLike
from pianoeval.rater.result import Rating

if TYPE_CHECKING:
    from pianoeval.model.audio import AudioRater
    from pianoeval.model.symbolic import SymbolicRater
    from pianoeval.rater.result import BarReport, DimensionScore, WindowScore

__all__ = ["BarDifference", "Comparison", "DimensionDifference", "compare_performances"]

#: Without intervals, scores this far apart (on the label scale) count as different.
UNCALIBRATED_DIFFERENCE = 0.1
#: Bar measurements compared, with the share of their usual range that counts as a difference.
BAR_MEASURES_COMPARED = (
    "missing_rate", "extra_rate", "tempo_ratio", "pedal_down", "pedal_blur", "melody_lead",
    "velocity_mean",
)  # fmt: skip


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DimensionDifference(_Record):
    """One dimension in both takes (overall, or in one stretch of the music)."""

    name: str
    a: float
    b: float
    a_interval: list[float] | None = None
    b_interval: list[float] | None = None
    differs: bool
    where: str = "overall"


class BarDifference(_Record):
    """A bar whose measurements differ between the takes."""

    bar: int
    measures: dict[str, list[float]] = Field(default_factory=dict)


class Comparison(_Record):
    """The comparison of two takes; ``a`` and ``b`` are their full ratings."""

    schema_version: int = 1
    kind: Literal["comparison"] = "comparison"
    aligned_by: Literal["score", "dtw", "none"]
    a: Rating
    b: Rating
    dimensions: list[DimensionDifference]
    windows: list[DimensionDifference] = Field(default_factory=list)
    bars: list[BarDifference] = Field(default_factory=list)
    summary: list[str] = Field(default_factory=list)


def _differs(a: DimensionScore | WindowScore, b: DimensionScore | WindowScore) -> bool:
    if a.interval_low is not None and b.interval_low is not None:
        assert a.interval_high is not None
        assert b.interval_high is not None
        return a.interval_high < b.interval_low or b.interval_high < a.interval_low
    return abs(a.value - b.value) > UNCALIBRATED_DIFFERENCE


def _interval(s: DimensionScore | WindowScore) -> list[float] | None:
    if s.interval_low is None or s.interval_high is None:
        return None
    return [s.interval_low, s.interval_high]


def _dimension_rows(
    a: Sequence[DimensionScore | WindowScore],
    b: Sequence[DimensionScore | WindowScore],
    where: str,
) -> list[DimensionDifference]:
    bs = {s.name: s for s in b}
    return [
        DimensionDifference(
            name=s.name,
            a=s.value,
            b=bs[s.name].value,
            a_interval=_interval(s),
            b_interval=_interval(bs[s.name]),
            differs=_differs(s, bs[s.name]),
            where=where,
        )
        for s in a
        if s.name in bs
    ]


def compare_performances(
    a: PathLike,
    b: PathLike,
    *,
    score: PathLike | None = None,
    rater: SymbolicRater | None = None,
    audio_rater: AudioRater | None = None,
    backend: str = "transkun",
    reference: Mapping[str, Any] | None = None,
) -> Comparison:
    """Evaluate two takes of one piece and report where they differ.

    Parameters
    ----------
    a, b : path-like
        The takes (audio or MIDI).
    score : path-like, optional
        The piece's score (MIDI or MusicXML): bars line up by it when both takes match it.
    rater, audio_rater, backend
        As in :func:`~pianoeval.rater.performance.evaluate_performance`.
    reference : mapping, optional
        Percentiles of the labelled performances (default: the shipped ones).

    Returns
    -------
    Comparison

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path
    >>> c = compare_performances(example_midi_path(), example_midi_path())
    >>> c.aligned_by, any(d.differs for d in c.dimensions)
    ('dtw', False)
    """
    from pianoeval.data.reference import load_reference
    from pianoeval.rater.bundle import default_rater
    from pianoeval.rater.performance import evaluate_performance

    rater = rater if rater is not None else default_rater()
    ra = evaluate_performance(a, score=score, rater=rater, audio_rater=audio_rater, backend=backend)
    rb = evaluate_performance(b, score=score, rater=rater, audio_rater=audio_rater, backend=backend)
    ref = reference if reference is not None else load_reference()
    dims = _dimension_rows(ra.scores, rb.scores, "overall")
    by_score = bool(ra.bars and rb.bars)
    windows: list[DimensionDifference] = []
    bars: list[BarDifference] = []
    aligned: Literal["score", "dtw"]
    if by_score:
        aligned = "score"
        wb = {(w.bar_start, w.bar_end): w for w in rb.windows if w.scores}
        for w in ra.windows:
            other = wb.get((w.bar_start, w.bar_end))
            if w.scores and other is not None:
                where = f"bars {w.bar_start}-{w.bar_end}"
                windows += [d for d in _dimension_rows(w.scores, other.scores, where) if d.differs]
        bars = _bar_differences(ra, rb, ref)
    else:
        aligned = "dtw"
        windows = _dtw_windows(a, b, ra, rater, audio_rater, backend)
    summary = _summary(dims, windows, bars)
    return Comparison(
        aligned_by=aligned, a=ra, b=rb, dimensions=dims, windows=windows, bars=bars,
        summary=summary,
    )  # fmt: skip


def _bar_differences(ra: Rating, rb: Rating, ref: Mapping[str, Any]) -> list[BarDifference]:
    usual = ref.get("bars", {}).get("all", {})
    bb = {x.bar: x for x in rb.bars}
    out = []
    for x in ra.bars:
        y = bb.get(x.bar)
        if y is None:
            continue
        found: dict[str, list[float]] = {}
        for m in BAR_MEASURES_COMPARED:
            va, vb, rng = _bar_value(x, m), _bar_value(y, m), usual.get(m)
            if va is None or vb is None or not rng:
                continue
            width = max(float(rng[1]) - float(rng[0]), 1e-6)
            if abs(va - vb) > width / 2:
                found[m] = [round(float(va), 4), round(float(vb), 4)]
        if found:
            out.append(BarDifference(bar=x.bar, measures=found))
    return out


def _bar_value(bar: BarReport, measure: str) -> float | None:
    """Return a bar's measurement (note rates from its counts: the report keeps counts)."""
    if measure == "missing_rate":
        return bar.n_missing / bar.n_score if bar.n_score else None
    if measure == "extra_rate":
        n = bar.n_played + bar.n_extra
        return bar.n_extra / n if n else None
    value = getattr(bar, measure)
    return None if value is None else float(value)


def _dtw_windows(
    a: PathLike,
    b: PathLike,
    ra: Rating,
    rater: SymbolicRater,
    audio_rater: AudioRater | None,
    backend: str,
) -> list[DimensionDifference]:
    """Rate B over the spans that play A's windows (B aligned to A by chord DTW)."""
    if not ra.windows:
        return []
    import numpy as np

    from pianoeval.audio.windows import Window
    from pianoeval.errors import AlignmentError
    from pianoeval.rater.evaluate import _audio_needs, _audio_rater, _load_input
    from pianoeval.rater.timeline import rate_windows
    from pianoeval.symbolic.align import align
    from pianoeval.symbolic.align.score import score_from_notes

    # read both again (audio transcriptions come from the cache): B keeps its pedal
    audio = _audio_rater(b, audio_rater, backend=backend, enabled=True)
    needs = _audio_needs(audio)
    perf_a = _load_input(a, backend=backend, vectors=needs)[0]
    perf_b = _load_input(b, backend=backend, vectors=needs)[0]
    try:
        al = align(perf_b, score_from_notes(perf_a.notes, path=str(a)), backend="chord_dtw")
    except AlignmentError:
        return []
    spans = []
    for w in ra.windows:
        t0, t1 = (float(x) for x in al.score_to_perf(np.array([w.start_sec, w.end_sec])))
        spans.append(Window(t0, max(t1, t0 + 1e-3), w.index))
    model = audio if audio is not None else rater
    prepare = audio.prepare if audio is not None else None
    rated = rate_windows(perf_b, spans, model.predict_calibrated, prepare=prepare)
    names = [s.name for s in ra.scores]
    from pianoeval.rater.performance import _window_rating

    out: list[DimensionDifference] = []
    for wa, r in zip(ra.windows, rated, strict=True):
        wb = _window_rating(r, names)
        if wa.scores and wb.scores:
            where = (
                f"A {wa.start_sec:.0f}-{wa.end_sec:.0f} s / B {r.window.t0:.0f}-{r.window.t1:.0f} s"
            )
            out += [d for d in _dimension_rows(wa.scores, wb.scores, where) if d.differs]
    return out


def _summary(
    dims: Sequence[DimensionDifference],
    windows: Sequence[DimensionDifference],
    bars: Sequence[BarDifference],
) -> list[str]:
    lines = []
    differ = [d for d in dims if d.differs]
    if differ:
        lines.append(
            "overall, beyond their intervals: "
            + ", ".join(f"{d.name} ({d.a:.2f} vs {d.b:.2f})" for d in differ)
        )
    else:
        lines.append("overall, no dimension differs beyond the intervals")
    if windows:
        where: dict[str, list[str]] = {}
        for d in windows:
            where.setdefault(d.where, []).append(d.name)
        lines += [f"{w}: {', '.join(names)}" for w, names in list(where.items())[:5]]
    if bars:
        lines.append(
            "bars that differ: " + "; ".join(f"{x.bar} ({', '.join(x.measures)})" for x in bars[:8])
        )
    return lines
