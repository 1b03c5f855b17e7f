"""The shipped rater bundle."""

from __future__ import annotations

import json

import numpy as np

from pianoeval.examples import example_midi_path, example_score_path
from pianoeval.rater import DEFAULT_DIR, default_rater


def test_default_rater_rates_the_example() -> None:
    rater = default_rater()
    assert len(rater.dims) == 19
    with_score = rater.predict(example_midi_path(), score=example_score_path())
    bare = rater.predict(example_midi_path())
    for scores in (with_score, bare):
        assert scores.shape == (19,)
        assert np.all(np.isfinite(scores))
        assert np.all((scores >= 1 / 7) & (scores <= 1))
    meta = json.loads((DEFAULT_DIR / "rater.json").read_text())
    assert meta["licences"]["licenses"] == ["MIT"]
    assert meta["training_data"]["n_segments"] == 1189
    size = sum(p.stat().st_size for p in DEFAULT_DIR.rglob("*") if p.is_file())
    assert size < 8e6
