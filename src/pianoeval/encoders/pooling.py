"""Pooling of frame embeddings ``[..., T, D]`` over time into one vector per segment.

:data:`POOLINGS` holds:

=============  ===========================================================================
``mean``       the mean over frames: ``[..., D]``
``mean_std``   mean and standard deviation (population, ``ddof=0``) over frames,
               concatenated: ``[..., 2 D]``. The pooling that won in the audio report.
``attention``  :class:`~pianoeval.encoders.attention.AttentionPooling`, a trainable
               ``torch.nn.Module`` (a learned query attends over the frames); imported on
               first use, so this module never imports torch.
=============  ===========================================================================

``mean`` and ``mean_std`` are plain functions that take numpy arrays or torch tensors and
return the same kind; the frame axis is ``-2``. :func:`pooled_dim` gives the output width.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pianoeval._registry import Registry
from pianoeval.errors import ParameterError

__all__ = ["POOLINGS", "mean_pool", "mean_std_pool", "pool", "pooled_dim"]


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _check_frames(x: Any) -> None:
    shape = tuple(x.shape)
    if len(shape) < 2 or shape[-2] == 0:
        raise ParameterError(f"pooling needs frames of shape [..., T, D] with T >= 1, got {shape}")


def mean_pool(x: Any) -> Any:
    """Average frames ``[..., T, D]`` over time.

    Examples
    --------
    >>> mean_pool(np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))
    array([2., 3.], dtype=float32)
    """
    _check_frames(x)
    if _is_torch(x):
        return x.mean(dim=-2)
    return np.asarray(x).mean(axis=-2, dtype=np.float64).astype(np.asarray(x).dtype)


def mean_std_pool(x: Any) -> Any:
    """Concatenate the mean and the standard deviation (ddof=0) of frames over time.

    Examples
    --------
    >>> mean_std_pool(np.array([[1.0, 2.0], [3.0, 2.0]], dtype=np.float32))
    array([2., 2., 1., 0.], dtype=float32)
    """
    _check_frames(x)
    if _is_torch(x):
        import torch

        return torch.cat([x.mean(dim=-2), x.std(dim=-2, correction=0)], dim=-1)
    arr = np.asarray(x)
    x64 = arr.astype(np.float64)
    out = np.concatenate([x64.mean(axis=-2), x64.std(axis=-2)], axis=-1)
    return out.astype(arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64)


#: Poolings by name: functions over ``[..., T, D]`` frames, or a trainable module class.
POOLINGS: Registry[Any] = Registry("pooling")
POOLINGS.register("mean", mean_pool)
POOLINGS.register("mean_std", mean_std_pool)
POOLINGS.register("attention", "pianoeval.encoders.attention:AttentionPooling")

_WIDTH_FACTOR = {"mean": 1, "mean_std": 2, "attention": 1}


def pooled_dim(pooling: str, dim: int) -> int:
    """Return the width of ``pooling`` applied to ``dim``-wide frames.

    Examples
    --------
    >>> pooled_dim("mean_std", 768)
    1536
    """
    if pooling not in _WIDTH_FACTOR:
        POOLINGS.get(pooling)  # ParameterError listing the known names
        raise ParameterError(f"pooling {pooling!r} has no known output width")
    return _WIDTH_FACTOR[pooling] * int(dim)


def pool(x: Any, pooling: str = "mean_std") -> Any:
    """Apply a parameter-free pooling (``mean`` or ``mean_std``) by name.

    Raises
    ------
    ParameterError
        For an unknown name, or ``attention`` (a module to build and train, not a function).

    Examples
    --------
    >>> pool(np.ones((4, 3), dtype=np.float32), "mean").shape
    (3,)
    """
    if pooling == "attention":
        raise ParameterError(
            "pooling 'attention' is trainable: build POOLINGS.get('attention')(dim) in the model; "
            "frozen-encoder caches use 'mean' or 'mean_std'"
        )
    return POOLINGS.get(pooling)(x)
