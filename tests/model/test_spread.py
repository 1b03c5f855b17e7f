"""Spread of the tree raters: member disagreement, the error model, calibrated bundles."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pianoeval.calibration import Calibration
from pianoeval.errors import SchemaError
from pianoeval.model.spread import SpreadModel
from pianoeval.rater import SymbolicRater


def _rater(x: pd.DataFrame, y: np.ndarray) -> SymbolicRater:
    return SymbolicRater(dims=["d1", "d2"], n_rounds=30, extra_trees_rounds=30, n_threads=1).fit(
        x, y
    )


def _calibrated(x: pd.DataFrame, y: np.ndarray) -> SymbolicRater:
    rater = _rater(x, y)
    pred, sigma = rater.predict_with_spread(x)
    rater.calibration = Calibration.fit(pred, y, sigma, dims=rater.dims, method="affine")
    return rater


def test_spread_has_the_shape_of_the_scores_and_matches_predict(
    toy: tuple[pd.DataFrame, np.ndarray],
) -> None:
    x, y = toy
    rater = _rater(x, y)
    values, sigma = rater.predict_with_spread(x)
    assert values.shape == sigma.shape == (80, 2)
    np.testing.assert_array_equal(values, rater.predict(x))
    assert np.all(sigma >= 0)
    one_v, one_s = rater.predict_with_spread(x.iloc[0].to_dict())
    assert one_v.shape == one_s.shape == (2,)
    np.testing.assert_allclose(one_s, sigma[0])


def test_spread_is_the_weighted_sd_of_the_members(toy: tuple[pd.DataFrame, np.ndarray]) -> None:
    x, y = toy
    rater = _rater(x, y)
    members = rater.predict_members(x)
    w = np.array([rater.weights[m] for m in members]) / sum(rater.weights.values())
    stack = np.stack(list(members.values()))
    mean = np.tensordot(w, stack, 1)
    expected = np.sqrt(np.tensordot(w, (stack - mean) ** 2, 1))
    np.testing.assert_allclose(rater.predict_with_spread(x)[1], expected, atol=1e-12)


def test_spread_grows_where_members_disagree(toy: tuple[pd.DataFrame, np.ndarray]) -> None:
    """Far outside the training range the linear member keeps going, the trees stay flat."""
    x, y = toy
    rater = _rater(x, y)
    inside = x.iloc[:10]
    outside = inside.assign(**{"a.w": 40.0, "b.y": -40.0})
    s_in = rater.predict_with_spread(inside)[1]
    s_out = rater.predict_with_spread(outside)[1]
    assert np.all(s_out.mean(axis=0) > 3 * s_in.mean(axis=0))


def test_single_model_rater_has_zero_spread(toy: tuple[pd.DataFrame, np.ndarray]) -> None:
    x, y = toy
    rater = SymbolicRater(
        dims=["d1", "d2"], n_rounds=20, extra_trees_rounds=0, ridge_alpha=None, n_threads=1
    ).fit(x, y)
    assert np.all(rater.predict_with_spread(x)[1] == 0)


def test_no_score_rows_get_the_fallbacks_spread(toy: tuple[pd.DataFrame, np.ndarray]) -> None:
    x, y = toy
    xs = x.assign(**{"score.available": np.r_[np.ones(40), np.zeros(40)]})
    rater = _rater(xs, y)
    rater.no_score = _rater(x[["a.w", "a.x"]], y)
    values, sigma = rater.predict_with_spread(xs)
    fb_values, fb_sigma = rater.no_score.predict_with_spread(x[["a.w", "a.x"]].iloc[40:])
    np.testing.assert_allclose(values[40:], fb_values)
    np.testing.assert_allclose(sigma[40:], fb_sigma)


def test_predict_calibrated_without_calibration_has_no_interval(
    toy: tuple[pd.DataFrame, np.ndarray],
) -> None:
    x, y = toy
    rater = _rater(x, y)
    pred = rater.predict_calibrated(x)
    assert not pred.calibrated.any()
    assert np.isnan(pred.low).all()
    np.testing.assert_array_equal(pred.value, rater.predict(x))


def test_intervals_contain_the_calibrated_value(toy: tuple[pd.DataFrame, np.ndarray]) -> None:
    x, y = toy
    rater = _calibrated(x, y)
    pred = rater.predict_calibrated(x, level=0.8)
    assert pred.calibrated.all()
    assert np.all(pred.low <= pred.value)
    assert np.all(pred.value <= pred.high)
    assert np.all(pred.low < pred.high)
    wide = rater.predict_calibrated(x, level=0.95)
    assert np.all(wide.high - wide.low >= pred.high - pred.low - 1e-12)


def test_calibrated_bundle_round_trip(tmp_path: Path, toy: tuple[pd.DataFrame, np.ndarray]) -> None:
    x, y = toy
    rater = _calibrated(x, y)
    pred, member_sd = rater.predict_with_spread(x)
    rater.spread_model = SpreadModel(rater.dims, n_rounds=10).fit(
        x.to_numpy(), pred, member_sd, np.abs(y - pred)
    )
    before = rater.predict_calibrated(x)
    rater.save(tmp_path / "r")
    record = json.loads((tmp_path / "r" / "rater.json").read_text())
    assert "calibration.json" in record["files"]
    assert "spread/spread.json" in record["files"]
    loaded = SymbolicRater.load(tmp_path / "r")
    assert loaded.calibration is not None
    assert loaded.spread_model is not None
    after = loaded.predict_calibrated(x)
    for field in ("raw", "value", "sigma", "low", "high"):
        np.testing.assert_array_equal(getattr(after, field), getattr(before, field))
    # members=True still gives the raw member spread
    np.testing.assert_allclose(loaded.predict_with_spread(x, members=True)[1], member_sd)


def test_write_calibration_keeps_the_model_files(
    tmp_path: Path, toy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    x, y = toy
    rater = _rater(x, y)
    rater.save(tmp_path / "r")
    models = {p.name: p.read_bytes() for p in (tmp_path / "r" / "models").iterdir()}
    cal = _calibrated(x, y).calibration
    rater.calibration = cal
    rater.write_calibration(tmp_path / "r", info={"split": "toy"})
    assert {p.name: p.read_bytes() for p in (tmp_path / "r" / "models").iterdir()} == models
    loaded = SymbolicRater.load(tmp_path / "r")
    assert loaded.metadata["calibration"] == {"split": "toy"}
    np.testing.assert_array_equal(
        loaded.predict_calibrated(x).high, rater.predict_calibrated(x).high
    )
    # removing it again leaves an uncalibrated bundle
    rater.calibration = None
    rater.write_calibration(tmp_path / "r")
    assert not (tmp_path / "r" / "calibration.json").exists()
    assert SymbolicRater.load(tmp_path / "r").calibration is None


def test_bundle_without_calibration_loads(
    tmp_path: Path, toy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    x, y = toy
    _rater(x, y).save(tmp_path / "r")
    loaded = SymbolicRater.load(tmp_path / "r")
    assert loaded.calibration is None
    assert loaded.spread_model is None


@pytest.mark.parametrize("damage", ["garbage", "tamper", "unlisted", "dims"])
def test_bad_calibration_file_is_a_schema_error_naming_it(
    tmp_path: Path, toy: tuple[pd.DataFrame, np.ndarray], damage: str
) -> None:
    x, y = toy
    rater = _calibrated(x, y)
    bundle = tmp_path / "r"
    rater.save(bundle)
    meta = bundle / "rater.json"
    path = bundle / "calibration.json"
    if damage == "garbage":
        path.write_text("{not json")
        record = json.loads(meta.read_text())
        record["files"]["calibration.json"] = hashlib.sha256(path.read_bytes()).hexdigest()
        meta.write_text(json.dumps(record))
    elif damage == "tamper":
        path.write_text(path.read_text().replace('"n_rows"', '"n_rows" ', 1))
    elif damage == "unlisted":
        record = json.loads(meta.read_text())
        del record["files"]["calibration.json"]
        meta.write_text(json.dumps(record))
    else:
        record = json.loads(path.read_text())
        record["dims"] = ["d2", "d1"]
        record["per_dim"] = {"d2": record["per_dim"]["d1"], "d1": record["per_dim"]["d2"]}
        path.write_text(json.dumps(record))
        rj = json.loads(meta.read_text())
        rj["files"]["calibration.json"] = hashlib.sha256(path.read_bytes()).hexdigest()
        meta.write_text(json.dumps(rj))
    with pytest.raises(SchemaError, match=r"calibration\.json"):
        SymbolicRater.load(bundle)


def test_pooled_difficulty_follows_an_error_shared_by_all_dimensions() -> None:
    """Hard items are hard on every dimension: the pooled part learns it from less noise."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(4)
    n, d = 1200, 6
    x = rng.normal(size=(n, 5)).astype(np.float32)
    hard = 0.02 + 0.08 * (x[:, 0] > 0.5)  # one feature decides how hard an item is
    pred, member_sd = rng.uniform(0.3, 0.7, (n, d)), rng.uniform(0, 0.01, (n, d))
    err = np.abs(rng.normal(size=(n, d))) * hard[:, None]
    tr, te = slice(0, 800), slice(800, n)
    dims = [f"d{j}" for j in range(d)]
    kw = {"n_rounds": 60, "n_threads": 1}
    per = SpreadModel(dims, pooled=False, **kw).fit(x[tr], pred[tr], member_sd[tr], err[tr])
    mixed = SpreadModel(dims, **kw).fit(x[tr], pred[tr], member_sd[tr], err[tr])
    assert mixed.pooled_model is not None
    assert per.pooled_model is None

    def rho(m: SpreadModel) -> float:
        s = m.predict(x[te], pred[te], member_sd[te])
        return float(np.mean([spearmanr(s[:, j], err[te][:, j])[0] for j in range(d)]))

    assert rho(mixed) > rho(per)
    files = mixed.to_files()
    assert "spread/_pooled.txt.xz" in files
    back = SpreadModel.from_files(files.__getitem__, "test")
    np.testing.assert_allclose(
        back.predict(x[te], pred[te], member_sd[te]), mixed.predict(x[te], pred[te], member_sd[te])
    )
    # a bundle stored before the pooled part reads as per-dimension only
    old = per.to_files()
    assert json.loads(old["spread/spread.json"]).get("pooled") is None
    assert SpreadModel.from_files(old.__getitem__, "test").pooled_model is None
