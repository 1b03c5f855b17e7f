"""The losses of the neural rater, each gated by what the batch holds.

Conventions
-----------
- A *mask* (``mask``, ``pseudo_w``, ``distill_mask``) is 0 where a cell (or row) carries no
  target and positive where it does; a positive value is the cell's weight (1 for human
  labels, ``pseudo_conf`` for pseudo-labels).
- A masked mean divides the weighted sum by the **number of labelled cells** (cells with a
  positive mask), not by the sum of the weights: a pseudo-label of confidence 0.3 counts
  0.3 of a human label, instead of being normalised back to full weight.
- Cells with a zero mask never contribute, whatever their target holds (NaN included:
  they are replaced before any arithmetic, so no NaN reaches the gradient either).
- With no labelled cell a loss is exactly 0 and still part of the graph (it backpropagates
  zero gradients), so a batch without, say, pseudo-labels needs no special case.

Overall loss (``docs/model.md``; the guide's section 16.3)::

    L = L_human + alpha * L_pseudo + beta * L_distill + rank_weight * L_rank

``L_human`` is the masked MAE by default (the guide's choice), or the masked MSE, or the
Gaussian NLL of a heteroscedastic head.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional

from pianoeval.errors import ParameterError, SchemaError

__all__ = [
    "PAIR_MIN_LABEL_DIFF",
    "distill_loss",
    "gaussian_nll",
    "masked_mae",
    "masked_mse",
    "pairwise_ranking_loss",
    "pseudo_loss",
    "total_loss",
]

PAIR_MIN_LABEL_DIFF = 0.05
"""Two performances form a ranking pair when their labels differ by more than this
(the pairwise-accuracy definition of ``docs/benchmarks.md``)."""

LossKind = Literal["mae", "mse", "nll"]


def _check_same_shape(**tensors: Tensor) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) != 1:
        raise SchemaError(f"shapes differ: {shapes}")


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Weighted sum of ``values`` over cells with ``mask > 0``, divided by their count."""
    labelled = mask > 0
    weighted = torch.where(labelled, values * mask, torch.zeros_like(values))
    return weighted.sum() / labelled.sum().clamp_min(1)


