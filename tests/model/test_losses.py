"""The neural rater's losses against hand-computed values, masking and gating."""

from __future__ import annotations

import math

import pytest
import torch

from pianoeval.errors import ParameterError, SchemaError
from pianoeval.model.losses import (
    distill_loss,
    gaussian_nll,
    masked_mae,
    masked_mse,
    pairwise_ranking_loss,
    pseudo_loss,
    total_loss,
)

PRED = torch.tensor([[0.5, 0.2, 0.9], [0.1, 0.4, 0.6]])
Y = torch.tensor([[0.7, 0.3, 0.0], [0.4, 0.0, 0.2]])
MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])


def test_masked_mae_and_mse_hand_computed() -> None:
    # labelled residuals: 0.2, 0.1, 0.3, 0.4 (4 cells)
    assert masked_mae(PRED, Y, MASK).item() == pytest.approx((0.2 + 0.1 + 0.3 + 0.4) / 4)
    assert masked_mse(PRED, Y, MASK).item() == pytest.approx(
        (0.04 + 0.01 + 0.09 + 0.16) / 4, rel=1e-5
    )


def test_masked_mean_divides_by_labelled_cells_not_weight_sum() -> None:
    w = torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.0, 0.0]])
    # one labelled cell of weight 0.5, residual 0.2: 0.5 * 0.2 / 1
    assert masked_mae(PRED, Y, w).item() == pytest.approx(0.1)


@pytest.mark.parametrize("loss", [masked_mae, masked_mse])
def test_masked_cells_never_contribute(loss: object) -> None:
    assert callable(loss)
    base = loss(PRED, Y, MASK)
    y2 = Y.clone()
    y2[0, 2] = 123.0
    y2[1, 1] = float("nan")
    pred = PRED.clone().requires_grad_(True)
    changed = loss(pred, y2, MASK)
    assert changed.item() == pytest.approx(base.item())
    changed.backward()
    assert pred.grad is not None
    assert torch.isfinite(pred.grad).all()
    assert pred.grad[0, 2] == 0
    assert pred.grad[1, 1] == 0
    assert pred.grad[0, 0] != 0


def test_all_masked_is_zero_with_zero_grad() -> None:
    pred = PRED.clone().requires_grad_(True)
    y = torch.full_like(Y, float("nan"))
    zeros = torch.zeros_like(MASK)
    log_var = torch.zeros_like(PRED, requires_grad=True)
    losses = [
        masked_mae(pred, y, zeros),
        masked_mse(pred, y, zeros),
        gaussian_nll(pred, log_var, y, zeros),
        pseudo_loss(pred, y, zeros),
        pairwise_ranking_loss(pred, y, zeros, torch.tensor([0, 0])),
    ]
    for value in losses:
        assert value.item() == 0.0
    sum(losses, torch.tensor(0.0)).backward()
    assert pred.grad is not None
    assert log_var.grad is not None
    assert torch.equal(pred.grad, torch.zeros_like(pred))
    assert torch.equal(log_var.grad, torch.zeros_like(log_var))


def test_gaussian_nll_hand_computed() -> None:
    mean = torch.tensor([[0.5, 0.0]])
    log_var = torch.tensor([[math.log(0.04), 3.0]])
    y = torch.tensor([[0.7, 0.0]])
    mask = torch.tensor([[1.0, 0.0]])
    expected = 0.5 * (math.log(0.04) + 0.2**2 / 0.04)
    assert gaussian_nll(mean, log_var, y, mask).item() == pytest.approx(expected, rel=1e-5)


def test_pseudo_loss_weighted_by_confidence() -> None:
    w = torch.tensor([[0.6, 0.3, 0.0], [0.0, 0.0, 1.0]])
    # 0.6 * 0.2 + 0.3 * 0.1 + 1.0 * 0.4 over 3 cells
    assert pseudo_loss(PRED, Y, w).item() == pytest.approx((0.12 + 0.03 + 0.4) / 3)
    assert pseudo_loss(PRED, Y, w, kind="mse").item() == pytest.approx(
        (0.6 * 0.04 + 0.3 * 0.01 + 0.16) / 3, rel=1e-5
    )
    with pytest.raises(ParameterError, match="kind"):
        pseudo_loss(PRED, Y, w, kind="huber")  # type: ignore[arg-type]


