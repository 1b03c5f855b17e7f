"""Ratings over time: cut one performance into windows and rate each from the same transcription.

A long recording is read (and, for audio, transcribed) once; :func:`slice_performance` cuts
the performance into the windows of :func:`pianoeval.audio.windows.fixed_windows` (about
20 s, every 5 s) or, with a score, of whole bars (:func:`pianoeval.audio.windows.bar_windows`
over the aligned downbeats), and :func:`rate_windows` rates all windows in one call of the
rater. Windows are rated from the performance alone (the rater's no-score fallback): a
window's share of the score would need its own alignment and the rater learned from whole
excerpts; the score serves the per-bar measurements instead (:mod:`pianoeval.rater.feedback`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from pianoeval.constants import MIN_MUSIC_SEC, MIN_NOTES_TO_RATE, PEDAL_DOWN

if TYPE_CHECKING:
    import pandas as pd

    from pianoeval.audio.windows import Window
    from pianoeval.model.symbolic import CalibratedPrediction
    from pianoeval.symbolic.midi import PerformanceMidi

__all__ = [
    "HOP_SEC",
    "WINDOWED_ABOVE_SEC",
    "WINDOW_BARS",
    "WINDOW_SEC",
    "RatedWindow",
    "plan_windows",
    "pooled",
    "rate_windows",
    "slice_performance",
]

#: Window length and hop without a score (seconds).
WINDOW_SEC, HOP_SEC = 20.0, 5.0
#: Bars per window and hop with a score.
WINDOW_BARS, HOP_BARS = 8, 4
#: Performances with more music than this are rated window by window (shorter ones whole).
WINDOWED_ABOVE_SEC = 30.0


@dataclass(frozen=True)
class RatedWindow:
    """One window's ratings (``prediction`` None when it holds too little music)."""

    window: Window
    n_notes: int
    prediction: CalibratedPrediction | None
    reason: str | None = None


def slice_performance(perf: PerformanceMidi, t0: float, t1: float) -> PerformanceMidi:
    """Return the notes starting in ``[t0, t1)`` and the pedalling there, shifted to start at 0.

    Notes keep their full length (a note held past ``t1`` is still a long note); each
    pedal starts the window in the state it had at ``t0``.

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path
    >>> from pianoeval.symbolic.midi import load_midi
    >>> perf = load_midi(example_midi_path())
    >>> part = slice_performance(perf, 10.0, 20.0)
    >>> 0 < part.n_notes < perf.n_notes, float(part.notes["onset_sec"].min()) >= 0
    (True, True)
    """
    notes = perf.notes[(perf.notes["onset_sec"] >= t0) & (perf.notes["onset_sec"] < t1)].copy()
    notes["onset_sec"] -= t0
    notes["offset_sec"] -= t0

    def pedal(ev: np.ndarray) -> np.ndarray:
        before = ev[ev["time_sec"] <= t0]
        inside = ev[(ev["time_sec"] > t0) & (ev["time_sec"] < t1)].copy()
        inside["time_sec"] -= t0
        if before.size and before["value"][-1] > 0:
            start = before[-1:].copy()
            start["time_sec"] = 0.0
            inside = np.concatenate([start, inside])
        return inside

    sustain = pedal(perf.sustain)
    end = float(notes["offset_sec"].max()) if notes.size else 0.0
    if notes.size and sustain.size:
        # a note under a held pedal sounds until the pedal is lifted
        ups = sustain["time_sec"][sustain["value"] < PEDAL_DOWN]
        later = ups[ups >= end]
        if sustain["value"][-1] >= PEDAL_DOWN:
            end = max(end, min(t1 - t0, perf.end_sec - t0))
        elif later.size:
            end = float(later[0])
    return replace(
        perf,
        notes=notes,
        sustain=sustain,
        sostenuto=pedal(perf.sostenuto),
        soft=pedal(perf.soft),
        end_sec=end,
    )


