"""Rater inputs: feature families plus score deltas, for one performance or many files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pianoeval.examples import example_midi_path, example_score_path
from pianoeval.symbolic.features import feature_columns
from pianoeval.symbolic.rater_inputs import rater_features, rater_inputs, rater_table, score_deltas


def test_score_deltas_and_rater_features() -> None:
    feats = rater_features(example_midi_path(), score=example_score_path())
    assert set(feature_columns()) < set(feats)
    assert feats["delta.dynamics.vel_mean"] == pytest.approx(
        feats["dynamics.vel_mean"] - 64.0, abs=1e-9
    )  # the example score is at velocity 64
    assert not any(k.startswith("delta.score.") for k in feats)
    bare = rater_features(example_midi_path())
    assert all(v == 0.0 for k, v in bare.items() if k.startswith("delta."))
    assert set(bare) == set(feats)
    table = rater_table(pd.DataFrame([{k: feats[k] for k in feature_columns()}]), None)
    assert set(table.columns) == set(feats)
    assert score_deltas({"pedal.on_frac": 0.5}, None) == {"delta.pedal.on_frac": 0.0}


def test_rater_inputs_match_rater_features(tmp_path: Path) -> None:
    perf, score = example_midi_path(), example_score_path()
    x = rater_inputs(
        [perf, perf], [score, None], ids=["with", "without"], jobs=1, cache=tmp_path,
        progress=False,
    )  # fmt: skip
    assert list(x.index) == ["with", "without"]
    one = rater_features(perf, score=score)
    assert set(x.columns) == set(one)
    assert x.loc["with", list(one)].to_numpy() == pytest.approx(np.array(list(one.values())))
    assert x.loc["without", "score.available"] == 0.0
    assert (x.loc["without", [c for c in x.columns if c.startswith("delta.")]] == 0.0).all()
    bare = rater_inputs([perf], None, ids=["p"], jobs=1, cache=tmp_path, progress=False)
    assert bare.loc["p"].to_dict() == pytest.approx(x.loc["without"].to_dict())
