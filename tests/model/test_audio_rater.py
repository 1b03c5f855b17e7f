"""AudioRater: projections of pooled vectors, fit, save/load, no-score routing, bad bundles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pianoeval.errors import ParameterError, SchemaError
from pianoeval.model.audio import AudioRater, Projection, is_audio_bundle


def _table(n: int = 80, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(n, 3))
    emb = rng.normal(size=(n, 12)) * 0.01 + 5.0  # nearly identical vectors, as transkun's are
    emb[:, 0] += 0.3 * feats[:, 0]  # the label-bearing direction lives in the embedding
    cols = ["a.x", "a.y", "score.available"]
    x = pd.DataFrame(feats, columns=cols)
    x["score.available"] = 1.0
    for j in range(12):
        x[f"emb.transkun.{j:03d}"] = emb[:, j]
    y = np.clip(0.5 + 0.1 * emb[:, [0]] - 0.5, 0.2, 0.9)
    return x, np.column_stack([y[:, 0], np.clip(0.5 + 0.05 * feats[:, 1], 0.2, 0.9)])


def test_projection_standardises_and_is_orthonormal() -> None:
    x, _ = _table()
    p = Projection.fit(x, "transkun", 4)
    assert p.output_columns == [f"pca.transkun.{i:02d}" for i in range(4)]
    np.testing.assert_allclose(p.components @ p.components.T, np.eye(4), atol=1e-10)
    z = p.transform(x)
    np.testing.assert_allclose(z.mean().to_numpy(), 0.0, atol=1e-10)
    # variances come out in decreasing order
    assert np.all(np.diff(z.var().to_numpy()) <= 1e-9)
    again = Projection.from_dict(json.loads(json.dumps(p.to_dict())))
    np.testing.assert_allclose(again.transform(x).to_numpy(), z.to_numpy())
    with pytest.raises(ParameterError, match=r"no emb\.mert"):
        Projection.fit(x, "mert", 2)
    with pytest.raises(ParameterError, match="embedding columns missing"):
        p.transform(x.drop(columns=["emb.transkun.003"]))


def test_fit_learns_from_the_embedding_and_roundtrips(tmp_path: Path) -> None:
    x, y = _table(200)
    r = AudioRater(projections={"transkun": 3}, dims=["d1", "d2"], n_rounds=60,
                   extra_trees_rounds=60)  # fmt: skip
    x0 = x.drop(columns=["score.available"])
    r.fit(x, y, x_no_score=x0)
    pred = r.predict(x)
    assert pred.shape == (200, 2)
    # d1 is carried by the embedding only: the rater must have found it
    assert np.corrcoef(pred[:, 0], y[:, 0])[0, 1] > 0.8
    out = r.save(tmp_path / "bundle")
    assert is_audio_bundle(out)
    back = AudioRater.load(out)
    np.testing.assert_array_equal(back.predict(x), pred)
    assert back.encoders == ["transkun"]
    assert back.model_id == "pianoeval-audio-v1"
    one = back.predict(x.iloc[0].to_dict())
    np.testing.assert_allclose(one, pred[0])
    # rows without a score go to the fallback
    no_score = x.assign(**{"score.available": 0.0})
    assert r.rater is not None
    fallback = r.rater.no_score
    assert fallback is not None
    np.testing.assert_array_equal(back.predict(no_score), fallback.predict(r.transform(no_score)))


def test_bad_bundles_and_parameters(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="k >= 1"):
        AudioRater(projections={"transkun": 0})
    with pytest.raises(ParameterError, match="not fitted"):
        AudioRater().predict(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(SchemaError, match="not an audio rater bundle"):
        AudioRater.load(tmp_path)
    x, y = _table()
    out = (
        AudioRater(projections={"transkun": 2}, dims=["d1", "d2"], n_rounds=5)
        .fit(x, y)
        .save(tmp_path / "b")
    )
    inner = out / "model" / "rater.json"
    inner.write_text(inner.read_text().replace('"clip": true', '"clip": false'))
    with pytest.raises(SchemaError, match=r"checksum of model/rater\.json"):
        AudioRater.load(out)
    (out / "audio_rater.json").write_text("{")
    with pytest.raises(SchemaError, match="not valid JSON"):
        AudioRater.load(out)


def test_velocity_mode_is_kept_by_the_bundle(tmp_path: Path) -> None:
    from pianoeval.examples import example_midi_path
    from pianoeval.symbolic.midi import load_midi

    with pytest.raises(ParameterError, match="velocity must be one of"):
        AudioRater(velocity="loud")
    x, y = _table()
    perf = load_midi(example_midi_path())
    raw = AudioRater(projections={"transkun": 2}, dims=["d1", "d2"], n_rounds=5).fit(x, y)
    assert raw.velocity == "raw"
    assert raw.prepare(perf) is perf
    z = AudioRater(projections={"transkun": 2}, velocity="z", dims=["d1", "d2"], n_rounds=5)
    out = z.fit(x, y).save(tmp_path / "z")
    back = AudioRater.load(out)
    assert back.velocity == "z"
    v = back.prepare(perf).notes["velocity"].astype(float)
    assert abs(v.mean() - 64) < 1
    assert abs(v.std() - 18) < 1
    assert "velocity" not in back.metadata
    # bundles written before velocity modes read their transcriptions raw
    record = json.loads((out / "audio_rater.json").read_text())
    del record["velocity"]
    (out / "audio_rater.json").write_text(json.dumps(record))
    assert AudioRater.load(out).velocity == "raw"
    record["velocity"] = "loud"
    (out / "audio_rater.json").write_text(json.dumps(record))
    with pytest.raises(SchemaError, match="unknown velocity mode 'loud'"):
        AudioRater.load(out)


def test_acoustic_check_is_stored_checksummed_and_joins_the_ood_score(tmp_path: Path) -> None:
    from pianoeval.calibration.acoustic import ACOUSTIC_CHECK_FILE, AcousticCheck
    from pianoeval.calibration.ood import ood_widen_factor
    from pianoeval.rater.audio import ACOUSTIC, audio_predict_calibrated, ood_encoders

    x, y = _table(200)
    r = AudioRater(projections={"transkun": 3}, dims=["d1", "d2"], n_rounds=30,
                   extra_trees_rounds=30)  # fmt: skip
    r.fit(x, y)
    out = r.save(tmp_path / "bundle")
    assert not (out / ACOUSTIC_CHECK_FILE).exists()
    assert AudioRater.load(out).acoustic is None
    # a check on one acoustic descriptor: large values are "not a piano"
    rng = np.random.default_rng(0)
    ac = pd.DataFrame({"acoustic.flatness": rng.normal(size=300)})
    check = AcousticCheck.fit(
        ac, (ac["acoustic.flatness"] < 1.5).astype(int), groups=np.arange(300)
    )
    r.write_acoustic_check(out, check)
    back = AudioRater.load(out)
    assert back.acoustic is not None
    assert ood_encoders(back) == (ACOUSTIC,)
    row = x.iloc[0].to_dict()
    plain = audio_predict_calibrated(back, row)
    assert plain.ood_score is None  # no descriptors among the inputs: nothing to score
    calm = audio_predict_calibrated(back, {**row, "acoustic.flatness": 0.0})
    odd = audio_predict_calibrated(back, {**row, "acoustic.flatness": 6.0})
    assert calm.ood_score is not None
    assert calm.ood_score < 1
    assert odd.ood_score is not None
    assert odd.ood_score > 1
    assert odd.ood_score == pytest.approx(float(check.score({"acoustic.flatness": 6.0})[0]))
    np.testing.assert_array_equal(odd.value, plain.value)
    f = float(ood_widen_factor(odd.ood_score))
    np.testing.assert_allclose(odd.sigma, f * plain.sigma)
    # the bundle's record names the file's checksum: a changed file is refused
    (out / ACOUSTIC_CHECK_FILE).write_text((out / ACOUSTIC_CHECK_FILE).read_text() + " ")
    with pytest.raises(SchemaError, match=r"checksum of acoustic_check\.json"):
        AudioRater.load(out)
    (out / ACOUSTIC_CHECK_FILE).unlink()
    with pytest.raises(SchemaError, match=r"acoustic_check\.json is missing"):
        AudioRater.load(out)
    r.write_acoustic_check(out, None)  # removed again: the bundle loads without it
    assert AudioRater.load(out).acoustic is None
