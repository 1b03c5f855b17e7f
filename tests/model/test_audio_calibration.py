"""An audio rater bundle carries its inner rater's calibration (stored, checksummed, applied)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from pianoeval.calibration import Calibration
from pianoeval.model.audio import AudioRater


def _table(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(n, 2)), columns=["a.x", "a.y"])
    x["score.available"] = 1.0
    for j in range(6):
        x[f"emb.transkun.{j:03d}"] = rng.normal(size=n)
    y = np.clip(0.5 + 0.1 * x[["a.x"]].to_numpy() + 0.03 * rng.normal(size=(n, 1)), 0.2, 0.9)
    return x, y


def test_audio_bundle_calibration_round_trip(tmp_path: Path) -> None:
    x, y = _table()
    rater = AudioRater(
        projections={"transkun": 2}, dims=["d1"], n_rounds=20, extra_trees_rounds=20, n_threads=1
    ).fit(x, y)
    bundle = rater.save(tmp_path / "audio")
    assert rater.rater is not None
    assert np.all(np.isnan(rater.predict_calibrated(x).low))  # no calibration: no interval

    raw, sigma = rater.rater.predict_with_spread(rater.transform(x))
    rater.rater.calibration = Calibration.fit(raw, y, sigma, dims=["d1"], method="affine")
    rater.write_calibration(bundle, info={"split": "toy"})
    loaded = AudioRater.load(bundle)  # the inner checksum was updated: it loads
    assert loaded.rater is not None
    assert loaded.rater.metadata["calibration"] == {"split": "toy"}
    before, after = rater.predict_calibrated(x), loaded.predict_calibrated(x)
    assert after.calibrated.all()
    np.testing.assert_array_equal(after.low, before.low)
    np.testing.assert_array_equal(after.value, before.value)
    one = loaded.predict_calibrated(x.iloc[0].to_dict())
    assert one.value.shape == (1,)
    assert one.low[0] <= one.value[0] <= one.high[0]
    record = json.loads((bundle / "model" / "rater.json").read_text())
    assert "calibration.json" in record["files"]