def plan_windows(
    perf: PerformanceMidi, *, downbeats_sec: Sequence[float] | None = None
) -> list[Window]:
    """Windows of a performance: bar windows over ``downbeats_sec`` when given, else fixed.

    A performance with at most :data:`WINDOWED_ABOVE_SEC` of music gets one window over all
    of it (it is a passage of the length the rater learned from).
    """
    from pianoeval.audio.windows import Window, bar_windows, fixed_windows

    end = max(perf.end_sec, float(perf.notes["offset_sec"].max()) if perf.n_notes else 0.0)
    span = end - perf.start_sec
    if span <= WINDOWED_ABOVE_SEC:
        return [Window(0.0, max(end, 1e-3), 0)]
    if downbeats_sec is not None and len(downbeats_sec) > WINDOW_BARS:
        db = np.asarray(downbeats_sec, dtype=float)
        db = db[np.concatenate([[True], np.diff(db) > 0])]
        db = db[(db >= 0) & (db < end)]
        if db.size > WINDOW_BARS:
            return bar_windows(db, end, n_bars=WINDOW_BARS, hop_bars=HOP_BARS)
    return fixed_windows(end, length_sec=WINDOW_SEC, hop_sec=HOP_SEC)


def rate_windows(
    perf: PerformanceMidi,
    windows: Sequence[Window],
    predict: Callable[[pd.DataFrame], CalibratedPrediction],
    *,
    prepare: Callable[[PerformanceMidi], PerformanceMidi] | None = None,
) -> list[RatedWindow]:
    """Rate every window that holds enough music, in one call of ``predict``.

    Parameters
    ----------
    perf : PerformanceMidi
        The whole performance (transcribed once, for audio).
    windows : sequence of Window
    predict : callable
        Rates a feature table (``rater.predict_calibrated``).
    prepare : callable, optional
        What the rater does to a performance before its features (the audio rater's
        velocity standardisation, :meth:`~pianoeval.model.audio.AudioRater.prepare`).

    Returns
    -------
    list of RatedWindow
        In window order; a window with fewer than
        :data:`~pianoeval.constants.MIN_NOTES_TO_RATE` notes or
        :data:`~pianoeval.constants.MIN_MUSIC_SEC` of music has no prediction and says why.
    """
    import pandas as pd

    from pianoeval.symbolic.rater_inputs import rater_features

    parts, rows, keep = [], [], []
    for w in windows:
        part = slice_performance(perf, w.t0, w.t1)
        parts.append(part)
        span = (float(part.notes["offset_sec"].max() - part.notes["onset_sec"].min())
                if part.n_notes else 0.0)  # fmt: skip
        if part.n_notes >= MIN_NOTES_TO_RATE and span >= MIN_MUSIC_SEC:
            seen = prepare(part) if prepare is not None else part
            rows.append(rater_features(seen))
            keep.append(True)
        else:
            keep.append(False)
    pred = predict(pd.DataFrame(rows)) if rows else None
    out, k = [], 0
    for w, part, ok in zip(windows, parts, keep, strict=True):
        if ok and pred is not None:
            out.append(RatedWindow(w, part.n_notes, _row(pred, k)))
            k += 1
        else:
            out.append(
                RatedWindow(
                    w, part.n_notes, None,
                    reason=f"too little music ({part.n_notes} notes) in this window",
                )
            )  # fmt: skip
    return out


def _row(pred: CalibratedPrediction, k: int) -> CalibratedPrediction:
    from pianoeval.model.symbolic import CalibratedPrediction

    calibrated = np.asarray(pred.calibrated)
    return CalibratedPrediction(
        raw=pred.raw[k], value=pred.value[k], sigma=pred.sigma[k], low=pred.low[k],
        high=pred.high[k], calibrated=calibrated[k] if calibrated.ndim else calibrated,
        level=pred.level,
    )  # fmt: skip


def pooled(windows: Sequence[RatedWindow]) -> CalibratedPrediction | None:
    """Pool the windows' ratings into the whole performance's (None if none was rated).

    Scores and spreads are the mean over rated windows; the interval is the mean of the
    windows' bounds. Window errors are strongly correlated (one player, one piano), so the
    mean of the bounds keeps about the windows' coverage; were they independent, it would
    be conservative. ``calibrated`` only if every window's rating is.
    """
    from pianoeval.model.symbolic import CalibratedPrediction

    rated = [w.prediction for w in windows if w.prediction is not None]
    if not rated:
        return None

    def mean(attr: str) -> np.ndarray:
        return np.asarray(
            np.mean(np.stack([np.asarray(getattr(p, attr), dtype=float) for p in rated]), axis=0)
        )

    cal = bool(all(bool(np.all(p.calibrated)) for p in rated))
    return CalibratedPrediction(
        raw=mean("raw"), value=mean("value"), sigma=mean("sigma"), low=mean("low"),
        high=mean("high"), calibrated=np.asarray(cal), level=rated[0].level,
    )  # fmt: skip
