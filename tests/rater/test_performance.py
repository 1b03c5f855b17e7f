"""Whole-performance evaluation: windows, per-bar measurements, standouts and advice."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pianoeval.examples import example_midi_path, example_score_path
from pianoeval.rater.performance import evaluate_performance
from pianoeval.rater.timeline import WINDOWED_ABOVE_SEC, slice_performance
from pianoeval.symbolic.align import align
from pianoeval.symbolic.align.bars import bar_measures
from pianoeval.symbolic.midi import PEDAL_DTYPE, PerformanceMidi, load_midi


@pytest.fixture(scope="module")
def perf() -> PerformanceMidi:
    return load_midi(example_midi_path())


def _hold_pedal(perf: PerformanceMidi, t0: float, t1: float) -> PerformanceMidi:
    """The same performance with the sustain pedal held down from t0 to t1, never changed."""
    ev = perf.sustain
    keep = ev[(ev["time_sec"] < t0) | (ev["time_sec"] > t1)]
    held = np.array([(t0, 127), (t1, 0)], dtype=PEDAL_DTYPE)
    merged = np.concatenate([keep, held])
    return replace(perf, sustain=merged[np.argsort(merged["time_sec"], kind="stable")])


def _repeat(perf: PerformanceMidi, times: int) -> PerformanceMidi:
    """The performance played ``times`` times in a row (a long recording)."""
    span = perf.end_sec + 1.0
    notes, pedal = [], []
    for k in range(times):
        n = perf.notes.copy()
        n["onset_sec"] += k * span
        n["offset_sec"] += k * span
        notes.append(n)
        s = perf.sustain.copy()
        s["time_sec"] += k * span
        pedal.append(s)
    return replace(
        perf, notes=np.concatenate(notes), sustain=np.concatenate(pedal),
        end_sec=perf.end_sec + (times - 1) * span,
    )  # fmt: skip


def test_a_clean_performance_has_bars_and_no_note_advice(perf: PerformanceMidi) -> None:
    r = evaluate_performance(perf, score=example_score_path())
    assert r.schema_version == 3
    assert r.score is not None
    assert r.score.used
    assert len(r.bars) == 16
    assert all(b.n_missing == 0 and b.n_extra == 0 for b in r.bars)
    assert not any(a.measure == "notes" for a in r.advice)
    # the example pedals once a bar: bars 5-7 hold no harmony change under the pedal
    assert not {5, 6, 7} & {b.bar for b in r.bars if "pedal_blur" in b.standout}
    assert {"read", "rate", "align", "feedback", "total"} <= set(r.timings)
    assert r.notes
    assert len(r.notes) == perf.n_notes
    assert r.model_card is not None
    assert "training_data" in r.model_card


def test_pedal_held_through_bars_5_to_8_is_named_in_the_advice(perf: PerformanceMidi) -> None:
    bars = {
        b.bar: b for b in bar_measures(align(perf, example_score_path(), backend="chord_dtw"), perf)
    }
    held = _hold_pedal(perf, bars[5].start_sec - 0.3, bars[8].end_sec - 0.1)
    r = evaluate_performance(held, score=example_score_path())
    pedal = [a for a in r.advice if a.measure == "pedal_blur"]
    assert pedal, [a.text for a in r.advice]
    assert pedal[0].bars == [5, 8]
    assert pedal[0].text.startswith("bars 5-8: pedal held through harmony changes")
    flagged = {b.bar for b in r.bars if "pedal_blur" in b.standout}
    assert {5, 6, 7, 8} <= flagged


def test_wrong_and_missing_notes_are_placed_in_their_bars(perf: PerformanceMidi) -> None:
    bars = {
        b.bar: b for b in bar_measures(align(perf, example_score_path(), backend="chord_dtw"), perf)
    }
    t0, t1 = bars[10].start_sec, bars[10].end_sec
    n = perf.notes.copy()
    in_bar = np.flatnonzero((n["onset_sec"] >= t0) & (n["onset_sec"] < t1))
    n["pitch"][in_bar[::2]] += 1  # every other note of bar 10 a semitone off
    r = evaluate_performance(replace(perf, notes=n), score=example_score_path())
    bar10 = next(b for b in r.bars if b.bar == 10)
    assert bar10.n_wrong_pitch >= 3
    assert len(bar10.missing_notes) == bar10.n_missing
    assert len(bar10.extra_notes) == bar10.n_extra
    notes_tip = [a for a in r.advice if a.measure == "notes"]
    assert notes_tip
    assert notes_tip[0].bars == [10, 10]
    assert "wrong" in notes_tip[0].text
    assert all(b.n_wrong_pitch == 0 for b in r.bars if b.bar != 10)


def test_a_long_performance_is_rated_window_by_window(perf: PerformanceMidi) -> None:
    long = _repeat(perf, 3)
    r = evaluate_performance(long)
    assert long.end_sec > 2 * WINDOWED_ABOVE_SEC
    assert r.pooled
    assert len(r.windows) >= 10
    assert r.windows[0].start_sec == 0.0
    assert r.windows[-1].end_sec == pytest.approx(long.end_sec, abs=0.01)
    rated = [w for w in r.windows if w.scores]
    assert len(rated) == len(r.windows)
    assert all(len(w.scores) == 19 for w in rated)
    # the overall score is the windows' mean
    j = 0
    mean = np.mean([w.scores[j].value for w in rated])
    assert r.scores[j].value == pytest.approx(mean, abs=1e-3)
    # the same music in every repeat: windows at the same place in each repeat agree
    assert r.bars == []


def test_slicing_keeps_the_pedal_state_and_shifts_times(perf: PerformanceMidi) -> None:
    t0 = float(perf.sustain["time_sec"][2]) + 0.5  # the pedal is down here
    part = slice_performance(perf, t0, t0 + 5.0)
    assert part.sustain["time_sec"][0] == 0.0
    assert part.sustain["value"][0] >= 64
    assert part.notes["onset_sec"].min() >= 0.0
    assert part.notes["onset_sec"].max() < 5.0
    expected = np.sum((perf.notes["onset_sec"] >= t0) & (perf.notes["onset_sec"] < t0 + 5.0))
    assert part.n_notes == expected


def test_musicxml_dynamics_are_compared_bar_by_bar(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import partitura as pt
    import partitura.score as ps

    from pianoeval.symbolic.align.score import load_score

    part = ps.Part("P1", "Piano", quarter_duration=4)
    part.add(ps.TimeSignature(4, 4), 0)
    pitches = [60, 64, 67, 72]
    for b in range(8):
        part.add(ps.Measure(number=b + 1), b * 16, (b + 1) * 16)
        for k in range(4):
            p = pitches[(b + k) % 4]
            step, octave = {60: ("C", 4), 64: ("E", 4), 67: ("G", 4), 72: ("C", 5)}[p]
            part.add(ps.Note(step=step, octave=octave, voice=1, id=f"n{b}{k}"),
                     b * 16 + k * 4, b * 16 + k * 4 + 4)  # fmt: skip
    part.add(ps.ConstantLoudnessDirection("p"), 0)
    part.add(ps.ConstantLoudnessDirection("f"), 4 * 16)
    path = tmp_path / "score.musicxml"
    pt.save_musicxml(part, str(path))
    score = load_score(path)
    assert score.dynamics == ((0.0, "p"), (16.0, "f"))
    # played at one loudness throughout: the forte bars are too soft, the piano ones too loud
    sn = score.notes
    from pianoeval.symbolic.midi import NOTE_DTYPE

    notes = np.zeros(sn.size, dtype=NOTE_DTYPE)
    notes["onset_sec"], notes["offset_sec"] = sn["onset_sec"], sn["onset_sec"] + 0.45
    notes["pitch"], notes["velocity"] = sn["pitch"], 70
    empty = np.zeros(0, dtype=PEDAL_DTYPE)
    flat = PerformanceMidi(
        "flat", notes, empty, empty.copy(), empty.copy(), float(notes["offset_sec"].max())
    )
    bars = bar_measures(align(flat, score, backend="chord_dtw"), flat, score)
    marks = {b.bar: b.marking for b in bars}
    assert marks[1] == "p"
    assert marks[5] == "f"
    assert all(b.dynamics_residual < 0 for b in bars if b.marking == "f")
    assert all(b.dynamics_residual > 0 for b in bars if b.marking == "p")
