"""Attention pooling: a learned query attends over frame embeddings (trainable, torch).

Kept apart from :mod:`pianoeval.encoders.pooling` so that module never imports torch; the
``attention`` entry of :data:`~pianoeval.encoders.pooling.POOLINGS` points here.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["AttentionPooling"]


class AttentionPooling(nn.Module):
    """Pool frames ``[B, T, D]`` (or ``[T, D]``) to ``[B, D]`` with learned attention.

    Scores are ``q . k_t / sqrt(D)`` with one learned query ``q`` and keys ``k_t = W x_t``;
    the output is the softmax-weighted mean of the frames (values are the frames themselves,
    so the output stays in the encoder's space).

    Parameters
    ----------
    dim : int
        Frame width ``D``.

    Examples
    --------
    >>> pool = AttentionPooling(4)
    >>> pool(torch.ones(2, 5, 4)).shape
    torch.Size([2, 4])
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            from pianoeval.errors import ParameterError

            raise ParameterError(f"AttentionPooling dim must be a positive integer, got {dim!r}")
        self.dim = dim
        self.key = nn.Linear(dim, dim, bias=False)
        self.query = nn.Parameter(torch.zeros(dim))

    def weights(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return the attention weights ``[B, T]`` (rows sum to 1; masked frames get 0)."""
        scores = self.key(x) @ self.query / self.dim**0.5
        if mask is not None:
            scores = scores.masked_fill(~mask.bool(), float("-inf"))
        return torch.softmax(scores, dim=-1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pool ``x`` [B, T, D] (``mask`` [B, T], 1 = real frame) to [B, D]."""
        squeeze = x.dim() == 2
        if squeeze:
            x = x.unsqueeze(0)
            mask = None if mask is None else mask.unsqueeze(0)
        w = self.weights(x, mask)
        out = (w.unsqueeze(-1) * x).sum(dim=-2)
        return out.squeeze(0) if squeeze else out
