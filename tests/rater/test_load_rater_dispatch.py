"""load_rater reads either kind of bundle: neural bundles go to load_neural_rater."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pianoeval.model.symbolic import SymbolicRater
from pianoeval.rater import DEFAULT_DIR, NeuralRater, is_neural_bundle, load_rater
from pianoeval.rater.neural_bundle import load_neural_rater, save_neural_rater

torch = pytest.importorskip("torch")

DIMS = ["percepiano19.timing", "percepiano19.pace"]


def _tiny_neural_bundle(path: Path) -> Path:
    from pianoeval.model.neural import FusionRater

    torch.manual_seed(0)
    kwargs: dict[str, object] = {
        "inputs": {"emb.a": 4},
        "n_outputs": 2,
        "n_datasets": 1,
        "hidden": 4,
        "dataset_dim": 2,
    }
    model = FusionRater(**kwargs)  # type: ignore[arg-type]
    return save_neural_rater(
        model,
        path,
        dimensions=DIMS,
        label_ranges=[(1 / 7, 1.0), (1 / 7, 1.0)],
        model_kwargs=kwargs,
        licences=["MIT"],
        figures={},
        training={"rows": 3},
        config={"seed": 0},
        model_id="test-neural-dispatch",
    )


def test_load_rater_returns_the_neural_rater_for_a_neural_bundle(tmp_path: Path) -> None:
    out = _tiny_neural_bundle(tmp_path / "neural")
    assert is_neural_bundle(out)
    rater = load_rater(out)
    assert isinstance(rater, NeuralRater)
    assert rater.dimensions == DIMS
    x = {"emb.a": np.ones((2, 4), dtype=np.float32), "dataset_id": np.zeros(2, dtype=np.int64)}
    np.testing.assert_array_equal(rater.predict(x), load_neural_rater(out).predict(x))


def test_load_rater_still_loads_a_symbolic_bundle() -> None:
    assert not is_neural_bundle(DEFAULT_DIR)
    rater = load_rater(DEFAULT_DIR)
    assert isinstance(rater, SymbolicRater)
    assert len(rater.dims) == 19
