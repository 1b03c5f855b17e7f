"""The symbolic rater model: fit, predict, members, save/load round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pianoeval.errors import ParameterError, SchemaError
from pianoeval.rater import SymbolicRater


def test_fit_predict_and_round_trip(tmp_path: Path, toy: tuple[pd.DataFrame, np.ndarray]) -> None:
    x, y = toy
    rater = SymbolicRater(dims=["d1", "d2"], n_rounds=30, seeds=(0, 1), n_threads=1).fit(x, y)
    pred = rater.predict(x)
    assert pred.shape == (80, 2)
    assert np.corrcoef(pred[:, 0], y[:, 0])[0, 1] > 0.8
    one = rater.predict(x.iloc[0].to_dict())
    assert one.shape == (2,)
    np.testing.assert_allclose(one, pred[0])

    rater.metadata = {"note": "toy"}
    path = rater.save(tmp_path / "r")
    loaded = SymbolicRater.load(path)
    np.testing.assert_array_equal(loaded.predict(x), pred)
    assert loaded.dims == ["d1", "d2"]
    assert loaded.seeds == [0, 1]
    assert loaded.metadata["note"] == "toy"
    # extra columns are ignored, column order does not matter
    shuffled = x[x.columns[::-1]].assign(extra=1.0)
    np.testing.assert_array_equal(loaded.predict(shuffled), pred)
    # saving the same models gives the same bytes
    rater.save(tmp_path / "r2")
    for f in (tmp_path / "r" / "models").iterdir():
        assert f.read_bytes() == (tmp_path / "r2" / "models" / f.name).read_bytes()


def test_load_rejects_tampered_or_missing_files(
    tmp_path: Path, toy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    x, y = toy
    path = SymbolicRater(dims=["d1", "d2"], n_rounds=5, n_threads=1).fit(x, y).save(tmp_path / "r")
    model = next((path / "models").iterdir())
    model.write_bytes(model.read_bytes() + b"x")
    with pytest.raises(SchemaError, match="checksum"):
        SymbolicRater.load(path)
    model.unlink()
    with pytest.raises(SchemaError, match="missing"):
        SymbolicRater.load(path)
    with pytest.raises(SchemaError, match=r"rater\.json"):
        SymbolicRater.load(tmp_path / "nothing")


def test_bad_inputs(toy: tuple[pd.DataFrame, np.ndarray]) -> None:
    x, y = toy
    with pytest.raises(ParameterError, match="not fitted"):
        SymbolicRater(dims=["d1", "d2"]).predict(x)
    with pytest.raises(ParameterError, match="shape"):
        SymbolicRater(dims=["d1", "d2", "d3"], n_rounds=5, n_threads=1).fit(x, y)
    rater = SymbolicRater(dims=["d1", "d2"], n_rounds=5, n_threads=1).fit(x, y)
    with pytest.raises(ParameterError, match="missing"):
        rater.predict(x.drop(columns=["a.x"]))
    with pytest.raises(ParameterError, match="NaN"):
        rater.predict(x.assign(**{"a.x": np.nan}))


def test_nan_labels_are_left_out(toy: tuple[pd.DataFrame, np.ndarray]) -> None:
    x, y = toy
    y = y.copy()
    y[:10, 1] = np.nan
    pred = SymbolicRater(dims=["d1", "d2"], n_rounds=10, n_threads=1).fit(x, y).predict(x)
    assert np.all(np.isfinite(pred))


def test_quantile_normal_equals_scikit_learn(rng: np.random.Generator) -> None:
    from sklearn.preprocessing import QuantileTransformer

    from pianoeval.model import quantile_normal

    x = np.column_stack(
        [
            rng.normal(size=300),
            rng.integers(0, 4, 300).astype(float),  # repeated quantiles
            np.zeros(300),  # constant
            rng.exponential(size=300),
        ]
    )
    qt = QuantileTransformer(n_quantiles=200, output_distribution="normal").fit(x)
    new = np.vstack([x, rng.normal(scale=5.0, size=(50, 4))])  # beyond the training range
    np.testing.assert_array_equal(
        quantile_normal(new, qt.quantiles_, qt.references_), qt.transform(new)
    )


def test_members_blend_by_weight(tmp_path: Path, toy: tuple[pd.DataFrame, np.ndarray]) -> None:
    x, y = toy
    weights = {"gbdt": 2.0, "extra_trees": 1.0, "ridge": 1.0}
    rater = SymbolicRater(
        dims=["d1", "d2"], n_rounds=30, extra_trees_rounds=30, weights=weights, n_threads=1
    ).fit(x, y)
    assert rater.members == ["gbdt", "extra_trees", "ridge"]
    parts = rater.predict_members(x)
    assert set(parts) == set(rater.members)
    blend = (2 * parts["gbdt"] + parts["extra_trees"] + parts["ridge"]) / 4
    np.testing.assert_allclose(rater.predict(x), np.clip(blend, 1 / 7, 1), atol=1e-12)
    # the linear member sees the linear signal of d1 = 0.5 + 0.1 * a.w
    assert np.corrcoef(parts["ridge"][:, 0], y[:, 0])[0, 1] > 0.9
    # members differ: the blend is not one of them
    assert not np.allclose(parts["gbdt"], parts["extra_trees"])

    loaded = SymbolicRater.load(rater.save(tmp_path / "r"))
    assert loaded.weights == weights
    np.testing.assert_array_equal(loaded.predict(x), rater.predict(x))
    for name, part in loaded.predict_members(x).items():
        np.testing.assert_array_equal(part, parts[name])
    record = json.loads((tmp_path / "r" / "rater.json").read_text())
    assert {"models/d1.s0.txt.xz", "models/d1.et.s0.txt.xz", "linear.json.xz"} <= set(
        record["files"]
    )


def test_members_can_be_left_out_and_version_1_raters_load(
    tmp_path: Path, toy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    x, y = toy
    rater = SymbolicRater(
        dims=["d1", "d2"], n_rounds=20, extra_trees_rounds=0, ridge_alpha=None, n_threads=1
    ).fit(x, y)
    assert rater.members == ["gbdt"]
    assert rater.extra_models == {}
    assert rater.linear is None
    path = rater.save(tmp_path / "r")
    assert sorted(p.name for p in path.iterdir()) == ["models", "rater.json"]
    # a schema-1 rater.json (written before the members existed) loads as gbdt only
    record = json.loads((path / "rater.json").read_text())
    for key in ("extra_trees_rounds", "extra_trees_params", "ridge_alpha", "weights"):
        del record[key]
    record["schema_version"] = 1
    (path / "rater.json").write_text(json.dumps(record))
    old = SymbolicRater.load(path)
    assert old.members == ["gbdt"]
    np.testing.assert_array_equal(old.predict(x), rater.predict(x))


def test_member_settings_are_checked() -> None:
    with pytest.raises(ParameterError, match="weights"):
        SymbolicRater(weights={"gbdt": 1.0, "forest": 1.0})
    with pytest.raises(ParameterError, match="weights"):
        SymbolicRater(weights={"gbdt": -1.0})
    with pytest.raises(ParameterError, match="all have weight 0"):
        SymbolicRater(weights={"gbdt": 0.0, "extra_trees": 0.0, "ridge": 0.0})
    with pytest.raises(ParameterError, match="ridge_alpha"):
        SymbolicRater(ridge_alpha=0.0)
    with pytest.raises(ParameterError, match="extra_trees_rounds"):
        SymbolicRater(extra_trees_rounds=-1)