def _residual(pred: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    # Targets of unlabelled cells may be anything (NaN too): replace them before subtracting.
    return pred - torch.where(mask > 0, y, torch.zeros_like(y))


def masked_mae(pred: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """Mean absolute error over the labelled cells.

    Parameters
    ----------
    pred, y, mask : torch.Tensor, shape=(B, n_out)
        Predictions, targets and mask (weights; 0 = unlabelled).

    Returns
    -------
    torch.Tensor, scalar
        ``sum(mask * |pred - y|) / #(mask > 0)``; 0 when nothing is labelled.

    Examples
    --------
    >>> pred = torch.tensor([[0.5, 0.2]])
    >>> masked_mae(pred, torch.tensor([[0.7, 9.0]]), torch.tensor([[1.0, 0.0]]))
    tensor(0.2000)
    """
    _check_same_shape(pred=pred, y=y, mask=mask)
    return _masked_mean(_residual(pred, y, mask).abs(), mask)


def masked_mse(pred: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error over the labelled cells (as :func:`masked_mae`, squared residuals).

    Parameters
    ----------
    pred, y, mask : torch.Tensor, shape=(B, n_out)

    Returns
    -------
    torch.Tensor, scalar
    """
    _check_same_shape(pred=pred, y=y, mask=mask)
    return _masked_mean(_residual(pred, y, mask).square(), mask)


def gaussian_nll(mean: Tensor, log_var: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """Gaussian negative log-likelihood over the labelled cells, without its constant.

    ``0.5 * (log_var + (y - mean) ** 2 / exp(log_var))`` averaged like :func:`masked_mae`
    (the ``0.5 * log(2 pi)`` of the full NLL is left out, as in
    :class:`torch.nn.GaussianNLLLoss`).

    Parameters
    ----------
    mean, log_var, y, mask : torch.Tensor, shape=(B, n_out)

    Returns
    -------
    torch.Tensor, scalar
    """
    _check_same_shape(mean=mean, log_var=log_var, y=y, mask=mask)
    nll = 0.5 * (log_var + _residual(mean, y, mask).square() * torch.exp(-log_var))
    return _masked_mean(nll, mask)


def pairwise_ranking_loss(
    pred: Tensor,
    y: Tensor,
    mask: Tensor,
    group_id: Tensor,
    *,
    margin: float = 0.0,
    min_label_diff: float = PAIR_MIN_LABEL_DIFF,
) -> Tensor:
    """Within-excerpt logistic (RankNet) ranking loss, per dimension.

    A pair is two rows ``i != j`` of the same group (``group_id >= 0``), both labelled in
    dimension ``d``, with ``y[i, d] - y[j, d] > min_label_diff`` (each unordered pair
    counted once, oriented so that ``i`` should rank higher). Its loss is
    ``softplus(margin - (pred[i, d] - pred[j, d]))`` = ``log(1 + exp(margin - diff))``:
    about 0 when ``i`` is predicted higher by a wide margin, ``log 2`` at a tie, and
    growing linearly when the order is wrong. The result is the mean over all pairs of
    all dimensions (0 when there is none). Memory grows as ``B * B * n_out`` (a batch of
    64 rows and 35 dimensions: 143 k cells).

    Parameters
    ----------
    pred, y, mask : torch.Tensor, shape=(B, n_out)
    group_id : torch.Tensor, shape=(B,), int64
        Excerpt id of each row; -1 (any negative) takes part in no pair.
    margin : float
        Margin (in prediction units) the right order must reach before the loss fades.
    min_label_diff : float
        Least label difference that makes a pair (0.05: docs/benchmarks.md).

    Returns
    -------
    torch.Tensor, scalar

    Examples
    --------
    >>> y = torch.tensor([[0.9], [0.1]])
    >>> mask, group = torch.ones(2, 1), torch.tensor([0, 0])
    >>> round(float(pairwise_ranking_loss(torch.zeros(2, 1), y, mask, group)), 4)  # tie: log 2
    0.6931
    """
    _check_same_shape(pred=pred, y=y, mask=mask)
    if group_id.shape != pred.shape[:1]:
        raise SchemaError(f"group_id must have shape [{pred.shape[0]}], got {list(group_id.shape)}")
    labelled = mask > 0
    y_clean = torch.where(labelled, y, torch.zeros_like(y))
    # [B, B, n_out]: row i against row j
    label_diff = y_clean.unsqueeze(1) - y_clean.unsqueeze(0)
    pred_diff = pred.unsqueeze(1) - pred.unsqueeze(0)
    same_group = (group_id.unsqueeze(1) == group_id.unsqueeze(0)) & (group_id >= 0).unsqueeze(1)
    both = labelled.unsqueeze(1) & labelled.unsqueeze(0)
    pairs = same_group.unsqueeze(2) & both & (label_diff > min_label_diff)
    losses = functional.softplus(margin - pred_diff)
    total = torch.where(pairs, losses, torch.zeros_like(losses)).sum()
    return total / pairs.sum().clamp_min(1)


def pseudo_loss(
    pred: Tensor, pseudo_y: Tensor, pseudo_w: Tensor, kind: Literal["mae", "mse"] = "mae"
) -> Tensor:
    """Pseudo-label loss weighted by ``pseudo_conf``.

    Parameters
    ----------
    pred, pseudo_y, pseudo_w : torch.Tensor, shape=(B, n_out)
        Predictions, pseudo-labels and their weights (0 where a cell has none).
    kind : {"mae", "mse"}
        Absolute or squared residuals.

    Returns
    -------
    torch.Tensor, scalar
        ``sum(w * |pred - pseudo_y|) / #(w > 0)`` (squared for ``"mse"``).
    """
    if kind == "mae":
        return masked_mae(pred, pseudo_y, pseudo_w)
    if kind == "mse":
        return masked_mse(pred, pseudo_y, pseudo_w)
    raise ParameterError(f"kind must be 'mae' or 'mse', got {kind!r}")


def distill_loss(proj: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Distillation loss ``1 - cos(proj, stop_grad(target))`` over the rows that have a target.

    Parameters
    ----------
    proj : torch.Tensor, shape=(B, D_t)
        The distillation head's projection of the audio embedding.
    target : torch.Tensor, shape=(B, D_t)
        The frozen symbolic embedding of the same segments (detached here: no gradient
        reaches whatever produced it).
    mask : torch.Tensor, shape=(B,)
        1 where a row has a target (a positive value weighs the row), 0 where not.

    Returns
    -------
    torch.Tensor, scalar
        ``sum(mask * (1 - cos)) / #(mask > 0)``; 0 when no row has a target.
    """
    if proj.shape != target.shape or proj.ndim != 2 or mask.shape != proj.shape[:1]:
        raise SchemaError(
            f"distill shapes must be proj [B, D], target [B, D], mask [B]; got "
            f"{list(proj.shape)}, {list(target.shape)}, {list(mask.shape)}"
        )
    has = mask > 0
    target = torch.where(has.unsqueeze(1), target.detach(), proj.detach())
    cos = functional.cosine_similarity(proj, target, dim=1, eps=1e-8)
    return _masked_mean(1.0 - cos, mask)


def total_loss(
    outputs: Mapping[str, Tensor],
    batch: Mapping[str, Tensor],
    *,
    kind: LossKind = "mae",
    alpha: float = 0.3,
    beta: float = 0.1,
    rank_weight: float = 0.0,
) -> dict[str, Tensor]:
    """Compute the training loss and its parts, each gated by what the batch holds.

    ``loss = human + alpha * pseudo + beta * distill + rank_weight * rank``. A term whose
    inputs are absent from the batch (or whose mask is all zero, or whose weight is 0) is
    0. Distillation is meant for training only: validation should monitor ``"human"``.

    Parameters
    ----------
    outputs : mapping of str to torch.Tensor
        :meth:`pianoeval.model.neural.FusionRater.forward`'s output (``"mean"``, and
        ``"log_var"`` / ``"distill"`` when the model has them).
    batch : mapping of str to torch.Tensor
        The batch: ``"y"``/``"mask"``, ``"pseudo_y"``/``"pseudo_w"``, ``"group_id"``,
        ``"distill_target"``/``"distill_mask"`` (a missing ``distill_mask`` means every
        row has a target).
    kind : {"mae", "mse", "nll"}
        Human-label loss; ``"nll"`` needs ``outputs["log_var"]`` (the pseudo loss then uses
        MAE).
    alpha, beta, rank_weight : float
        Weights of the pseudo-label, distillation and ranking terms.

    Returns
    -------
    dict of str to torch.Tensor
        ``"loss"`` (to backpropagate), ``"human"``, ``"pseudo"``, ``"distill"``, ``"rank"``
        (the unweighted terms), and the detached metrics ``"human_mae"`` and
        ``"pseudo_mae"`` (masked MAE against the human and pseudo-labels, whatever
        ``kind``), for logging as ``train/human_mae`` etc.

    Raises
    ------
    ParameterError
        For an unknown ``kind``, ``"nll"`` without ``log_var``, or a distillation target
        (with ``beta > 0``) but no ``"distill"`` output.
    SchemaError
        If ``"y"`` comes without ``"mask"`` or ``"pseudo_y"`` without ``"pseudo_w"``.

    Examples
    --------
    >>> out = {"mean": torch.tensor([[0.5, 0.5]], requires_grad=True)}
    >>> batch = {"y": torch.tensor([[0.7, 0.0]]), "mask": torch.tensor([[1.0, 0.0]])}
    >>> parts = total_loss(out, batch)
    >>> round(float(parts["loss"].detach()), 4), float(parts["pseudo"].detach())
    (0.2, 0.0)
    """
    if kind not in ("mae", "mse", "nll"):
        raise ParameterError(f"kind must be 'mae', 'mse' or 'nll', got {kind!r}")
    mean = outputs["mean"]
    zero = (mean * 0.0).sum()  # 0 that stays in the graph: backward() works on any batch
    parts = {"human": zero, "pseudo": zero, "distill": zero, "rank": zero}
    metrics = {"human_mae": zero.detach(), "pseudo_mae": zero.detach()}

    if "y" in batch:
        y, mask = batch["y"], _require(batch, "mask", "y")
        if kind == "nll":
            if "log_var" not in outputs:
                raise ParameterError("kind='nll' needs a heteroscedastic model (no 'log_var')")
            parts["human"] = gaussian_nll(mean, outputs["log_var"], y, mask)
        elif kind == "mse":
            parts["human"] = masked_mse(mean, y, mask)
        else:
            parts["human"] = masked_mae(mean, y, mask)
        metrics["human_mae"] = masked_mae(mean.detach(), y, mask)
        if rank_weight and "group_id" in batch:
            parts["rank"] = pairwise_ranking_loss(mean, y, mask, batch["group_id"])

    if "pseudo_y" in batch:
        pseudo_y, pseudo_w = batch["pseudo_y"], _require(batch, "pseudo_w", "pseudo_y")
        parts["pseudo"] = pseudo_loss(mean, pseudo_y, pseudo_w, "mse" if kind == "mse" else "mae")
        metrics["pseudo_mae"] = masked_mae(mean.detach(), pseudo_y, (pseudo_w > 0).to(mean.dtype))

    if beta and "distill_target" in batch:
        if "distill" not in outputs:
            raise ParameterError(
                "the batch holds 'distill_target' but the model has no distillation head "
                "(build FusionRater with distill_dim, or set beta=0)"
            )
        target = batch["distill_target"]
        row_mask = batch.get("distill_mask", torch.ones_like(target[:, 0]))
        parts["distill"] = distill_loss(outputs["distill"], target, row_mask)

    loss = (
        parts["human"]
        + alpha * parts["pseudo"]
        + beta * parts["distill"]
        + rank_weight * parts["rank"]
    )
    return {"loss": loss, **parts, **metrics}


def _require(batch: Mapping[str, Tensor], key: str, partner: str) -> Tensor:
    if key not in batch:
        raise SchemaError(f"the batch holds {partner!r} but not {key!r}, its mask")
    return batch[key]