def test_ranking_loss_right_order_zero_wrong_order_positive() -> None:
    y = torch.tensor([[0.8], [0.3], [0.5]])
    mask = torch.ones(3, 1)
    group = torch.tensor([0, 0, 1])  # row 2 is alone in its group
    right = torch.tensor([[20.0], [-20.0], [0.0]])
    wrong = torch.tensor([[-1.0], [1.0], [0.0]])
    assert pairwise_ranking_loss(right, y, mask, group).item() < 1e-6
    # one pair (0 over 1): softplus(0 - (-2)) = log(1 + e^2)
    assert pairwise_ranking_loss(wrong, y, mask, group).item() == pytest.approx(
        math.log1p(math.exp(2.0)), rel=1e-5
    )
    # the margin makes a narrowly right order cost more than a tie
    narrow = torch.tensor([[0.1], [0.0], [0.0]])
    assert pairwise_ranking_loss(narrow, y, mask, group, margin=1.0).item() == pytest.approx(
        math.log1p(math.exp(0.9)), rel=1e-5
    )


def test_ranking_pairs_need_same_group_labels_and_a_gap() -> None:
    pred = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    y = torch.tensor([[0.5, 0.9], [0.53, 0.1], [0.9, 0.5], [0.1, 0.5]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    group = torch.tensor([0, 0, -1, -1])
    # only dim 1 of rows 0/1 counts: labels 0.9 > 0.1, preds 0 vs 1 -> softplus(1)
    # dim 0 of rows 0/1 differ by 0.03 (no pair); rows 2, 3 have group -1
    expected = math.log1p(math.e)
    assert pairwise_ranking_loss(pred, y, mask, group).item() == pytest.approx(expected, rel=1e-5)
    mask2 = mask.clone()
    mask2[1, 1] = 0.0
    assert pairwise_ranking_loss(pred, y, mask2, group).item() == 0.0


def test_distill_loss_value_mask_and_stop_grad() -> None:
    proj = torch.tensor([[1.0, 0.0], [1.0, 1.0], [3.0, 4.0]], requires_grad=True)
    source = torch.tensor([[0.0, 2.0], [2.0, 2.0], [float("nan"), 0.0]], requires_grad=True)
    target = source * 1.0  # a non-leaf, as a frozen encoder's output would be
    mask = torch.tensor([1.0, 1.0, 0.0])
    loss = distill_loss(proj, target, mask)
    # cos = 0 for row 0, 1 for row 1, row 2 masked: (1 + 0) / 2
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    assert source.grad is None
    assert proj.grad is not None
    assert torch.isfinite(proj.grad).all()
    assert torch.equal(proj.grad[2], torch.zeros(2))
    assert proj.grad[0].abs().sum() > 0


def test_shape_mismatch_raises() -> None:
    with pytest.raises(SchemaError, match="shapes differ"):
        masked_mae(PRED, Y[:, :2], MASK)
    with pytest.raises(SchemaError, match="group_id"):
        pairwise_ranking_loss(PRED, Y, MASK, torch.tensor([0]))


def _full_batch() -> dict[str, torch.Tensor]:
    return {
        "y": Y,
        "mask": MASK,
        "pseudo_y": torch.tensor([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]),
        "pseudo_w": torch.tensor([[0.0, 0.0, 0.5], [0.0, 1.0, 0.0]]),
        "group_id": torch.tensor([3, 3]),
        "distill_target": torch.tensor([[0.0, 1.0], [1.0, 0.0]]),
        "distill_mask": torch.tensor([1.0, 0.0]),
    }


def test_total_loss_combines_and_reports_every_term() -> None:
    mean = PRED.clone().requires_grad_(True)
    outputs = {"mean": mean, "distill": torch.tensor([[1.0, 0.0], [5.0, 5.0]])}
    parts = total_loss(outputs, _full_batch(), alpha=0.3, beta=0.1, rank_weight=0.5)
    human = (0.2 + 0.1 + 0.3 + 0.4) / 4
    pseudo = (0.5 * 0.4 + 1.0 * 0.1) / 2
    distill = 1.0  # cos([1, 0], [0, 1]) = 0; row 1 masked
    # dim 0: 0.7 vs 0.4 (pred 0.5 vs 0.1, right order: softplus(-0.4)); dims 1, 2 lack a pair
    rank = math.log1p(math.exp(-0.4))
    assert parts["human"].item() == pytest.approx(human)
    assert parts["pseudo"].item() == pytest.approx(pseudo)
    assert parts["distill"].item() == pytest.approx(distill)
    assert parts["rank"].item() == pytest.approx(rank, rel=1e-5)
    assert parts["loss"].item() == pytest.approx(
        human + 0.3 * pseudo + 0.1 * distill + 0.5 * rank, rel=1e-5
    )
    assert parts["human_mae"].item() == pytest.approx(human)
    assert parts["pseudo_mae"].item() == pytest.approx((0.4 + 0.1) / 2)
    assert not parts["human_mae"].requires_grad
    parts["loss"].backward()
    assert mean.grad is not None
    assert mean.grad.abs().sum() > 0


def test_total_loss_gated_by_what_the_batch_holds() -> None:
    mean = PRED.clone().requires_grad_(True)
    parts = total_loss({"mean": mean}, {"dataset_id": torch.tensor([0, 0])})
    for key in ("loss", "human", "pseudo", "distill", "rank", "human_mae", "pseudo_mae"):
        assert parts[key].item() == 0.0
    parts["loss"].backward()  # stays in the graph
    assert mean.grad is not None
    assert torch.equal(mean.grad, torch.zeros_like(mean))
    # rank weight 0: no ranking term even with groups; beta 0: no distillation needed
    only = total_loss({"mean": PRED}, _full_batch(), beta=0.0, rank_weight=0.0)
    assert only["rank"].item() == 0.0
    assert only["distill"].item() == 0.0
    assert only["human"].item() > 0
    assert only["pseudo"].item() > 0


def test_total_loss_kinds_and_errors() -> None:
    batch = {"y": Y, "mask": MASK}
    mse = total_loss({"mean": PRED}, batch, kind="mse")
    assert mse["human"].item() == pytest.approx(masked_mse(PRED, Y, MASK).item())
    log_var = torch.zeros_like(PRED)
    nll = total_loss({"mean": PRED, "log_var": log_var}, batch, kind="nll")
    assert nll["human"].item() == pytest.approx(gaussian_nll(PRED, log_var, Y, MASK).item())
    with pytest.raises(ParameterError, match="log_var"):
        total_loss({"mean": PRED}, batch, kind="nll")
    with pytest.raises(ParameterError, match="kind"):
        total_loss({"mean": PRED}, batch, kind="l1")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="distill_dim"):
        total_loss({"mean": PRED}, _full_batch())
    with pytest.raises(SchemaError, match="'mask'"):
        total_loss({"mean": PRED}, {"y": Y})


def test_ranking_gradient_pushes_the_better_performance_up() -> None:
    y = torch.tensor([[0.8], [0.3]])
    pred = torch.tensor([[0.0], [1.0]], requires_grad=True)
    pairwise_ranking_loss(pred, y, torch.ones(2, 1), torch.tensor([5, 5])).backward()
    assert pred.grad is not None
    assert pred.grad[0, 0] < 0  # descending the loss raises row 0 (better labelled)
    assert pred.grad[1, 0] > 0
    assert pred.grad[0, 0] == -pred.grad[1, 0]
