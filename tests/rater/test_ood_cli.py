"""``pianoeval calibrate --ood/--no-ood`` stores (or not) the OOD models beside the calibration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from pianoeval.calibration import OOD_FILE
from pianoeval.cli import app
from pianoeval.rater import SymbolicRater

runner = CliRunner()


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, pd.DataFrame]:
    """A tiny rater bundle, and PercePiano's table and split replaced by tiny ones."""
    from tests.train._calibration_data import DIMS, tiny_split, tiny_tables

    import pianoeval.data
    import pianoeval.data.percepiano_table
    import pianoeval.data.splits

    split = tiny_split()
    x, y, _ = tiny_tables(split)

    def table(root: Any, **kwargs: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
        return x, y

    monkeypatch.setattr(pianoeval.data.percepiano_table, "percepiano_table", table)
    monkeypatch.setattr(pianoeval.data.splits, "load_split", lambda name: split)
    monkeypatch.setattr(pianoeval.data, "find_data_root", lambda *a, **k: tmp_path)
    rater = SymbolicRater(dims=DIMS, n_rounds=20, extra_trees_rounds=20, n_threads=1)
    return rater.fit(x, y).save(tmp_path / "rater"), x


def test_calibrate_stores_the_ood_model(tiny: tuple[Path, pd.DataFrame]) -> None:
    bundle, x = tiny
    res = runner.invoke(app, ["calibrate", str(bundle), "--method", "none", "--spread", "members"])
    assert res.exit_code == 0, res.output
    assert (bundle / OOD_FILE).is_file()
    assert "stored ood.json" in res.output
    loaded = SymbolicRater.load(bundle)
    assert loaded.ood is not None
    assert loaded.calibration is not None
    assert loaded.ood.columns == loaded.feature_columns
    pred = loaded.predict_calibrated(x.iloc[:3])
    assert pred.ood_score is not None
    assert pred.ood_score.shape == (3,)


def test_no_ood_leaves_it_out(tiny: tuple[Path, pd.DataFrame]) -> None:
    bundle, _ = tiny
    res = runner.invoke(
        app, ["calibrate", str(bundle), "--method", "none", "--spread", "members", "--no-ood"]
    )
    assert res.exit_code == 0, res.output
    assert not (bundle / OOD_FILE).exists()
    assert SymbolicRater.load(bundle).ood is None
