"""Evaluate a whole performance: ratings over time, per-bar feedback and what to practise.

:func:`evaluate_performance` is what ``pianoeval evaluate``, the API and the web page call.
It returns the same :class:`~pianoeval.rater.result.Rating` as
:func:`~pianoeval.rater.evaluate.evaluate` (the single-segment view ``analyze`` shows),
filled further:

1. **Read once.** The input is read, and audio transcribed, once (stage ``read``; the
   transcription's own seconds are stage ``transcribe``).
2. **Score.** A score (MIDI or MusicXML) that matches is aligned to the whole performance
   (chord DTW: linear in its length) and measured bar by bar
   (:func:`~pianoeval.symbolic.align.bars.bar_measures`, stage ``align``).
3. **Rate.** A passage of the length the raters learned from (at most
   :data:`~pianoeval.rater.timeline.WINDOWED_ABOVE_SEC` of music) is rated whole, with the
   score when it matches. A longer one is rated window by window (about 20 s every 5 s, or
   8 bars every 4 with a score; :mod:`pianoeval.rater.timeline`) and its overall scores are
   the windows' mean (``pooled``), with the mean of their interval bounds.
4. **Feedback.** Bar measurements and window ratings beyond the 10th/90th percentile of the
   labelled performances (of the same passage where known) are ``standouts``; the three
   most outstanding become ``advice`` in plain words (:mod:`pianoeval.rater.feedback`).
5. The rating carries the input's hash and sample rate, the model card and per-stage
   ``timings``.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pianoeval._typing import PathLike
from pianoeval.constants import MIDI_SUFFIXES
from pianoeval.rater.result import (
    Advice,
    BarReport,
    DimensionScore,
    Rating,
    StandOut,
    WindowRating,
    WindowScore,
)

if TYPE_CHECKING:
    from pianoeval.model.audio import AudioRater
    from pianoeval.model.symbolic import CalibratedPrediction, SymbolicRater
    from pianoeval.rater.feedback import Flag
    from pianoeval.rater.timeline import RatedWindow
    from pianoeval.symbolic.align import Alignment
    from pianoeval.symbolic.align.bars import BarMeasure
    from pianoeval.symbolic.align.score import NotatedScore
    from pianoeval.symbolic.midi import PerformanceMidi

__all__ = ["evaluate_performance", "score_as_performance"]

_XML_SUFFIXES = (".musicxml", ".xml", ".mxl")


def evaluate_performance(
    source: PathLike | PerformanceMidi,
    *,
    score: PathLike | None = None,
    rater: SymbolicRater | None = None,
    audio_rater: AudioRater | None = None,
    backend: str = "transkun",
    use_audio_rater: bool = True,
    reference: Mapping[str, Any] | None = None,
) -> Rating:
    """Rate a whole performance over time, and per bar when a matching score is given.

    Parameters
    ----------
    source : path-like or PerformanceMidi
        Audio (wav, flac, ogg, mp3) or a performance MIDI.
    score : path-like, optional
        The score: a score MIDI or MusicXML (``.musicxml``, ``.xml``, ``.mxl``).
    rater, audio_rater, backend, use_audio_rater
        As in :func:`~pianoeval.rater.evaluate.evaluate`.
    reference : mapping, optional
        Percentiles of the labelled performances (default: the shipped one,
        :func:`pianoeval.data.reference.load_reference`).

    Returns
    -------
    Rating

    Raises
    ------
    NotRatableError
        Too little music to rate.
    MidiError, AudioError, AlignmentError
        The input or the score cannot be read (the message names the file).

    Examples
    --------
    >>> from pianoeval.examples import example_midi_path, example_score_path
    >>> r = evaluate_performance(example_midi_path(), score=example_score_path())
    >>> len(r.scores), len(r.bars) > 0, r.timings["total"] > 0
    (19, True, True)
    """
    from pianoeval._cache import check_cache_dir
    from pianoeval.data.reference import load_reference
    from pianoeval.rater.bundle import default_rater
    from pianoeval.rater.evaluate import _audio_needs, _audio_rater, _load_input, rate_loaded
    from pianoeval.rater.feedback import advice, flag_bars, flag_windows
    from pianoeval.rater.timeline import plan_windows, pooled, rate_windows

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    check_cache_dir()
    rater = rater if rater is not None else default_rater()
    audio = _audio_rater(source, audio_rater, backend=backend, enabled=use_audio_rater)
    needs = _audio_needs(audio)
    timings["load_raters"] = time.perf_counter() - t_start
    t = time.perf_counter()
    perf, info, notes, emb = _load_input(source, backend=backend, vectors=needs)
    timings["read"] = time.perf_counter() - t
    if info.transcription is not None:
        timings["transcribe"] = info.transcription.elapsed_sec
    info = info.model_copy(update=_file_facts(source))

    t = time.perf_counter()
    notated, sc_perf, fingerprint = None, None, None
    bars: list[BarMeasure] = []
    alignment: Alignment | None = None
    if score is not None:
        notated, sc_perf = _read_score(score)
    timings["read_score"] = time.perf_counter() - t

    t = time.perf_counter()
    windows = plan_windows(perf)
    whole = len(windows) == 1
    base = rate_loaded(
        perf, info, notes, emb, score=sc_perf if whole else None, rater=rater, audio=audio
    )
    if not whole and sc_perf is not None:
        # the score's match decides whether bars are measured: check it on the whole
        from pianoeval.rater.evaluate import _score_use

        _, use = _score_use(perf, sc_perf)
        assert score is not None
        base = base.model_copy(update={"score": use.model_copy(update={"path": os.fspath(score)})})
        if not use.used:
            base = base.model_copy(
                update={"warnings": [*base.warnings, f"score {score} not used: {use.reason}"]}
            )
    elif base.score is not None and score is not None:
        base = base.model_copy(
            update={"score": base.score.model_copy(update={"path": os.fspath(score)})}
        )
    timings["rate"] = time.perf_counter() - t

    t = time.perf_counter()
    score_used = base.score is not None and base.score.used
    if notated is not None and score_used:
        from pianoeval.symbolic.align import align
        from pianoeval.symbolic.align.bars import bar_measures

        alignment = align(perf, notated, backend="chord_dtw")
        bars = bar_measures(alignment, perf, notated)
        fingerprint = notated.fingerprint()
    timings["align"] = time.perf_counter() - t

    t = time.perf_counter()
    rated: list[RatedWindow] = []
    if not whole:
        downbeats = [b.start_sec for b in bars] if bars else None
        windows = plan_windows(perf, downbeats_sec=downbeats)
        model = audio if audio is not None and emb is not None else rater
        prepare = audio.prepare if model is audio and audio is not None else None
        rated = rate_windows(perf, windows, model.predict_calibrated, prepare=prepare)
        overall = pooled(rated)
        if overall is not None:
            n_rated = sum(r.prediction is not None for r in rated)
            kept = [w for w in base.warnings if "rates this one as a whole" not in w]
            kept.append(
                f"the performance has {info.music_sec:.0f} s of music: it was rated in "
                f"{n_rated} overlapping windows (see the timeline) and its scores are their mean"
            )
            base = base.model_copy(
                update={
                    "scores": _pooled_scores(base.scores, overall),
                    "pooled": True,
                    "warnings": kept,
                }
            )
    timings["windows"] = time.perf_counter() - t

    t = time.perf_counter()
    ref = reference if reference is not None else load_reference()
    flags = flag_bars(bars, ref, fingerprint)
    dims = {s.name: s for s in base.scores}
    names = [s.name for s in base.scores]
    flags += flag_windows(
        [(r.window.t0, r.window.t1, _scores_of(r.prediction, names)) for r in rated
         if r.prediction is not None],
        ref, fingerprint,
    )  # fmt: skip
    tips = advice(flags, bars, descriptors={n: (d.low, d.high) for n, d in dims.items()})
    timings["feedback"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_start
    card = _model_card(audio if base.model_id == getattr(audio, "model_id", None) else rater)
    return base.model_copy(
        update={
            "windows": [_window_rating(r, names) for r in rated],
            "bars": [_bar_report(b, alignment, flags) for b in bars] if alignment else [],
            "notes": _note_rows(perf),
            "standouts": [_standout(f) for f in flags],
            "advice": [
                Advice(
                    text=tip.text,
                    measure=tip.measure,
                    bars=list(tip.bars) if tip.bars else None,
                    start_sec=round(tip.start_sec, 3),
                    end_sec=round(tip.end_sec, 3),
                )
                for tip in tips
            ],
            "timings": {k: round(v, 4) for k, v in timings.items()},
            "model_card": card,
        }
    )


def score_as_performance(score: NotatedScore) -> PerformanceMidi:
    """Return a notated score as a flat, unpedalled performance at its tempo (velocity 64).

    What the raters' score features read: they compare a performance with a plain
    rendition of its score, which a MusicXML does not come with.
    """
    import numpy as np

    from pianoeval.symbolic.midi import NOTE_DTYPE, PEDAL_DTYPE, PerformanceMidi

    sn = score.notes[~score.notes["is_grace"]]
    notes = np.zeros(sn.size, dtype=NOTE_DTYPE)
    notes["onset_sec"] = sn["onset_sec"]
    notes["offset_sec"] = sn["onset_sec"] + np.maximum(sn["duration_sec"], 0.05)
    notes["pitch"] = sn["pitch"]
    notes["velocity"] = 64
    notes = notes[np.lexsort((notes["pitch"], notes["onset_sec"]))]
    empty = np.zeros(0, dtype=PEDAL_DTYPE)
    end = float(notes["offset_sec"].max()) if notes.size else 0.0
    return PerformanceMidi(score.path or "score", notes, empty, empty.copy(), empty.copy(), end)


def _read_score(path: PathLike) -> tuple[NotatedScore, PerformanceMidi]:
    """Read the score for the bars (NotatedScore) and for the rater's score features."""
    from pianoeval.symbolic.align.score import load_score
    from pianoeval.symbolic.midi import load_midi

    notated = load_score(path)
    if Path(os.fspath(path)).suffix.lower() in MIDI_SUFFIXES:
        return notated, load_midi(path, require_notes=False)
    return notated, score_as_performance(notated)


