"""The neural rater bundle: save, reload, same numbers; checks; no pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pianoeval.errors import ParameterError, SchemaError
from pianoeval.model.neural import FusionRater
from pianoeval.rater.neural_bundle import (
    is_neural_bundle,
    load_neural_rater,
    save_neural_rater,
)

DIMS = ["percepiano19.timing", "percepiano19.pace", "execution16.pedal_clarity"]
RANGES = [(1 / 7, 1.0), (1 / 7, 1.0), (0.0, 1.0)]


def _model(**extra: object) -> tuple[FusionRater, dict[str, object]]:
    torch.manual_seed(0)
    kwargs: dict[str, object] = {
        "inputs": {"emb.a": 6, "emb.b": 4},
        "n_outputs": 3,
        "n_datasets": 2,
        "hidden": 8,
        "dataset_dim": 2,
        **extra,
    }
    model = FusionRater(**kwargs)  # type: ignore[arg-type]
    with torch.no_grad():  # move the head off its init so clipping and datasets matter
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model, kwargs


def _arrays(rng: np.random.Generator, n: int = 5) -> dict[str, np.ndarray]:
    return {
        "emb.a": rng.normal(size=(n, 6)).astype(np.float32),
        "emb.b": rng.normal(size=(n, 4)).astype(np.float32),
        "dataset_id": np.array([0, 1, 0, 1, 0][:n]),
    }


def test_saved_and_reloaded_bundle_predicts_the_same_numbers(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    model, kwargs = _model()
    out = save_neural_rater(
        model,
        tmp_path / "b",
        dimensions=DIMS,
        label_ranges=RANGES,
        model_kwargs=kwargs,
        licences=["MIT"],
        figures={"cv mean R2": 0.51},
        training={"rows": 10},
        config={"seed": 1},
        model_id="test-neural",
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "dimensions.json",
        "model.safetensors",
        "model_card.md",
    ]
    assert is_neural_bundle(out)
    rater = load_neural_rater(out)
    x = _arrays(rng)
    model.eval()
    with torch.no_grad():
        batch = {k: torch.as_tensor(v) for k, v in x.items()}
        raw = model(batch)["mean"].double().numpy()
    lo, hi = np.array(RANGES).T
    np.testing.assert_allclose(rater.predict(x), np.clip(raw, lo, hi), rtol=0, atol=1e-6)
    assert rater.dimensions == DIMS
    assert rater.model_id == "test-neural"
    assert np.all(rater.predict(x) >= lo)
    assert np.all(rater.predict(x) <= hi)
    # the dataset embedding is part of the model: another dataset id gives other numbers
    other = dict(x, dataset_id=1 - x["dataset_id"])
    assert not np.allclose(rater.predict(other), rater.predict(x))
    # one row as 1-D vectors
    one = rater.predict({"emb.a": x["emb.a"][0], "emb.b": x["emb.b"][0]})
    assert one.shape == (1, 3)
    record = json.loads((out / "config.json").read_text())
    assert record["kind"] == "neural"
    assert record["schema_version"] == 1
    assert record["licences"]["commercial_use"] is True
    assert json.loads((out / "dimensions.json").read_text()) == DIMS
    card = (out / "model_card.md").read_text()
    assert "cv mean R2" in card
    assert "MIT" in card
    assert b"pickle" not in (out / "model.safetensors").read_bytes()[:200]


def test_mc_dropout_gives_spread_and_clipped_means(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    model, _ = _model(dropout=0.5)
    # without model_kwargs the model's own config rebuilds it
    save_neural_rater(model, tmp_path, dimensions=DIMS, label_ranges=RANGES)
    rater = load_neural_rater(tmp_path)
    mean, var = rater.predict_mc(_arrays(rng), n_samples=16)
    assert mean.shape == var.shape == (5, 3)
    assert np.all(var >= 0)
    assert var.max() > 0
    lo, hi = np.array(RANGES).T
    assert np.all(mean >= lo - 1e-12)
    assert np.all(mean <= hi + 1e-12)
    assert not rater.model.training  # MC dropout leaves the model in eval mode
    with pytest.raises(ParameterError, match="n_samples"):
        rater.predict_mc(_arrays(rng), n_samples=1)


def test_no_card_figures_says_so_and_noncommercial_data_is_recorded(tmp_path: Path) -> None:
    model, kwargs = _model()
    save_neural_rater(
        model,
        tmp_path,
        dimensions=DIMS,
        label_ranges=RANGES,
        model_kwargs=kwargs,
        licences=["MIT", "CC-BY-NC-SA-4.0"],
    )
    card = (tmp_path / "model_card.md").read_text()
    assert "None measured" in card
    assert "non-commercial" in card


def test_bad_inputs_and_broken_bundles_are_reported(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    model, kwargs = _model()
    with pytest.raises(ParameterError, match="outputs"):
        save_neural_rater(
            model, tmp_path, dimensions=DIMS[:2], label_ranges=RANGES[:2], model_kwargs=kwargs
        )
    with pytest.raises(ParameterError, match="inputs"):
        save_neural_rater(torch.nn.Linear(2, 3), tmp_path, dimensions=DIMS, label_ranges=RANGES)
    save_neural_rater(model, tmp_path, dimensions=DIMS, label_ranges=RANGES, model_kwargs=kwargs)
    rater = load_neural_rater(tmp_path)
    x = _arrays(rng)
    with pytest.raises(ParameterError, match=r"emb\.b"):
        rater.predict({"emb.a": x["emb.a"]})
    with pytest.raises(ParameterError, match=r"shape \(n, 6\)"):
        rater.predict({"emb.a": x["emb.b"], "emb.b": x["emb.b"]})
    with pytest.raises(ParameterError, match="NaN"):
        rater.predict({"emb.a": np.full((2, 6), np.nan), "emb.b": x["emb.b"][:2]})
    data = bytearray((tmp_path / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(SchemaError, match="checksum"):
        load_neural_rater(tmp_path)
    assert not is_neural_bundle(tmp_path / "nowhere")
    with pytest.raises(SchemaError, match="not a neural rater bundle"):
        load_neural_rater(tmp_path / "nowhere")


def test_mel_bundle_needs_and_uses_the_mel(tmp_path: Path, rng: np.random.Generator) -> None:
    torch.manual_seed(1)
    kwargs: dict[str, object] = {
        "inputs": {},
        "n_outputs": 3,
        "use_mel": True,
        "mel_dim": 8,
        "hidden": 8,
        "dataset_dim": 0,
    }
    model = FusionRater(**kwargs)  # type: ignore[arg-type]
    save_neural_rater(
        model, tmp_path, dimensions=DIMS, label_ranges=[(0.0, 1.0)] * 3, model_kwargs=kwargs
    )
    rater = load_neural_rater(tmp_path)
    assert rater.use_mel
    mel = rng.normal(size=(2, 1, 128, 128)).astype(np.float32)
    model.eval()
    with torch.no_grad():
        raw = model({"mel": torch.from_numpy(mel), "dataset_id": torch.zeros(2, dtype=torch.long)})
    np.testing.assert_allclose(
        rater.predict({"mel": mel}), np.clip(raw["mean"].numpy(), 0, 1), atol=1e-6
    )
    with pytest.raises(ParameterError, match="mel"):
        rater.predict({"mel": mel[:, :, :64]})
    with pytest.raises(ParameterError, match="needs 'mel'"):
        rater.predict({})
