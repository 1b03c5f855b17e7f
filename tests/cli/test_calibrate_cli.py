"""``pianoeval calibrate``: fits and stores a calibration, writes the report, guards the
shipped raters (tiny synthetic data in place of PercePiano)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tests.cli._util import flat, snapshot
from typer.testing import CliRunner

from pianoeval.cli import app
from pianoeval.rater import DEFAULT_DIR, SymbolicRater

runner = CliRunner()


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny rater bundle, and PercePiano's table and split replaced by tiny ones."""
    from tests.train._calibration_data import DIMS, tiny_split, tiny_tables

    import pianoeval.data
    import pianoeval.data.percepiano_table
    import pianoeval.data.splits

    split = tiny_split()
    x, y, _ = tiny_tables(split)

    def table(root: Any, **kwargs: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
        assert kwargs.get("with_scores", True)
        return x, y

    monkeypatch.setattr(pianoeval.data.percepiano_table, "percepiano_table", table)
    monkeypatch.setattr(pianoeval.data.splits, "load_split", lambda name: split)
    monkeypatch.setattr(pianoeval.data, "find_data_root", lambda *a, **k: tmp_path)
    rater = SymbolicRater(dims=DIMS, n_rounds=20, extra_trees_rounds=20, n_threads=1)
    return rater.fit(x, y).save(tmp_path / "rater")


def test_calibrate_stores_calibration_and_writes_the_report(tiny: Path, tmp_path: Path) -> None:
    models = snapshot(tiny / "models")
    out = tmp_path / "report.json"
    res = runner.invoke(app, ["calibrate", str(tiny), "--out", str(out), "--method", "affine"])
    assert res.exit_code == 0, res.output
    assert (tiny / "calibration.json").is_file()
    assert (tiny / "spread" / "spread.json").is_file()
    assert snapshot(tiny / "models") == models
    report = json.loads(out.read_text())
    assert report["split"] == "excerpt"
    assert report["with_score"]["n_items"] == 30
    assert "coverage_error" in report["with_score"]
    assert "coverage error" in res.output
    loaded = SymbolicRater.load(tiny)
    assert loaded.calibration is not None
    assert loaded.metadata["calibration"]["split"] == "excerpt"


def test_no_store_only_measures(tiny: Path) -> None:
    res = runner.invoke(app, ["calibrate", str(tiny), "--no-store", "--spread", "members"])
    assert res.exit_code == 0, res.output
    assert not (tiny / "calibration.json").exists()


def test_refuses_the_shipped_rater_without_force() -> None:
    before = snapshot(DEFAULT_DIR)
    res = runner.invoke(app, ["calibrate", str(DEFAULT_DIR)])
    assert res.exit_code == 2
    assert "--force" in flat(res.output)
    assert snapshot(DEFAULT_DIR) == before


def test_refuses_a_folder_that_is_not_a_bundle(tmp_path: Path) -> None:
    res = runner.invoke(app, ["calibrate", str(tmp_path)])
    assert res.exit_code == 2
    assert "not a rater bundle" in flat(res.output)


def test_calibrate_an_audio_bundle_holds_each_renderer_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    from tests.train._calibration_data import DIMS, tiny_split, tiny_tables

    import pianoeval.data
    import pianoeval.data.splits
    import pianoeval.symbolic.rater_inputs
    import pianoeval.train.audio
    from pianoeval.model.audio import AudioRater

    split = tiny_split()
    x, y, x0 = tiny_tables(split)
    shift = {"piano_a": 0.0, "piano_b": 0.1}

    def tables(root: Any, conds: list[str], *, with_scores: bool, **kw: Any) -> Any:
        (c,) = conds
        xs = x.assign(**{"a.x": x["a.x"] + shift[c]})
        return (xs if with_scores else xs[x0.columns].assign(**{"score.available": 0.0})), y

    monkeypatch.setattr(pianoeval.train.audio, "audio_training_tables", tables)
    # the toy columns belong to no feature family: keep them all as performance-only
    monkeypatch.setattr(
        pianoeval.symbolic.rater_inputs, "performance_only_columns", lambda cols: list(cols)
    )
    monkeypatch.setattr(pianoeval.data.splits, "load_split", lambda name: split)
    monkeypatch.setattr(pianoeval.data, "find_data_root", lambda *a, **k: tmp_path)
    kw = {"dims": DIMS, "n_rounds": 20, "extra_trees_rounds": 20, "n_threads": 1}
    bundle = AudioRater(projections={}, **kw).fit(x, y, x_no_score=x0).save(tmp_path / "audio")
    args = ["calibrate", str(bundle), "--condition", "piano_a", "--condition", "piano_b"]
    res = runner.invoke(app, [*args, "--method", "none"])
    assert res.exit_code == 0, res.output
    assert (bundle / "model" / "calibration.json").is_file()
    loaded = AudioRater.load(bundle)
    assert loaded.rater is not None
    assert loaded.rater.metadata["calibration"]["renderers"] == ["piano_a", "piano_b"]
    assert loaded.predict_calibrated(x.iloc[:2]).calibrated.all()
    one = runner.invoke(app, ["calibrate", str(bundle), "--condition", "piano_a"])
    assert one.exit_code == 2
    assert np.isfinite(loaded.predict_calibrated(x.iloc[:2]).high).all()