def _file_facts(source: PathLike | PerformanceMidi) -> dict[str, Any]:
    """Return the input file's sha256 and, for audio, its sample rate."""
    from pianoeval.symbolic.midi import PerformanceMidi

    if isinstance(source, PerformanceMidi):
        return {}
    p = Path(os.fspath(source))
    h = hashlib.sha256()
    with p.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    facts: dict[str, Any] = {"sha256": h.hexdigest()}
    if p.suffix.lower() not in MIDI_SUFFIXES:
        try:
            import soundfile as sf

            facts["sample_rate"] = int(sf.info(str(p)).samplerate)
        except Exception:  # the audio was read already; a header soundfile cannot parse
            pass
    return facts


def _scores_of(pred: CalibratedPrediction | None, names: Sequence[str]) -> dict[str, float]:
    if pred is None:
        return {}
    return {n: float(pred.value[j]) for j, n in enumerate(names)}


def _pooled_scores(
    scores: Sequence[DimensionScore], overall: CalibratedPrediction
) -> list[DimensionScore]:
    """Replace the whole rating's scores by the windows' pooled ones."""
    cal = bool(overall.calibrated)
    return [
        s.model_copy(
            update={
                "value": round(float(overall.value[j]), 4),
                "sigma": round(float(overall.sigma[j]), 4),
                "interval_low": round(float(overall.low[j]), 4) if cal else None,
                "interval_high": round(float(overall.high[j]), 4) if cal else None,
                "interval_level": overall.level if cal else None,
                "calibrated": cal,
            }
        )
        for j, s in enumerate(scores)
    ]


