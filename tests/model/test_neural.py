"""FusionRater and MelCNN: shapes, gradients, MC dropout, fits on synthetic rows, errors."""

from __future__ import annotations

import io
import itertools
import json
import math
from collections.abc import Iterator

import pytest
import torch
from safetensors.torch import load, save

from pianoeval.errors import ParameterError, SchemaError
from pianoeval.model.losses import gaussian_nll, masked_mae, total_loss
from pianoeval.model.neural import FusionRater, MelCNN

WIDTHS = {"emb.transkun": 12, "emb.mert": 20}
SMALL = {"hidden": 16, "mel_dim": 8, "dataset_dim": 3, "mel_channels": (4, 8)}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # tiny tensors: one thread is faster than two fighting over shared cores
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _batch(n: int, *, mel: bool = False, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    batch = {k: torch.randn(n, w, generator=g) for k, w in WIDTHS.items()}
    batch["dataset_id"] = torch.tensor([i % 2 for i in range(n)])
    if mel:
        batch["mel"] = torch.rand(n, 1, 128, 128, generator=g)
    return batch


def test_mel_cnn_shape_and_input_checks() -> None:
    torch.manual_seed(0)
    cnn = MelCNN()
    assert cnn(torch.rand(2, 1, 128, 128)).shape == (2, 256)
    assert MelCNN(out_dim=32, channels=(4, 8))(torch.rand(3, 1, 128, 128)).shape == (3, 32)
    with pytest.raises(SchemaError, match=r"\[B, 1"):
        cnn(torch.rand(2, 128, 128))
    with pytest.raises(SchemaError, match="smaller"):
        cnn(torch.rand(2, 1, 8, 8))
    with pytest.raises(ParameterError):
        MelCNN(channels=())


INPUT_SETS = [s for r in range(3) for s in itertools.combinations(sorted(WIDTHS), r)]


@pytest.mark.parametrize("keys", INPUT_SETS, ids=lambda k: "+".join(k) or "none")
@pytest.mark.parametrize("use_mel", [False, True], ids=["no_mel", "mel"])
def test_shapes_for_every_combination_of_inputs(keys: tuple[str, ...], use_mel: bool) -> None:
    if not keys and not use_mel:
        with pytest.raises(ParameterError, match="at least one input"):
            FusionRater(inputs={}, n_outputs=5)
        return
    torch.manual_seed(0)
    inputs = {k: WIDTHS[k] for k in keys}
    for het, distill in itertools.product([False, True], [None, 6]):
        model = FusionRater(
            inputs=inputs,
            n_outputs=5,
            n_datasets=2,
            use_mel=use_mel,
            heteroscedastic=het,
            distill_dim=distill,
            **SMALL,
        )
        out = model(_batch(3, mel=use_mel))
        expected = {"mean", "embedding"} | ({"log_var"} if het else set())
        expected |= {"distill"} if distill else set()
        assert set(out) == expected
        assert out["mean"].shape == (3, 5)
        assert out["embedding"].shape == (3, 16)
        if het:
            assert out["log_var"].shape == (3, 5)
        if distill:
            assert out["distill"].shape == (3, 6)


def test_gradients_reach_every_used_branch_and_no_other() -> None:
    torch.manual_seed(0)
    model = FusionRater(
        inputs=WIDTHS,
        n_outputs=4,
        n_datasets=2,
        use_mel=True,
        heteroscedastic=True,
        distill_dim=5,
        **SMALL,
    )
    batch = _batch(4, mel=True)
    out = model(batch)
    loss = out["mean"].sum() + out["log_var"].sum() + out["distill"].sum()
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name
    # a model without the mel branch: the mel in the batch is ignored, nothing else missing
    model2 = FusionRater(inputs={"emb.mert": 20}, n_outputs=4, n_datasets=2, **SMALL)
    model2(batch)["mean"].sum().backward()
    assert all(p.grad is not None for p in model2.parameters())
    assert not any(n.startswith("mel") for n, _ in model2.named_parameters())


def test_mean_fusion_ignores_input_order() -> None:
    torch.manual_seed(0)
    a = FusionRater(inputs=WIDTHS, n_outputs=3, n_datasets=2, **SMALL)
    b = FusionRater(inputs=dict(reversed(WIDTHS.items())), n_outputs=3, n_datasets=2, **SMALL)
    b.load_state_dict(a.state_dict())
    a.eval()
    b.eval()
    batch = _batch(5)
    assert torch.equal(a(batch)["mean"], b(batch)["mean"])


def test_mc_dropout_variance_and_eval_determinism() -> None:
    torch.manual_seed(0)
    model = FusionRater(
        inputs=WIDTHS, n_outputs=3, n_datasets=2, use_mel=True, dropout=0.3, **SMALL
    )
    batch = _batch(4, mel=True)
    model.train()
    model(batch)  # fill the batch-norm running statistics with something
    model.eval()
    bn_before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    first = model(batch)["mean"]
    assert torch.equal(first, model(batch)["mean"])  # eval: no dropout, zero variance
    mean, var = model.mc_dropout(batch, n_samples=8)
    assert mean.shape == var.shape == (4, 3)
    assert (var > 0).all()
    assert not mean.requires_grad
    # batch norm neither updated nor switched to batch statistics; modes restored
    for k, v in model.state_dict().items():
        if k in bn_before:
            assert torch.equal(v, bn_before[k]), k
    assert not any(m.training for m in model.modules())
    assert torch.equal(first, model(batch)["mean"])
    # no dropout: every pass is the eval pass
    torch.manual_seed(0)
    plain = FusionRater(inputs=WIDTHS, n_outputs=3, n_datasets=2, dropout=0.0, **SMALL)
    plain.eval()
    mean0, var0 = plain.mc_dropout(_batch(4), n_samples=5)
    assert torch.equal(var0, torch.zeros_like(var0))
    torch.testing.assert_close(mean0, plain(_batch(4))["mean"])
    with pytest.raises(ParameterError, match="n_samples"):
        plain.mc_dropout(_batch(4), n_samples=0)
    with pytest.raises(ParameterError, match="heteroscedastic"):
        plain.mc_dropout(_batch(4), include_aleatoric=True)


def test_mc_dropout_total_variance_adds_predicted_variance() -> None:
    torch.manual_seed(0)
    model = FusionRater(inputs=WIDTHS, n_outputs=3, heteroscedastic=True, dropout=0.0, **SMALL)
    batch = _batch(4)
    batch["dataset_id"] = torch.zeros(4, dtype=torch.long)
    _, var = model.mc_dropout(batch, n_samples=3, include_aleatoric=True)
    model.eval()
    torch.testing.assert_close(var, model(batch)["log_var"].exp())


def _toy_rows(n: int = 32, seed: int = 1) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = torch.stack([0.5 + 0.2 * torch.tanh(x[:, 0]), 0.4 + 0.1 * x[:, 1] * x[:, 2]], dim=1)
    batch = {"emb.toy": x, "dataset_id": torch.zeros(n, dtype=torch.long)}
    return batch, y


def test_tiny_model_overfits_32_rows() -> None:
    torch.manual_seed(0)
    batch, y = _toy_rows()
    batch = {**batch, "y": y, "mask": torch.ones_like(y)}
    model = FusionRater(inputs={"emb.toy": 6}, n_outputs=2, hidden=32, dropout=0.0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    start = total_loss(model(batch), batch)["loss"].item()
    for _ in range(300):
        opt.zero_grad()
        loss = total_loss(model(batch), batch)["loss"]
        loss.backward()
        opt.step()
    end = masked_mae(model(batch)["mean"], y, torch.ones_like(y)).item()
    assert end < 0.1 * start


def test_heteroscedastic_nll_decreases_and_learns_noise_levels() -> None:
    torch.manual_seed(0)
    batch, y = _toy_rows(256)
    # dimension 1 has noise of sd 0.2 (log var -3.2), dimension 0 almost none
    g = torch.Generator().manual_seed(3)
    y = y + torch.randn(256, 2, generator=g) * torch.tensor([0.01, 0.2])
    mask = torch.ones_like(y)
    model = FusionRater(
        inputs={"emb.toy": 6}, n_outputs=2, hidden=16, dropout=0.0, heteroscedastic=True
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)

    def nll() -> torch.Tensor:
        out = model(batch)
        return gaussian_nll(out["mean"], out["log_var"], y, mask)

    start = nll().item()
    for _ in range(200):
        opt.zero_grad()
        loss = nll()
        loss.backward()
        opt.step()
    assert nll().item() < start - 3.0
    log_var = model(batch)["log_var"].mean(dim=0).detach()
    assert log_var[1] > log_var[0] + 2.0
    assert abs(log_var[1].item() - math.log(0.2**2)) < 1.0


def test_missing_or_malformed_inputs_name_the_key() -> None:
    model = FusionRater(inputs=WIDTHS, n_outputs=2, n_datasets=2, use_mel=True, **SMALL)
    batch = _batch(2, mel=True)
    for key in ("emb.mert", "mel", "dataset_id"):
        broken = {k: v for k, v in batch.items() if k != key}
        with pytest.raises(SchemaError, match=f"lacks '{key}'"):
            model(broken)
    with pytest.raises(SchemaError, match=r"emb\.mert.*\[B, 20\]"):
        model({**batch, "emb.mert": torch.randn(2, 19)})
    with pytest.raises(SchemaError, match="rows"):
        model({**batch, "emb.mert": torch.randn(3, 20)})
    with pytest.raises(SchemaError, match="outside"):
        model({**batch, "dataset_id": torch.tensor([0, 2])})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"inputs": {"mel": 4}}, "reserved"),
        ({"inputs": {"emb.a": 0}}, "width"),
        ({"inputs": {"emb.a": 4, "emb__a": 4}}, "collide"),
        ({"n_outputs": 0}, "n_outputs"),
        ({"dropout": 1.0}, "dropout"),
        ({"distill_dim": 0}, "distill_dim"),
        ({"dataset_dim": -1}, "dataset_dim"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], match: str) -> None:
    base: dict[str, object] = {"inputs": {"emb.a": 4}, "n_outputs": 2}
    with pytest.raises(ParameterError, match=match):
        FusionRater(**{**base, **kwargs})  # type: ignore[arg-type]


def test_no_dataset_embedding_needs_no_dataset_id() -> None:
    model = FusionRater(inputs={"emb.a": 4}, n_outputs=2, dataset_dim=0, hidden=8)
    assert model({"emb.a": torch.randn(3, 4)})["mean"].shape == (3, 2)


def test_config_and_safetensors_roundtrip_predict_the_same() -> None:
    torch.manual_seed(0)
    model = FusionRater(
        inputs=WIDTHS,
        n_outputs=4,
        n_datasets=2,
        use_mel=True,
        heteroscedastic=True,
        distill_dim=5,
        **SMALL,
    )
    batch = _batch(3, mel=True)
    model.train()
    model(batch)  # non-trivial batch-norm statistics
    model.eval()
    blob = save(model.state_dict())
    config = json.load(io.StringIO(json.dumps(model.config)))
    again = FusionRater(**config)
    again.load_state_dict(load(blob))
    again.eval()
    for key, value in model(batch).items():
        torch.testing.assert_close(again(batch)[key], value, rtol=0, atol=0)
    assert any(k.startswith("branches.emb__mert.") for k in model.state_dict())
