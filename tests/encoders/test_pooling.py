from __future__ import annotations

import numpy as np
import pytest
import torch

from pianoeval.encoders import POOLINGS
from pianoeval.encoders.pooling import mean_pool, mean_std_pool, pool, pooled_dim
from pianoeval.errors import ParameterError


def test_registry() -> None:
    assert POOLINGS.names() == ["mean", "mean_std", "attention"]


def test_mean_std_analytic_and_same_for_numpy_and_torch(rng: np.random.Generator) -> None:
    x = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]], dtype=np.float32)
    np.testing.assert_allclose(mean_std_pool(x), [3.0, 2.0, np.sqrt(8 / 3), 0.0], rtol=1e-6)
    frames = rng.normal(size=(2, 7, 5)).astype(np.float32)  # [B, T, D]
    for fn in (mean_pool, mean_std_pool):
        a = fn(frames)
        b = fn(torch.from_numpy(frames))
        assert isinstance(b, torch.Tensor)
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6)
    assert mean_std_pool(frames).shape == (2, 10)


def test_widths_and_errors() -> None:
    assert pooled_dim("mean", 7) == 7
    assert pooled_dim("mean_std", 7) == 14
    with pytest.raises(ParameterError, match="unknown pooling"):
        pooled_dim("max", 7)
    with pytest.raises(ParameterError, match="trainable"):
        pool(np.ones((2, 2)), "attention")
    with pytest.raises(ParameterError, match="T >= 1"):
        mean_pool(np.ones((0, 3)))


def test_attention_pooling() -> None:
    cls = POOLINGS.get("attention")
    torch.manual_seed(0)
    att = cls(4)
    x = torch.randn(2, 6, 4)
    # the query starts at zero: uniform weights, i.e. the mean
    torch.testing.assert_close(att(x), x.mean(dim=1))
    with torch.no_grad():
        att.query.normal_()
    w = att.weights(x)
    torch.testing.assert_close(w.sum(dim=-1), torch.ones(2))
    assert not torch.allclose(att(x), x.mean(dim=1))
    # masked frames get no weight: pooling 3 real frames equals pooling them alone
    mask = torch.tensor([[1, 1, 1, 0, 0, 0]] * 2)
    torch.testing.assert_close(att(x, mask), att(x[:, :3]))
    assert att(x[0]).shape == (4,)
    att(x).sum().backward()
    assert att.query.grad is not None
    assert att.key.weight.grad is not None