def _window_rating(r: RatedWindow, names: Sequence[str]) -> WindowRating:
    scores: list[WindowScore] = []
    p = r.prediction
    if p is not None:
        cal = bool(p.calibrated)
        scores = [
            WindowScore(
                name=n,
                value=round(float(p.value[j]), 4),
                sigma=round(float(p.sigma[j]), 4),
                interval_low=round(float(p.low[j]), 4) if cal else None,
                interval_high=round(float(p.high[j]), 4) if cal else None,
            )
            for j, n in enumerate(names)
        ]
    w = r.window
    return WindowRating(
        index=w.index, start_sec=round(w.t0, 3), end_sec=round(w.t1, 3),
        bar_start=w.bar_start, bar_end=w.bar_end, n_notes=r.n_notes, scores=scores,
        note=r.reason,
    )  # fmt: skip


def _bar_report(b: BarMeasure, al: Alignment, flags: Sequence[Flag]) -> BarReport:
    import numpy as np

    d = b.to_dict()
    keep = set(BarReport.model_fields) - {"missing_notes", "extra_notes", "standout"}
    record = {k: v for k, v in d.items() if k in keep}
    sn, pn = al.score_notes, al.perf_notes
    due = al.score_to_perf(sn["onset_sec"][b.missing_notes]) if b.missing_notes else np.zeros(0)
    return BarReport(
        **record,
        missing_notes=[
            [round(float(t), 3), int(sn["pitch"][i])]
            for t, i in zip(due, b.missing_notes, strict=True)
        ],
        extra_notes=[
            [round(float(pn["onset_sec"][i]), 3), int(pn["pitch"][i])] for i in b.extra_notes
        ],
        standout=sorted({f.measure for f in flags if f.kind == "bar" and f.bar == b.bar}),
    )


def _note_rows(perf: PerformanceMidi) -> list[list[float]]:
    """``[onset_sec, offset_sec, pitch, velocity]`` of every note (for the piano roll)."""
    n = perf.notes
    return [
        [round(float(a), 3), round(float(b), 3), int(p), int(v)]
        for a, b, p, v in zip(
            n["onset_sec"], n["offset_sec"], n["pitch"], n["velocity"], strict=True
        )
    ]


def _standout(f: Flag) -> StandOut:
    return StandOut(**f.to_dict())


def _model_card(model: Any) -> dict[str, Any] | None:
    meta = getattr(model, "metadata", None)
    if not isinstance(meta, Mapping):
        return None
    keep = ("model_id", "created", "licences", "training_data", "benchmark", "caution",
            "taxonomy", "pianoeval_version")  # fmt: skip
    return {k: meta[k] for k in keep if k in meta}
