"""The first rater: fit, save/load round trip, the shipped default, CV on real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pianoeval.data.percepiano_table import percepiano_table
from pianoeval.errors import ParameterError, SchemaError
from pianoeval.examples import example_midi_path, example_score_path
from pianoeval.rater import DEFAULT_DIR, SymbolicRater, default_rater
from pianoeval.symbolic.features import feature_columns
from pianoeval.symbolic.rater_inputs import rater_features, rater_inputs, rater_table, score_deltas
from pianoeval.train import cross_validate


@pytest.fixture
def toy() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    x = pd.DataFrame(rng.normal(size=(80, 4)), columns=["a.w", "a.x", "b.y", "b.z"])
    y = np.column_stack([0.5 + 0.1 * x["a.w"], 0.5 - 0.05 * x["b.y"] + 0.02 * rng.normal(size=80)])
    return x, np.clip(y, 0.2, 0.95)


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


def test_cross_validate_predicts_other_tables_on_the_rows_they_have(
    toy: tuple[pd.DataFrame, np.ndarray],
) -> None:
    from pianoeval.data.splits import Split

    x, y_arr = toy
    x.index = pd.Index([f"s{i}" for i in range(len(x))])
    y = pd.DataFrame(y_arr, index=x.index, columns=["d1", "d2"])
    ids = list(x.index)
    split = Split("toy", "excerpt", test=ids[60:], folds=[ids[:30], ids[30:60]])
    other = x.loc[ids[50:70]] + 0.5  # some validation rows of fold 1, some test rows
    params = {"objective": "regression", "min_data_in_leaf": 5, "verbose": -1}
    cv = cross_validate(
        x, y, split, also_predict={"shifted": other}, n_rounds=20, params=params, n_threads=1
    )
    oof, test = cv.extra["shifted"]
    assert sorted(oof.index) == sorted(ids[50:60])
    assert sorted(test.index) == sorted(ids[60:70])
    assert len(cv.test) == 20
    assert not np.allclose(test.to_numpy(), cv.test.loc[test.index].to_numpy())


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


@pytest.mark.data
def test_cross_validation_on_a_small_subset(data_root: Path, tmp_path: Path) -> None:
    from pianoeval.data.percepiano import load_released_labels, parse_name
    from pianoeval.data.splits import Split
    from pianoeval.metrics import mean_r2

    excerpts = ["Schubert_D935_no.3_4bars_13", "Schubert_D935_no.3_4bars_17"]
    means, _ = load_released_labels(data_root)
    ids = [i for e in excerpts for i in sorted(i for i in means if parse_name(i).excerpt == e)[:4]]
    x, y = percepiano_table(data_root, ids=ids, jobs=2, cache=tmp_path, progress=False)
    assert list(x.index) == sorted(ids)
    assert y.shape == (8, 19)
    assert x["score.available"].eq(1.0).all()
    assert x["score.match_frac_score"].gt(0.5).all()
    folds = [[i for i in ids if parse_name(i).excerpt == e] for e in excerpts]
    split = Split("toy", "excerpt", test=[], folds=folds)
    params = {"objective": "regression", "min_data_in_leaf": 2, "verbose": -1}
    cv = cross_validate(x, y, split, n_rounds=10, params=params, n_threads=1)
    assert sorted(cv.oof.index) == sorted(ids)
    assert np.isfinite(mean_r2(y.loc[cv.oof.index].to_numpy(), cv.oof.to_numpy()))


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
