"""Features grow linearly with the length: a quadratic regression fails here in seconds."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from pianoeval.symbolic.features import extract_features
from pianoeval.symbolic.features.texture import held_counts
from pianoeval.symbolic.midi import NOTE_DTYPE, PEDAL_DTYPE, PerformanceMidi

_PROGRESSION = (0, 5, 7, 0, 9, 2, 7, 0)


def _piece(n_notes: int, rng: np.random.Generator) -> tuple[PerformanceMidi, PerformanceMidi]:
    """A performance and its score of about ``n_notes`` notes (7 a second, pedal per bar)."""
    rows: list[tuple[float, float, int]] = []
    bar = 0
    while len(rows) < n_notes:
        t, root = 2.4 * bar, 48 + _PROGRESSION[bar % 8]
        rows += [(t, t + 2.4, p) for p in (root, root + 4, root + 7)]
        rows += [(t + 0.3 * k, t + 0.3 * k + 0.3, root + 12 + 7 * (k % 3)) for k in range(8)]
        rows += [(t + 0.4 * k, t + 0.4 * k + 0.4, 72 + int(rng.integers(0, 12))) for k in range(6)]
        bar += 1
    score = np.zeros(len(rows), dtype=NOTE_DTYPE)
    score["onset_sec"] = [r[0] for r in rows]
    score["offset_sec"] = [r[1] for r in rows]
    score["pitch"] = [r[2] for r in rows]
    score["velocity"] = 64
    score = score[np.lexsort((score["pitch"], score["onset_sec"]))]
    perf = score.copy()
    on = score["onset_sec"] * (1.0 + 0.04 * np.sin(score["onset_sec"] / 6.0))
    perf["onset_sec"] = np.maximum(on + rng.normal(0, 0.01, len(on)), 0.0)
    perf["offset_sec"] = perf["onset_sec"] + 0.9 * (score["offset_sec"] - score["onset_sec"])
    perf["velocity"] = rng.integers(40, 90, len(perf))
    perf = perf[rng.random(len(perf)) > 0.01]
    perf = perf[np.lexsort((perf["pitch"], perf["onset_sec"]))]
    pedal = np.zeros(2 * bar, dtype=PEDAL_DTYPE)
    pedal["time_sec"] = np.repeat(2.4 * np.arange(bar), 2) + np.tile([0.05, 2.3], bar)
    pedal["value"] = np.tile([100, 0], bar)
    none = np.zeros(0, dtype=PEDAL_DTYPE)

    def midi(notes: np.ndarray, sustain: np.ndarray, name: str) -> PerformanceMidi:
        end = float(notes["offset_sec"].max())
        return PerformanceMidi(name, notes, sustain, none.copy(), none.copy(), end)

    return midi(perf, pedal, "perf.mid"), midi(score, none.copy(), "score.mid")


def _cost(n_notes: int, rng: np.random.Generator) -> tuple[float, int]:
    """CPU seconds (untraced) and peak traced memory of the rater's features."""
    perf, score = _piece(n_notes, rng)

    def run() -> None:
        extract_features(perf, score=score)
        extract_features(score, score=score)

    t0 = time.process_time()
    run()
    seconds = time.process_time() - t0
    tracemalloc.start()
    try:
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return seconds, peak


def test_features_scale_linearly_in_time_and_memory(rng: np.random.Generator) -> None:
    _cost(200, rng)  # warm up: imports and first calls
    small_sec, small_bytes = _cost(2_000, rng)
    large_sec, large_bytes = _cost(8_000, rng)
    # 4x the notes: linear is 4x, quadratic 16x (the quadratic features of issue 16 took
    # 10x the time and 14x the memory from 15 to 60 minutes)
    assert large_bytes / small_bytes < 7.0, (small_bytes, large_bytes)
    assert large_sec / small_sec < 8.0, (small_sec, large_sec)


@pytest.mark.parametrize("seed", range(5))
def test_held_counts_match_the_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    on = np.round(rng.uniform(0, 10, 200), 1)
    off = on + np.round(rng.uniform(0, 2, 200), 1)  # zero-length notes included
    t = np.round(rng.uniform(-1, 12, 100), 1)
    expected = ((on[None, :] <= t[:, None]) & (off[None, :] > t[:, None])).sum(1)
    np.testing.assert_array_equal(held_counts(on, off, t), expected)
