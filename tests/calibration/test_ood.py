"""OODModel on synthetic rows: in-distribution rarely flagged, shifted rows flagged, storage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pianoeval.calibration import (
    OOD_FILE,
    OOD_MAX_WIDEN,
    OOD_MIN_WIDEN,
    OODModel,
    load_ood,
    ood_widen_factor,
)
from pianoeval.errors import ParameterError, SchemaError


def _rows(rng: np.random.Generator, n: int, *, shift: float = 0.0) -> pd.DataFrame:
    """Correlated columns of different scales, one heavy-tailed, one mostly constant."""
    latent = rng.normal(size=(n, 3))
    mix = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.8], [0.3, 0.0, 1.0], [1.0, 1.0, 1.0]])
    x = latent @ mix.T + 0.3 * rng.normal(size=(n, 4))
    x[:, 1] *= 100.0
    heavy = rng.standard_t(3, size=n)
    sparse = (rng.random(n) < 0.1).astype(float)
    arr = np.column_stack([x, heavy, sparse])
    arr[:, 0] += shift
    return pd.DataFrame(arr, columns=["a.x", "a.y", "b.x", "b.y", "c.t", "d.flag"])


@pytest.fixture(scope="module")
def fitted() -> OODModel:
    x = _rows(np.random.default_rng(20261203), 800)
    return OODModel.fit(x, groups=np.arange(800) // 8, n_components=3)


def test_in_distribution_rows_are_rarely_flagged(
    fitted: OODModel,
) -> None:
    model = fitted
    new = _rows(np.random.default_rng(1), 2000)
    frac = model.flagged(new).mean()
    assert frac <= 0.03  # the threshold is the 99 % quantile of out-of-fold distances
    assert model.threshold > 0
    assert model.n_rows == 800
    assert model.n_groups == 100
    assert set(model.oof_quantiles) == {"0.5", "0.9", "0.95", "0.99"}


def test_shifted_and_broken_rows_are_flagged(fitted: OODModel) -> None:
    model = fitted
    rng = np.random.default_rng(2)
    assert model.flagged(_rows(rng, 300, shift=8.0)).mean() > 0.95
    # each column within its range, but a strong correlation broken
    u = rng.normal(size=(600, 1))
    pair = pd.DataFrame(np.hstack([u, u + 0.1 * rng.normal(size=(600, 1))]), columns=["u", "v"])
    corr = OODModel.fit(pair, groups=np.arange(600) // 6, n_components=None)
    broken = pair.iloc[:200].assign(v=-pair["v"].iloc[:200])
    assert corr.flagged(broken[np.abs(broken["u"]) > 0.5]).mean() > 0.9
    assert corr.flagged(pair.iloc[:200]).mean() < 0.05


def test_one_wild_feature_is_clipped(fitted: OODModel) -> None:
    model = fitted
    x = _rows(np.random.default_rng(3), 1)
    base = float(model.score(x)[0])
    x.loc[0, "c.t"] = 1e12
    wild = float(model.score(x)[0])
    x.loc[0, "c.t"] = 1e6
    assert wild == pytest.approx(float(model.score(x)[0]))  # clipped at 10 robust SDs
    assert base < wild < np.inf


def test_missing_values_take_the_training_median(
    fitted: OODModel,
) -> None:
    model = fitted
    row = dict(zip(model.columns, model.center, strict=True))
    at_median = float(model.score(row)[0])
    row["a.x"] = float("nan")
    row["a.y"] = float("inf")
    assert float(model.score(row)[0]) == pytest.approx(at_median)
    with pytest.raises(ParameterError, match="columns the input lacks"):
        model.score({"a.x": 1.0})


def test_all_eigenpairs_is_the_plain_mahalanobis_distance() -> None:
    from sklearn.covariance import LedoitWolf

    rng = np.random.default_rng(4)
    x = _rows(rng, 300)
    model = OODModel.fit(x, groups=np.arange(300) // 3, n_components=None)
    z = model._standardise(x.to_numpy(dtype=np.float64))
    lw = LedoitWolf().fit(z)
    c = z[:5] - lw.location_
    d2 = np.einsum("ij,jk,ik->i", c, np.linalg.inv(lw.covariance_), c)
    np.testing.assert_allclose(model.distance(x.iloc[:5]), np.sqrt(d2 / x.shape[1]), rtol=1e-3)


def test_roundtrip_gives_identical_scores(fitted: OODModel, tmp_path: Path) -> None:
    model = fitted
    path = model.save(tmp_path)
    assert path == tmp_path / OOD_FILE
    text = path.read_text()
    assert "\n" not in text.strip()  # compact
    again = load_ood(tmp_path)
    x = _rows(np.random.default_rng(5), 200, shift=1.0)
    np.testing.assert_array_equal(again.score(x), model.score(x))
    assert np.array_equal(again.flagged(x), model.flagged(x))
    assert OODModel.from_dict(json.loads(text)).columns == model.columns
    assert again.to_dict() == json.loads(text)  # rounded once: stable


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"kind": "pianoeval.calibration", "schema_version": 1}', "not a pianoeval OOD model"),
        ('{"kind": "pianoeval.ood", "schema_version": 99}', "unsupported"),
        ('{"kind": "pianoeval.ood", "schema_version": 1, "columns": ["a"]}', "invalid OOD"),
    ],
)
def test_corrupt_file_is_a_schema_error_naming_it(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / OOD_FILE
    path.write_text(content)
    with pytest.raises(SchemaError, match=match) as err:
        load_ood(path)
    assert str(path) in str(err.value)


def test_bad_values_in_a_file_are_refused(fitted: OODModel, tmp_path: Path) -> None:
    record = fitted.to_dict()
    record["eigenvalues"][0] = -1.0
    (tmp_path / OOD_FILE).write_text(json.dumps(record))
    with pytest.raises(SchemaError, match="non-positive"):
        load_ood(tmp_path)
    with pytest.raises(SchemaError, match="no OOD model file"):
        load_ood(tmp_path / "missing.json")


def test_fit_refuses_too_little() -> None:
    x = _rows(np.random.default_rng(6), 10)
    with pytest.raises(ParameterError, match="at least 20"):
        OODModel.fit(x)
    x = _rows(np.random.default_rng(6), 40)
    with pytest.raises(ParameterError, match="2 groups"):
        OODModel.fit(x, groups=np.zeros(40))
    with pytest.raises(ParameterError, match="quantile"):
        OODModel.fit(x, quantile=1.0)


def test_widen_factor() -> None:
    f = ood_widen_factor([0.2, 1.0, 1.01, 2.5, 50.0, float("nan")])
    assert f.tolist()[:5] == [1.0, 1.0, OOD_MIN_WIDEN, 2.5, OOD_MAX_WIDEN]
    assert f[5] == 1.0
