"""Score context: what the score notates and how well the performance matched it.

Computed from the score alone (notated tempo, density, dynamics, metre) plus the share of
matched notes, so it is the same for every performance of a passage except for the match
ratios. Without a score every column is 0 and ``available`` is 0: models can tell a
score-relative 0 ("as notated") from a missing score.
"""

from __future__ import annotations

import numpy as np

from pianoeval.symbolic.features.base import (
    FeatureContext,
    FeatureFamily,
    finite,
    safe_mean,
    safe_quantile,
)

COLUMNS = (
    "available",
    "match_frac_score",
    "match_frac_perf",
    "tempo_bpm",
    "duration_beats",
    "notes_per_beat",
    "beats_per_bar",
    "vel_mean",
    "vel_range",
    "dur_beats_mean",
)


def score_features(ctx: FeatureContext) -> dict[str, float]:
    """Compute the ``score`` family (see the module docstring)."""
    out: dict[str, float] = dict.fromkeys(COLUMNS, 0.0)
    s = ctx.score
    if s is None or s.n_notes == 0:
        return out
    out["available"] = 1.0
    n_match = ctx.alignment.n_matched if ctx.alignment is not None else 0
    # in a bar window the score fraction counts the bar's matches against the whole score
    out["match_frac_score"] = n_match / s.n_notes
    out["match_frac_perf"] = n_match / ctx.n_notes if ctx.n_notes else 0.0
    bpm = s.tempo_bpm
    beat = 60.0 / bpm if bpm > 0 else 0.5
    span_beats = (float(s.offset.max()) - float(s.onset.min())) / beat
    out["tempo_bpm"] = bpm
    out["duration_beats"] = span_beats
    out["notes_per_beat"] = s.n_notes / max(span_beats, 1e-3)
    out["beats_per_bar"] = s.beats_per_bar
    out["vel_mean"] = safe_mean(s.velocity)
    out["vel_range"] = safe_quantile(s.velocity, 0.95) - safe_quantile(s.velocity, 0.05)
    out["dur_beats_mean"] = safe_mean(np.asarray((s.offset - s.onset) / beat))
    return {k: finite(v) for k, v in out.items()}


FAMILY = FeatureFamily(
    name="score",
    columns=COLUMNS,
    function=score_features,
    description="score context (notated tempo, density, dynamics, metre) and alignment "
    "quality; all 0 without a score",
    score_columns=COLUMNS,
)
