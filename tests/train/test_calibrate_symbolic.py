"""Calibrating a symbolic rater on out-of-fold predictions (tiny synthetic tables)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.train._calibration_data import DIMS, tiny_rater, tiny_split, tiny_tables

from pianoeval.data.splits import Split
from pianoeval.errors import ParameterError
from pianoeval.rater import SymbolicRater
from pianoeval.train.calibrate import calibrate_symbolic, rater_recipe


@pytest.fixture(scope="module")
def setup() -> tuple[Split, pd.DataFrame, pd.DataFrame, pd.DataFrame, SymbolicRater]:
    split = tiny_split()
    x, y, x0 = tiny_tables(split)
    return split, x, y, x0, tiny_rater(x, y, x0)


def test_recipe_rebuilds_the_rater_settings(setup: tuple) -> None:  # type: ignore[type-arg]
    *_, rater = setup
    again = SymbolicRater(**rater_recipe(rater))
    assert again.members == rater.members
    assert again.n_rounds == 20
    assert again.weights == rater.weights


@pytest.mark.parametrize("spread", ["error_model", "members"])
def test_calibrate_fits_both_parts_and_reports_on_test(
    setup: tuple,  # type: ignore[type-arg]
    tmp_path: Path,
    spread: str,
) -> None:
    split, x, y, x0, rater = setup
    run = calibrate_symbolic(rater, x, y, split, x_no_score=x0, spread=spread, method="affine")
    assert run.no_score is not None
    for part in (run.with_score, run.no_score):
        assert part.calibration.dims == tuple(DIMS)
        assert part.calibration.n_rows == 120  # out-of-fold rows only, never the test
        assert part.report is not None
        assert part.report["n_items"] == 30
        assert set(part.report["coverage"]) == {"0.5", "0.8", "0.95"}
        assert part.report["spread"]["kind"] == spread
        assert (part.spread_model is not None) == (spread == "error_model")
    assert run.info["split"] == "excerpt"
    # stored and reloaded, the rater rates with intervals
    rater.save(tmp_path / "r")
    loaded = SymbolicRater.load(tmp_path / "r")
    run.attach(loaded)
    loaded.write_calibration(tmp_path / "r", info=run.info)
    again = SymbolicRater.load(tmp_path / "r")
    assert again.calibration is not None
    assert again.no_score is not None
    assert again.no_score.calibration is not None
    pred = again.predict_calibrated(
        pd.concat([x.iloc[:3], x0.iloc[:3].assign(**{"a.y": 0.0, "score.available": 0.0})])
    )
    assert pred.calibrated.all()
    assert np.all(pred.low <= pred.value)
    assert np.all(pred.value <= pred.high)


def test_error_model_spread_follows_the_noise(setup: tuple) -> None:  # type: ignore[type-arg]
    split, x, y, x0, rater = setup
    run = calibrate_symbolic(rater, x, y, split, x_no_score=x0, method="none")
    assert run.with_score.report is not None
    assert run.with_score.report["spread"]["cv_sigma_spearman"] > 0.2


def test_missing_inputs_are_refused(setup: tuple) -> None:  # type: ignore[type-arg]
    split, x, y, x0, rater = setup
    with pytest.raises(ParameterError, match="x_no_score"):
        calibrate_symbolic(rater, x, y, split)
    with pytest.raises(ParameterError, match="feature columns"):
        calibrate_symbolic(rater, x.drop(columns="a.y"), y, split, x_no_score=x0)


def test_calibrate_audio_holds_each_renderer_out(setup: tuple) -> None:  # type: ignore[type-arg]
    from pianoeval.model.audio import AudioRater
    from pianoeval.train.calibrate import calibrate_audio

    split, x, y, x0, _ = setup
    rng = np.random.default_rng(5)
    tables = {}
    for name in ("piano_a", "piano_b"):
        xs = x + np.r_[0.1 * rng.normal(size=3), 0.0]  # each piano shifts the features a bit
        tables[name] = (xs, xs[x0.columns], y)
    kw = {"dims": DIMS, "n_rounds": 20, "extra_trees_rounds": 20, "n_threads": 1}
    audio = AudioRater(projections={}, **kw).fit(x, y, x_no_score=x0)
    run = calibrate_audio(audio, tables, split, method="none")
    assert run.no_score is not None
    assert run.with_score.calibration.n_rows == 2 * 120  # every renderer's out-of-fold rows
    assert run.with_score.report is not None
    assert run.with_score.report["n_items"] == 2 * 30
    assert run.info["renderers"] == ["piano_a", "piano_b"]
    assert all(k.split("/")[0] in tables for k in run.with_score.oof.index)
    with pytest.raises(ParameterError, match="two renderers"):
        calibrate_audio(audio, {"piano_a": tables["piano_a"]}, split)
