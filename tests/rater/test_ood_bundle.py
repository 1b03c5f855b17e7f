"""OOD models in rater bundles: stored and checksummed like calibration.json; ratings widened."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pianoeval.calibration import OOD_FILE, Calibration, OODModel, ood_widen_factor
from pianoeval.errors import SchemaError
from pianoeval.model.symbolic import SymbolicRater
from pianoeval.rater import Rating


def _tiny(seed: int = 0) -> tuple[SymbolicRater, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a.x", "a.y", "score.available"])
    x["score.available"] = 1.0
    y = np.clip(0.5 + 0.1 * x[["a.x", "a.y"]].to_numpy(), 0.2, 0.9)
    rater = SymbolicRater(dims=["d1", "d2"], n_rounds=10, extra_trees_rounds=10, n_threads=1)
    rater.fit(x, y)
    x0 = x[["a.x", "a.y"]]
    rater.no_score = SymbolicRater(dims=["d1", "d2"], n_rounds=10, extra_trees_rounds=10,
                                   n_threads=1).fit(x0, y)  # fmt: skip
    for part, rows in ((rater, x), (rater.no_score, x0)):
        pred, sigma = part.predict_with_spread(rows)
        part.calibration = Calibration.fit(pred, y, sigma, dims=rater.dims, method="none")
    rater.ood = OODModel.fit(x, groups=np.arange(120) // 4, n_components=None)
    rater.no_score.ood = OODModel.fit(x0, groups=np.arange(120) // 4, n_components=None)
    return rater, x


def test_save_load_roundtrip_and_checksums(tmp_path: Path) -> None:
    rater, x = _tiny()
    rater.save(tmp_path / "r")
    record = json.loads((tmp_path / "r" / "rater.json").read_text())
    assert OOD_FILE in record["files"]
    assert (tmp_path / "r" / "no_score" / OOD_FILE).is_file()
    again = SymbolicRater.load(tmp_path / "r")
    assert again.ood is not None
    assert again.no_score is not None
    assert again.no_score.ood is not None
    far = x.iloc[:3] + 30.0
    far["score.available"] = 1.0
    np.testing.assert_array_equal(again.ood_scores(far), rater.ood_scores(far))
    # altered, unlisted: SchemaError naming the file
    path = tmp_path / "r" / OOD_FILE
    path.write_text(path.read_text().replace('"clip":10.0', '"clip":11.0'))
    with pytest.raises(SchemaError, match="checksum"):
        SymbolicRater.load(tmp_path / "r")
    rater.ood = None
    rater.save(tmp_path / "r")
    assert not path.exists()
    path.write_text("{}")
    with pytest.raises(SchemaError, match="not listed"):
        SymbolicRater.load(tmp_path / "r")


def test_write_ood_keeps_models_and_calibration(tmp_path: Path) -> None:
    rater, _ = _tiny()
    ood, ood0 = rater.ood, rater.no_score.ood if rater.no_score else None
    rater.ood = None
    assert rater.no_score is not None
    rater.no_score.ood = None
    rater.save(tmp_path / "r")
    before = json.loads((tmp_path / "r" / "rater.json").read_text())["files"]
    rater.ood, rater.no_score.ood = ood, ood0
    rater.write_ood(tmp_path / "r")
    after = json.loads((tmp_path / "r" / "rater.json").read_text())["files"]
    assert {k: v for k, v in after.items() if k != OOD_FILE} == before
    loaded = SymbolicRater.load(tmp_path / "r")
    assert loaded.ood is not None
    assert loaded.calibration is not None
    assert loaded.no_score is not None
    assert loaded.no_score.ood is not None
    # writing the calibration again keeps the OOD model listed
    loaded.write_calibration(tmp_path / "r")
    assert SymbolicRater.load(tmp_path / "r").ood is not None


def test_flagged_rows_get_widened_intervals() -> None:
    rater, x = _tiny()
    far = x.iloc[:2].assign(**{"a.x": 5.0, "a.y": -5.0})
    rows = pd.concat([x.iloc[:2], far], ignore_index=True)
    rows["score.available"] = [1.0, 0.0, 1.0, 0.0]
    pred = rater.predict_calibrated(rows)
    assert pred.ood_score is not None
    assert pred.ood_flagged is not None
    assert pred.ood_flagged.tolist() == [False, False, True, True]
    ood = rater.ood
    rater.ood = None
    assert rater.no_score is not None
    ood0, rater.no_score.ood = rater.no_score.ood, None
    plain = rater.predict_calibrated(rows)
    rater.ood, rater.no_score.ood = ood, ood0
    assert plain.ood_score is None
    f = ood_widen_factor(pred.ood_score)
    np.testing.assert_allclose(pred.sigma, plain.sigma * f[:, None])
    np.testing.assert_allclose(pred.value, plain.value)
    width, plain_width = pred.high - pred.low, plain.high - plain.low
    assert np.all(width[2:] >= plain_width[2:] - 1e-12)  # wider, up to the label range
    np.testing.assert_allclose(width[:2], plain_width[:2])
    assert pred.calibrated.all()
    # OOD columns missing from the input: not scored, not widened
    only = rater.no_score.predict_calibrated(
        rows[["a.x", "a.y"]].iloc[:2], ood_input=rows[["a.y"]].iloc[:2]
    )
    assert only.ood_score is not None
    assert np.isnan(only.ood_score).all()


def test_rating_schema_reads_version_2_records() -> None:
    from pianoeval.examples import example_midi_path
    from pianoeval.rater import RESULT_SCHEMA_VERSION, evaluate

    r = evaluate(example_midi_path())
    assert r.schema_version == RESULT_SCHEMA_VERSION == 3
    old = r.model_dump(mode="json")
    old["schema_version"] = 2
    del old["ood_score"], old["ood_flagged"]
    back = Rating.model_validate(old)
    assert back.ood_score is None
    assert back.ood_flagged is None
