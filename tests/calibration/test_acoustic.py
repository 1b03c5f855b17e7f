"""AcousticCheck: fit, threshold, storage, and its place in the audio rater's bundle (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pianoeval.calibration.acoustic import ACOUSTIC_CHECK_FILE, AcousticCheck
from pianoeval.errors import ParameterError, SchemaError


def _data(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Pianos near the origin; other inputs shifted along two of four descriptors."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    is_piano = (rng.random(n) < 0.6).astype(int)
    x[is_piano == 0, 0] += 3.0
    x[is_piano == 0, 1] -= 2.0
    return pd.DataFrame(x, columns=["a", "b", "c", "d"]), is_piano, np.arange(n) // 6


def test_threshold_flags_about_one_percent_of_new_pianos() -> None:
    x, y, g = _data()
    check = AcousticCheck.fit(x, y, groups=g, quantile=0.99)
    new, ny, _ = _data(4000, seed=1)
    flagged = check.flagged(new)
    assert flagged[ny == 1].mean() < 0.04  # about 1 %, by construction
    assert flagged[ny == 0].mean() > 0.9  # the shift is large: nearly all found
    s = check.score(new)
    head = check.heads[0]
    np.testing.assert_allclose(s, head.probability(new) / head.threshold)
    info = check.heads[0].info
    assert info["n_piano"] == int(y.sum())
    assert 0 <= info["oof_flagged_piano"] < 0.03


def test_round_trip_scores_exactly(tmp_path: Path) -> None:
    x, y, g = _data()
    check = AcousticCheck.fit(x, y, groups=g)
    back = AcousticCheck.load(check.save(tmp_path / ACOUSTIC_CHECK_FILE))
    np.testing.assert_array_equal(back.score(x), check.score(x))
    one = x.iloc[3].to_dict()
    assert back.score(one)[0] == check.score(x)[3]


def test_missing_descriptors_and_bad_fits_are_refused() -> None:
    x, y, g = _data()
    check = AcousticCheck.fit(x, y, groups=g)
    with pytest.raises(ParameterError, match="missing descriptors"):
        check.score({"a": 0.0, "b": 0.0})
    with pytest.raises(ParameterError, match="missing descriptors"):
        check.score(x.drop(columns=["c"]))
    with pytest.raises(ParameterError, match="both pianos"):
        AcousticCheck.fit(x, np.ones(len(x), dtype=int), groups=g)
    with pytest.raises(ParameterError, match="differ"):
        AcousticCheck.fit(x, y[:10], groups=g)
    with pytest.raises(ParameterError, match="quantile"):
        AcousticCheck.fit(x, y, groups=g, quantile=1.0)


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    x, y, g = _data()
    good = AcousticCheck.fit(x, y, groups=g).to_dict()
    p = tmp_path / "check.json"
    p.write_text("{not json")
    with pytest.raises(SchemaError, match=r"check\.json: not a JSON"):
        AcousticCheck.load(p)
    for change, match in (
        ({"kind": "pianoeval.ood"}, "not an acoustic check"),
        ({"schema_version": 2}, "schema 2"),
        ({"heads": []}, "no heads"),
        ({"heads": [{**good["heads"][0], "params": {"coef": [1.0]}}]}, "malformed"),
        ({"heads": [{**good["heads"][0], "model": "forest"}]}, "malformed"),
        ({"heads": [{**good["heads"][0], "threshold": 0.0}]}, "malformed"),
    ):
        p.write_text(json.dumps({**good, **change}))
        with pytest.raises(SchemaError, match=match) as e:
            AcousticCheck.load(p)
        assert str(p) in str(e.value)


def test_heads_each_read_their_columns_and_the_largest_score_counts() -> None:
    from pianoeval.calibration.acoustic import AcousticHead

    x, y, g = _data()
    rng = np.random.default_rng(5)
    other = pd.DataFrame({"e": rng.normal(size=len(x)) + 4.0 * (y == 0)})
    h1 = AcousticHead.fit(x[["a", "b"]], y, groups=g, name="instrument")
    h2 = AcousticHead.fit(other, y, groups=g, name="duet")
    check = AcousticCheck((h1, h2))
    assert check.columns == ("a", "b", "e")
    row = {"a": 0.0, "b": 0.0, "e": 6.0}  # only the second head's descriptor is odd
    s = check.scores(row)
    assert s["instrument"][0] < 1 < s["duet"][0]
    assert check.score(row)[0] == s["duet"][0]
    assert check.reason(row) == "duet"
    assert check.reason({"a": 0.0, "b": 0.0, "e": 0.0}) is None
    assert set(check.info) == {"instrument", "duet"}
    back = AcousticCheck.from_dict(check.to_dict())
    assert back.score(row)[0] == check.score(row)[0]


def test_mlp_head_matches_scikit_learn_and_round_trips(tmp_path: Path) -> None:
    from sklearn.preprocessing import QuantileTransformer

    from pianoeval.calibration.acoustic import AcousticHead

    x, y, g = _data(500)
    # a curved boundary: a linear model cannot follow it, the networks can
    x["c"] = x["c"] + 3.0 * (y == 0) * np.sign(x["d"])
    head = AcousticHead.fit(x, y, groups=g, model="mlp", seeds=(0, 1), n_quantiles=50)
    arr = x.to_numpy()
    qt = QuantileTransformer(n_quantiles=50, output_distribution="normal").fit(arr)
    qt.quantiles_ = head.params["quantiles"]  # the stored (rounded) quantiles
    np.testing.assert_allclose(head._normal_scores(arr), qt.transform(arr), atol=1e-9)
    new, ny, _ = _data(2000, seed=2)
    new["c"] = new["c"] + 3.0 * (ny == 0) * np.sign(new["d"])
    check = AcousticCheck((head,))
    flagged = check.flagged(new)
    assert flagged[ny == 1].mean() < 0.05
    assert flagged[ny == 0].mean() > 0.8
    back = AcousticCheck.load(check.save(tmp_path / "check.json"))
    np.testing.assert_array_equal(back.score(new), check.score(new))
    assert back.heads[0].info["seeds"] == [0, 1]
    with pytest.raises(ParameterError, match="model must be"):
        AcousticHead.fit(x, y, groups=g, model="forest")
