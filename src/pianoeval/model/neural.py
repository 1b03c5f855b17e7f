"""The neural rater: a mel CNN and a fusion of any set of encoders with a multi-task head.

Plain :class:`torch.nn.Module` classes (no Lightning, no Hydra): the Lightning module in
:mod:`pianoeval.train` wraps them, the rater bundle saves their ``state_dict`` with
safetensors and rebuilds them from :attr:`FusionRater.config`. Import this module
directly (``from pianoeval.model.neural import FusionRater``); :mod:`pianoeval.model`
does not import it, so torch stays out of the MIDI-only path.

Architecture (``docs/model.md`` has the formulas)
--------------------------------------------------
- **Branches.** Every pooled, cached embedding ``batch["emb.<encoder>"]`` of shape
  ``[B, D_encoder]`` goes through ``LayerNorm(D_encoder)`` and ``Linear(D_encoder, hidden)``,
  so a 1024-wide MERT layer and a 40-wide feature vector weigh alike. With ``use_mel`` the
  ``[B, 1, 128, 128]`` mel goes through :class:`MelCNN` (trained with the head) to
  ``mel_dim`` and then through the same LayerNorm + Linear projection.
- **Fusion by mean.** The branch projections are averaged and passed through a GELU: the
  fused *embedding* ``[B, hidden]``. Averaging linear projections loses nothing against a
  linear layer on their concatenation (``sum_i W_i x_i`` *is* a linear map of the
  concatenated ``x_i``), keeps the embedding width independent of the set of encoders (the
  distillation head and the ``"embedding"`` output do not change shape when an encoder is
  added) and makes the result independent of the order of ``inputs``.
- **Dataset embedding.** ``nn.Embedding(n_datasets, dataset_dim)`` of ``batch["dataset_id"]``
  is concatenated to the fused embedding (the guide's section 9: raters of different
  datasets use their scales differently).
- **Head.** A 2-layer MLP ``Linear(hidden + dataset_dim, hidden) - GELU - Dropout - Linear(hidden,
  n_outputs)`` to every output dimension (the qualified ``"<taxonomy>.<dim>"`` names of
  :func:`pianoeval.dims.union_dimensions`, in that order; the model knows only their
  number). Outputs are unbounded: clipping to a label range belongs to the rater bundle.
- **Heteroscedastic head** (optional): a second ``Linear(hidden, n_outputs)`` on the same
  hidden layer gives ``log_var``, clamped to ``[LOG_VAR_MIN, LOG_VAR_MAX]``.
- **Distillation head** (optional, training only): ``Linear(hidden, hidden) - GELU -
  Linear(hidden, distill_dim)`` on the fused embedding, compared with a frozen symbolic
  embedding by :func:`pianoeval.model.losses.distill_loss`.
- **MC dropout.** :meth:`FusionRater.mc_dropout` switches on the dropout layers only (batch
  norm keeps its running statistics) for ``n_samples`` passes and returns the mean and
  variance of the predictions (the guide's section 12).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from pianoeval.errors import ParameterError, SchemaError

__all__ = [
    "LOG_VAR_MAX",
    "LOG_VAR_MIN",
    "MEL_KEY",
    "RESERVED_KEYS",
    "FusionRater",
    "MelCNN",
]

MEL_KEY = "mel"
"""Batch key of the ``[B, 1, 128, 128]`` mel image (:mod:`pianoeval.audio.mel`)."""

RESERVED_KEYS = frozenset(
    {
        MEL_KEY,
        "dataset_id",
        "y",
        "mask",
        "pseudo_y",
        "pseudo_w",
        "group_id",
        "distill_target",
        "distill_mask",
    }
)
"""Batch keys with a fixed meaning: none of them can name an embedding input."""

LOG_VAR_MIN = -10.0
"""Lower clamp of the heteroscedastic ``log_var`` (a standard deviation of 0.0067)."""

LOG_VAR_MAX = 5.0
"""Upper clamp of the heteroscedastic ``log_var`` (a standard deviation of 12)."""

_LOG_VAR_INIT = -4.0  # sd 0.135 at start: the spread of PercePiano labels around their mean

_DROPOUT_TYPES = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


class MelCNN(nn.Module):
    """The guide's small CNN: a ``[B, 1, 128, 128]`` mel image to a ``[B, out_dim]`` embedding.

    Four blocks of ``Conv2d(3x3, padding 1) - BatchNorm2d - ReLU - MaxPool2d(2)`` (128x128 ->
    8x8 by default), global average pooling over frequency and time, then a linear layer.
    The pooling makes the network accept any image of at least 16x16, but the mel front end
    always gives 128x128.

    Parameters
    ----------
    out_dim : int
        Width of the embedding (256 in the guide).
    channels : sequence of int
        Output channels of the convolution blocks, one block each.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> cnn = MelCNN(out_dim=256, channels=(4, 8))
    >>> cnn(torch.rand(2, 1, 128, 128)).shape
    torch.Size([2, 256])
    """

    def __init__(self, *, out_dim: int = 256, channels: Sequence[int] = (16, 32, 64, 128)) -> None:
        super().__init__()
        if out_dim < 1:
            raise ParameterError(f"out_dim must be >= 1, got {out_dim}")
        if not channels or any(c < 1 for c in channels):
            raise ParameterError(f"channels must be positive widths, got {tuple(channels)}")
        blocks: list[nn.Module] = []
        in_ch = 1
        for ch in channels:
            blocks += [
                nn.Conv2d(in_ch, ch, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(ch),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            in_ch = ch
        self.features = nn.Sequential(*blocks)
        self.out = nn.Linear(in_ch, out_dim)
        self.out_dim = out_dim
        self.min_size = 2 ** len(channels)

    def forward(self, mel: Tensor) -> Tensor:
        """Embed a batch of mel images.

        Parameters
        ----------
        mel : torch.Tensor, shape=(B, 1, n_mels, n_frames), float32
            Mel images in [0, 1] (:func:`pianoeval.audio.mel.mel_batch`).

        Returns
        -------
        torch.Tensor, shape=(B, out_dim)

        Raises
        ------
        SchemaError
            If ``mel`` is not a one-channel 4-D batch large enough for the pooling.
        """
        if mel.ndim != 4 or mel.shape[1] != 1:
            raise SchemaError(
                f"mel must have shape [B, 1, n_mels, n_frames], got {list(mel.shape)}"
            )
        if min(mel.shape[2], mel.shape[3]) < self.min_size:
            raise SchemaError(
                f"mel of {mel.shape[2]}x{mel.shape[3]} is smaller than {self.min_size}x"
                f"{self.min_size}, the least the pooling takes; the mel front end gives 128x128"
            )
        h = self.features(mel)
        out: Tensor = self.out(h.mean(dim=(2, 3)))
        return out


def _branch(width: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(width), nn.Linear(width, hidden))


def _module_key(input_key: str) -> str:
    # nn.ModuleDict names cannot hold ".", the separator of state_dict keys.
    return input_key.replace(".", "__")


class FusionRater(nn.Module):
    """Fusion of encoder embeddings (and optionally a mel CNN) with a multi-task head.

    Parameters
    ----------
    inputs : mapping of str to int
        Batch keys of the pooled embeddings this model reads (``"emb.transkun"``,
        ``"emb.mert"``, ...) and their widths. May be empty when ``use_mel``.
    n_outputs : int
        Number of output dimensions (qualified names, :func:`pianoeval.dims.union_dimensions`).
    n_datasets : int
        Number of dataset ids the dataset embedding knows (``batch["dataset_id"]`` in
        ``[0, n_datasets)``).
    use_mel : bool
        Add a :class:`MelCNN` branch on ``batch["mel"]``.
    mel_dim : int
        Width of the mel CNN's embedding.
    hidden : int
        Width of every branch projection, of the fused embedding and of the head's hidden layer.
    dataset_dim : int
        Width of the dataset embedding (0: none).
    dropout : float
        Dropout probability of the head (also used by :meth:`mc_dropout`).
    heteroscedastic : bool
        Also predict a per-dimension ``log_var``.
    distill_dim : int or None
        Width of the distillation projection (the frozen symbolic embedding's width);
        None: no distillation head.
    mel_channels : sequence of int
        Convolution widths of the :class:`MelCNN` branch (its ``channels``).

    Attributes
    ----------
    config : dict
        The keyword arguments that rebuild this model (``FusionRater(**model.config)``);
        JSON-serialisable, for the rater bundle.
    input_keys : tuple of str
        The embedding keys read from the batch, sorted.

    Raises
    ------
    ParameterError
        If there is no input at all, a width or size is not positive, an input key is a
        reserved batch key, or ``dropout`` is not in [0, 1).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> model = FusionRater(inputs={"emb.transkun": 12}, n_outputs=3, hidden=16)
    >>> batch = {"emb.transkun": torch.randn(4, 12), "dataset_id": torch.zeros(4, dtype=torch.long)}
    >>> out = model(batch)
    >>> out["mean"].shape, out["embedding"].shape
    (torch.Size([4, 3]), torch.Size([4, 16]))
    >>> mean, var = model.mc_dropout(batch, n_samples=4)
    >>> var.shape
    torch.Size([4, 3])
    """

    def __init__(
        self,
        *,
        inputs: Mapping[str, int],
        n_outputs: int,
        n_datasets: int = 1,
        use_mel: bool = False,
        mel_dim: int = 256,
        hidden: int = 256,
        dataset_dim: int = 8,
        dropout: float = 0.2,
        heteroscedastic: bool = False,
        distill_dim: int | None = None,
        mel_channels: Sequence[int] = (16, 32, 64, 128),
    ) -> None:
        super().__init__()
        _validate_init(
            inputs,
            n_outputs=n_outputs,
            n_datasets=n_datasets,
            use_mel=use_mel,
            mel_dim=mel_dim,
            hidden=hidden,
            dataset_dim=dataset_dim,
            dropout=dropout,
            distill_dim=distill_dim,
        )
        self.input_keys: tuple[str, ...] = tuple(sorted(inputs))
        self.input_widths: dict[str, int] = {k: int(inputs[k]) for k in self.input_keys}
        self.config: dict[str, Any] = {
            "inputs": dict(self.input_widths),
            "n_outputs": n_outputs,
            "n_datasets": n_datasets,
            "use_mel": use_mel,
            "mel_dim": mel_dim,
            "hidden": hidden,
            "dataset_dim": dataset_dim,
            "dropout": dropout,
            "heteroscedastic": heteroscedastic,
            "distill_dim": distill_dim,
            "mel_channels": [int(c) for c in mel_channels],
        }
        self.n_outputs = n_outputs
        self.n_datasets = n_datasets
        self.use_mel = use_mel
        self.hidden = hidden
        self.heteroscedastic = heteroscedastic
        self.distill_dim = distill_dim

        self.branches = nn.ModuleDict(
            {_module_key(k): _branch(w, hidden) for k, w in self.input_widths.items()}
        )
        self.mel_branch: nn.Module | None = None
        if use_mel:
            self.mel_branch = nn.Sequential(
                MelCNN(out_dim=mel_dim, channels=mel_channels), _branch(mel_dim, hidden)
            )
        self.dataset_embedding: nn.Embedding | None = None
        if dataset_dim > 0:
            self.dataset_embedding = nn.Embedding(n_datasets, dataset_dim)
        self.head_hidden = nn.Sequential(
            nn.Linear(hidden + dataset_dim, hidden), nn.GELU(), nn.Dropout(dropout)
        )
        self.head_mean = nn.Linear(hidden, n_outputs)
        self.head_log_var: nn.Linear | None = None
        if heteroscedastic:
            self.head_log_var = nn.Linear(hidden, n_outputs)
            nn.init.zeros_(self.head_log_var.weight)
            nn.init.constant_(self.head_log_var.bias, _LOG_VAR_INIT)
        self.distill_head: nn.Module | None = None
        if distill_dim is not None:
            self.distill_head = nn.Sequential(
                nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, distill_dim)
            )

    def embed(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Compute the fused embedding ``[B, hidden]`` of a batch (before the dataset embedding).

        Parameters
        ----------
        batch : mapping of str to torch.Tensor
            Holds every key in :attr:`input_keys` (and ``"mel"`` when ``use_mel``).

        Returns
        -------
        torch.Tensor, shape=(B, hidden)

        Raises
        ------
        SchemaError
            If a key the model was built for is missing or has the wrong shape.
        """
        parts: list[Tensor] = []
        n_rows: int | None = None
        for key in self.input_keys:
            x = _get(batch, key, self)
            width = self.input_widths[key]
            if x.ndim != 2 or x.shape[1] != width:
                raise SchemaError(
                    f"batch[{key!r}] must have shape [B, {width}], got {list(x.shape)}"
                )
            n_rows = _check_rows(key, x, n_rows)
            parts.append(self.branches[_module_key(key)](x))
        if self.mel_branch is not None:
            mel = _get(batch, MEL_KEY, self)
            n_rows = _check_rows(MEL_KEY, mel, n_rows)
            parts.append(self.mel_branch(mel))
        fused = parts[0] if len(parts) == 1 else torch.stack(parts).mean(dim=0)
        return nn.functional.gelu(fused)

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Rate a batch.

        Parameters
        ----------
        batch : mapping of str to torch.Tensor
            The batch contract of ``docs/model.md``: every input key the model was built for
            and ``"dataset_id"`` (int64 ``[B]``; not read when ``dataset_dim`` is 0); other
            keys are ignored.

        Returns
        -------
        dict of str to torch.Tensor
            ``"mean"`` ``[B, n_outputs]``; ``"embedding"`` ``[B, hidden]``; ``"log_var"``
            ``[B, n_outputs]`` when heteroscedastic; ``"distill"`` ``[B, distill_dim]`` when
            the model has a distillation head.

        Raises
        ------
        SchemaError
            If a key is missing, a shape is wrong, or a dataset id is out of range.
        """
        embedding = self.embed(batch)
        head_in = embedding
        if self.dataset_embedding is not None:
            dataset_id = _get(batch, "dataset_id", self)
            if dataset_id.shape != (embedding.shape[0],):
                raise SchemaError(
                    f"batch['dataset_id'] must have shape [{embedding.shape[0]}], "
                    f"got {list(dataset_id.shape)}"
                )
            if dataset_id.numel() and (
                int(dataset_id.min()) < 0 or int(dataset_id.max()) >= self.n_datasets
            ):
                raise SchemaError(
                    f"batch['dataset_id'] holds ids outside [0, {self.n_datasets}): "
                    f"{sorted({int(i) for i in dataset_id.tolist()})}"
                )
            head_in = torch.cat([embedding, self.dataset_embedding(dataset_id.long())], dim=1)
        h = self.head_hidden(head_in)
        out = {"mean": self.head_mean(h), "embedding": embedding}
        if self.head_log_var is not None:
            out["log_var"] = self.head_log_var(h).clamp(LOG_VAR_MIN, LOG_VAR_MAX)
        if self.distill_head is not None:
            out["distill"] = self.distill_head(embedding)
        return out

    @torch.no_grad()
    def mc_dropout(
        self, batch: Mapping[str, Tensor], n_samples: int = 8, *, include_aleatoric: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Monte Carlo dropout: the mean and variance of ``n_samples`` stochastic passes.

        Only the dropout layers are switched to training behaviour; batch norm keeps its
        running statistics and nothing is updated. The model's modes are restored after.

        Parameters
        ----------
        batch : mapping of str to torch.Tensor
            As for :meth:`forward`.
        n_samples : int
            Number of passes (the guide's K of about 8).
        include_aleatoric : bool
            Add the mean predicted variance ``exp(log_var)`` of a heteroscedastic model to
            the spread of the means (total variance); False: the spread only (epistemic).

        Returns
        -------
        mean : torch.Tensor, shape=(B, n_outputs)
        var : torch.Tensor, shape=(B, n_outputs)
            Population variance of the passes' means (0 when ``dropout`` is 0).

        Raises
        ------
        ParameterError
            If ``n_samples`` < 1, or ``include_aleatoric`` on a model without ``log_var``.
        """
        if n_samples < 1:
            raise ParameterError(f"n_samples must be >= 1, got {n_samples}")
        if include_aleatoric and self.head_log_var is None:
            raise ParameterError("include_aleatoric needs a heteroscedastic FusionRater")
        modes = {m: m.training for m in self.modules()}
        try:
            self.eval()
            for m in self.modules():
                if isinstance(m, _DROPOUT_TYPES):
                    m.train()
            means: list[Tensor] = []
            aleatoric: list[Tensor] = []
            for _ in range(n_samples):
                out = self(batch)
                means.append(out["mean"])
                if include_aleatoric:
                    aleatoric.append(out["log_var"].exp())
        finally:
            for m, mode in modes.items():
                m.train(mode)
        stacked = torch.stack(means)
        var = stacked.var(dim=0, unbiased=False)
        if include_aleatoric:
            var = var + torch.stack(aleatoric).mean(dim=0)
        return stacked.mean(dim=0), var


def _validate_init(
    inputs: Mapping[str, int],
    *,
    n_outputs: int,
    n_datasets: int,
    use_mel: bool,
    mel_dim: int,
    hidden: int,
    dataset_dim: int,
    dropout: float,
    distill_dim: int | None,
) -> None:
    if not inputs and not use_mel:
        raise ParameterError("FusionRater needs at least one input: an 'emb.*' key or use_mel")
    for key, width in inputs.items():
        if key in RESERVED_KEYS:
            raise ParameterError(f"input key {key!r} is a reserved batch key")
        if int(width) < 1:
            raise ParameterError(f"input {key!r} must have a width >= 1, got {width}")
    module_keys = [_module_key(k) for k in inputs]
    if len(set(module_keys)) != len(module_keys):
        raise ParameterError(f"input keys collide once '.' becomes '__': {sorted(inputs)}")
    for name, value in (
        ("n_outputs", n_outputs),
        ("n_datasets", n_datasets),
        ("mel_dim", mel_dim),
        ("hidden", hidden),
    ):
        if value < 1:
            raise ParameterError(f"{name} must be >= 1, got {value}")
    if dataset_dim < 0:
        raise ParameterError(f"dataset_dim must be >= 0, got {dataset_dim}")
    if not 0.0 <= dropout < 1.0:
        raise ParameterError(f"dropout must be in [0, 1), got {dropout}")
    if distill_dim is not None and distill_dim < 1:
        raise ParameterError(f"distill_dim must be >= 1 or None, got {distill_dim}")


def _get(batch: Mapping[str, Tensor], key: str, model: FusionRater) -> Tensor:
    try:
        return batch[key]
    except KeyError:
        wanted = [*model.input_keys, *([MEL_KEY] if model.use_mel else []), "dataset_id"]
        raise SchemaError(
            f"batch lacks {key!r}, which this FusionRater was built for "
            f"(it reads {wanted}; the batch holds {sorted(batch)})"
        ) from None


def _check_rows(key: str, x: Tensor, n_rows: int | None) -> int:
    if n_rows is not None and x.shape[0] != n_rows:
        raise SchemaError(f"batch[{key!r}] has {x.shape[0]} rows, other inputs have {n_rows}")
    return int(x.shape[0])
