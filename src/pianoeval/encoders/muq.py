"""``muq``: MuQ (Tencent AI Lab, 2025) as a frozen encoder, where its package can run.

What does not work here, exactly (checked against ``muq==0.1.0``, the release on PyPI):

- ``muq/modules/features.py`` imports ``torchaudio`` for its mel front end
  (``torchaudio.transforms.MelSpectrogram``); torchaudio has no build for torch 2.13;
- ``muq/modules/flash_conformer.py`` imports ``transformers.deepspeed``, a module
  transformers 5 no longer has;
- the package declares ``torchaudio`` and ``x_clip`` as dependencies, so pip cannot
  install it next to pianoeval's pinned torch;
- MuQ's weights come from a model hub that cannot be reached from here.

So :class:`MuqEncoder` checks for the package when it is built and raises
:class:`~pianoeval.errors.BackendUnavailableError` naming which of these failed. Where the
package does import (transformers 4 with a matching torchaudio), the same class loads a
local MuQ folder (``config.json`` + ``model.safetensors``, the layout ``MuQ.save_pretrained``
writes) with ``MuQ.from_pretrained`` and embeds as :class:`~pianoeval.encoders.mert.MertEncoder`
does: 24 kHz, chunks, averaged hidden states, pooled over time. That path cannot be run
here and is not covered by the tests; re-implementing MuQ's conformer and mel front end
without the package to check it against would give numbers no one could vouch for.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from pianoeval._typing import FloatArray, PathLike
from pianoeval.encoders.base import FrozenEncoder
from pianoeval.encoders.pooling import pool, pooled_dim
from pianoeval.errors import BackendUnavailableError, FileProblemError, ParameterError

__all__ = ["INSTALL", "MuqEncoder", "muq_problems"]

#: How MuQ would be installed where it can be (not on a torch 2.13 / transformers 5 machine).
INSTALL = "pip install muq==0.1.0 (needs torchaudio and transformers < 5)"
#: MuQ's sampling rate in Hz.
MUQ_SR = 24000


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package missing or broken
        return False


def muq_problems() -> list[str]:
    """Return why the ``muq`` package cannot run in this environment (empty when it can).

    Examples
    --------
    >>> isinstance(muq_problems(), list)
    True
    """
    problems = []
    if not _has_module("muq"):
        problems.append("the muq package is not installed")
    if not _has_module("torchaudio"):
        problems.append("torchaudio (MuQ's mel front end) is not importable")
    if _has_module("transformers") and not _has_module("transformers.deepspeed"):
        problems.append("transformers has no transformers.deepspeed (removed in transformers 5)")
    if not _has_module("transformers"):
        problems.append("transformers is not installed")
    return problems


class MuqEncoder(FrozenEncoder):
    """A MuQ checkpoint from a local folder, frozen and pooled (needs the ``muq`` package).

    Parameters
    ----------
    path : path-like
        Folder written by ``MuQ.save_pretrained`` (``config.json``, ``model.safetensors``).
    layers : iterable of int
        Indices into MuQ's ``hidden_states`` to average.
    pooling : {"mean_std", "mean"}
    chunk_sec : float
        Longest audio run at once, in seconds.
    device : str

    Raises
    ------
    BackendUnavailableError
        When the ``muq`` package cannot run here (the reasons are listed).
    FileProblemError
        If the folder or its files are missing.
    ParameterError
        For a bad option value.
    """

    name = "muq"

    def __init__(
        self,
        path: PathLike,
        *,
        layers: Iterable[int] = range(7, 13),
        pooling: str = "mean_std",
        chunk_sec: float = 10.0,
        device: str = "cpu",
    ) -> None:
        problems = muq_problems()
        if problems:
            raise BackendUnavailableError("encoder 'muq'", INSTALL, reason="; ".join(problems))
        folder = Path(path)
        for needed in ("config.json", "model.safetensors"):
            if not (folder / needed).is_file():
                raise FileProblemError(folder, f"no {needed}: not a MuQ checkpoint folder")
        if pooling not in ("mean", "mean_std"):
            raise ParameterError(f"muq pooling must be 'mean' or 'mean_std', got {pooling!r}")
        if not (isinstance(chunk_sec, int | float) and np.isfinite(chunk_sec) and chunk_sec > 0):
            raise ParameterError(f"muq chunk_sec must be a positive number, got {chunk_sec!r}")
        self.layers = tuple(int(i) for i in layers)
        if not self.layers:
            raise ParameterError("muq layers is empty")
        from muq import MuQ  # type: ignore[import-not-found, unused-ignore]

        model: Any = MuQ.from_pretrained(str(folder))
        self.model = model.to(device).eval()
        n_states = int(self.model.config.encoder_depth) + 1
        bad = [i for i in self.layers if not 0 <= i < n_states]
        if bad:
            raise ParameterError(f"muq layer {bad[0]} is out of range 0..{n_states - 1}")
        from pianoeval._cache import file_sha256

        self.sr = MUQ_SR
        self.pooling = pooling
        self.chunk_sec = float(chunk_sec)
        self.device = device
        self.dim = pooled_dim(pooling, int(self.model.config.encoder_dim))
        self.weights_sha256 = file_sha256(folder / "model.safetensors")
        self.version = "muq/1"

    def settings(self) -> dict[str, Any]:
        """Return the checkpoint's hash and the options that change the output."""
        return {
            "weights_sha256": self.weights_sha256,
            "layers": list(self.layers),
            "pooling": self.pooling,
            "chunk_sec": self.chunk_sec,
        }

    def _embed(self, y: FloatArray, sr: int) -> FloatArray:
        import torch

        size = max(1, round(self.chunk_sec * MUQ_SR))
        bounds = [*range(0, y.size, size), y.size]
        frames = []
        with torch.inference_mode():
            for start, stop in itertools.pairwise(bounds):
                x = torch.from_numpy(np.ascontiguousarray(y[start:stop]))[None].to(self.device)
                hidden = self.model(x, output_hidden_states=True).hidden_states
                chosen = torch.stack([hidden[i][0] for i in self.layers]).mean(dim=0)
                frames.append(chosen.float().cpu().numpy())
        out: FloatArray = np.asarray(pool(np.concatenate(frames), self.pooling), dtype=np.float32)
        return out
