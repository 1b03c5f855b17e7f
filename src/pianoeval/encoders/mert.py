"""``mert``: a MERT checkpoint in a local folder as a frozen encoder.

MERT (m-a-p, 2023) is a HuBERT-style self-supervised music model. Its weights come from a
model hub that cannot be reached here, so this module loads a checkpoint from a local
folder holding

- ``config.json``: a transformers ``HubertConfig`` (``"model_type": "hubert"``), or MERT's
  own ``"model_type": "mert_model"`` config when its MERT-only options are at the values
  that make it a plain HuBERT (``feature_extractor_cqt: false``, ``deepnorm: false``,
  ``attention_relax <= 0``, ``conv_pos_batch_norm: false``: true of MERT-v1-95M and
  MERT-v1-330M); anything else is refused with the option named;
- ``model.safetensors`` (or sharded safetensors with their index): no pickle is read;
- optionally ``preprocessor_config.json``: its ``sampling_rate`` (MERT: 24000 Hz, the
  default when the file is absent) and ``do_normalize`` (default True, as MERT's).

Embedding: the waveform is resampled to the checkpoint's rate, cut into ``chunk_sec``
chunks (a tail shorter than the convolution's receptive field joins the chunk before it),
each chunk normalised to zero mean and unit variance when ``do_normalize`` (so MERT sees
no loudness: take it from ``mel_stats``), run through the model with
``output_hidden_states=True``; the selected hidden states (``layers``: indices into
``hidden_states``, 0 = the input of the first transformer layer; default 7-12, the layers
the audio report found best for MERT-95M) are averaged, the frames of all chunks joined,
then pooled over time (default ``mean_std``: ``dim = 2 * hidden_size``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pianoeval._typing import FloatArray, PathLike
from pianoeval.encoders.base import FrozenEncoder
from pianoeval.encoders.pooling import pool, pooled_dim
from pianoeval.errors import BackendUnavailableError, FileProblemError, ParameterError

__all__ = ["DEFAULT_LAYERS", "DEFAULT_SR", "MertEncoder", "hubert_config_dict"]

#: MERT's sampling rate, used when the folder has no ``preprocessor_config.json``.
DEFAULT_SR = 24000
#: Hidden states averaged by default (MERT-95M's best layers in the audio report).
DEFAULT_LAYERS = tuple(range(7, 13))
#: MERT-only config options and the values that make the model a plain HuBERT.
_MERT_PLAIN = {
    "feature_extractor_cqt": False,
    "deepnorm": False,
    "conv_pos_batch_norm": False,
}
_INSTALL = "pip install 'pianoeval[train]' transformers safetensors"


def _import_transformers() -> Any:
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError as e:
        raise BackendUnavailableError("encoder 'mert'", _INSTALL, reason=str(e)) from e
    return transformers


def hubert_config_dict(config: dict[str, Any], *, folder: str) -> dict[str, Any]:
    """Return a HubertConfig dictionary for a MERT or HuBERT ``config.json``.

    Raises
    ------
    FileProblemError
        If the model type is neither ``hubert`` nor ``mert_model``, or a MERT-only option
        has a value a HubertModel cannot reproduce (the option is named).

    Examples
    --------
    >>> hubert_config_dict({"model_type": "mert_model", "hidden_size": 768,
    ...                     "feature_extractor_cqt": False}, folder="m")["model_type"]
    'hubert'
    """
    model_type = config.get("model_type")
    if model_type == "hubert":
        return dict(config)
    if model_type != "mert_model":
        raise FileProblemError(
            folder, f"config.json has model_type {model_type!r}; expected 'hubert' or 'mert_model'"
        )
    for option, plain in _MERT_PLAIN.items():
        if bool(config.get(option, plain)) != plain:
            raise FileProblemError(
                folder,
                f"MERT option {option}={config[option]!r} has no HubertModel equivalent "
                "(only checkpoints with it off load here)",
            )
    relax = config.get("attention_relax", -1.0)
    if relax is not None and float(relax) > 0:
        raise FileProblemError(
            folder, f"MERT option attention_relax={relax!r} has no HubertModel equivalent"
        )
    out = {
        k: v
        for k, v in config.items()
        if k not in {*_MERT_PLAIN, "attention_relax", "auto_map", "architectures", "model_type"}
    }
    out["model_type"] = "hubert"
    return out


@contextlib.contextmanager
def _quiet_transformers(transformers: Any) -> Iterator[None]:
    """Hide transformers' loading bars for the block (restored afterwards)."""
    logging = transformers.utils.logging
    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()


def _receptive_field(kernels: Iterable[int], strides: Iterable[int]) -> int:
    """Return the samples the convolutional feature encoder needs for one frame."""
    field = 1
    for k, s in reversed(list(zip(kernels, strides, strict=True))):
        field = (field - 1) * s + k
    return field


class MertEncoder(FrozenEncoder):
    """A MERT (or any HubertModel) checkpoint from a local folder, frozen and pooled.

    Parameters
    ----------
    path : path-like
        The checkpoint folder (see the module docstring for its files).
    layers : iterable of int
        Indices into ``hidden_states`` to average, each in ``[0, num_hidden_layers]``.
    pooling : {"mean_std", "mean"}
        Pooling over time.
    chunk_sec : float
        Longest audio run through the model at once, in seconds (attention cost grows
        with the square of the length); the frames of all chunks are pooled together.
    device : str
        Torch device (``"cpu"``, ``"cuda"``).
    normalize : bool or None
        Zero-mean, unit-variance each chunk; None: ``do_normalize`` of the folder's
        preprocessor config (True when absent, as MERT's).

    Raises
    ------
    FileProblemError
        If the folder, its ``config.json`` or its safetensors weights are missing or do not
        match a HubertModel (missing weights are listed).
    ParameterError
        If a layer is out of range, the pooling unknown, or ``chunk_sec`` not positive.
    BackendUnavailableError
        If torch or transformers is not installed.
    """

    name = "mert"

    def __init__(
        self,
        path: PathLike,
        *,
        layers: Iterable[int] = DEFAULT_LAYERS,
        pooling: str = "mean_std",
        chunk_sec: float = 10.0,
        device: str = "cpu",
        normalize: bool | None = None,
    ) -> None:
        folder = Path(path)
        if not folder.is_dir():
            raise FileProblemError(folder, "no such checkpoint folder (MERT needs a local copy)")
        config_path = folder / "config.json"
        if not config_path.is_file():
            raise FileProblemError(folder, "no config.json: not a transformers checkpoint folder")
        weights = sorted(folder.glob("*.safetensors"))
        if not weights:
            found = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
            raise FileProblemError(
                folder, f"no .safetensors weights (found: {found}); pickled .bin is not read"
            )
        try:
            raw = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise FileProblemError(config_path, f"cannot be read as JSON ({e})") from None
        if not isinstance(raw, dict):
            raise FileProblemError(config_path, "does not hold a JSON object")
        config_dict = hubert_config_dict(raw, folder=str(folder))
        if pooling not in ("mean", "mean_std"):
            raise ParameterError(f"mert pooling must be 'mean' or 'mean_std', got {pooling!r}")
        if not (isinstance(chunk_sec, int | float) and np.isfinite(chunk_sec) and chunk_sec > 0):
            raise ParameterError(f"mert chunk_sec must be a positive number, got {chunk_sec!r}")
        n_layers = int(config_dict.get("num_hidden_layers", 12))
        self.layers = tuple(int(i) for i in layers)
        if not self.layers:
            raise ParameterError("mert layers is empty: give at least one hidden-state index")
        bad = [i for i in self.layers if not 0 <= i <= n_layers]
        if bad:
            raise ParameterError(
                f"mert layer {bad[0]} is out of range: this checkpoint has hidden states "
                f"0..{n_layers} ({n_layers} transformer layers)"
            )
        prep: dict[str, Any] = {}
        prep_path = folder / "preprocessor_config.json"
        if prep_path.is_file():
            try:
                prep = json.loads(prep_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise FileProblemError(prep_path, f"cannot be read as JSON ({e})") from None
        self.sample_rate = int(prep.get("sampling_rate", DEFAULT_SR))
        self.sr = self.sample_rate
        self.normalize = bool(prep.get("do_normalize", True)) if normalize is None else normalize
        self.pooling = pooling
        self.chunk_sec = float(chunk_sec)
        self.device = device
        self.path = folder

        transformers = _import_transformers()
        from pianoeval._cache import file_sha256

        config = transformers.HubertConfig(**config_dict)
        with _quiet_transformers(transformers):
            try:
                model, info = transformers.HubertModel.from_pretrained(
                    folder, config=config, local_files_only=True, output_loading_info=True
                )
            except (OSError, ValueError, RuntimeError) as e:
                raise FileProblemError(
                    folder, f"weights do not load into a HubertModel: {e}"
                ) from e
        missing = sorted(info.get("missing_keys", ()))
        mismatched = sorted(info.get("mismatched_keys", ()))
        if missing or mismatched:
            what = missing or [str(m) for m in mismatched]
            raise FileProblemError(
                folder,
                f"weights do not match the config: {len(missing)} missing and "
                f"{len(mismatched)} mismatched tensors (first: {what[0]})",
            )
        self.model = model.to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.hidden_size = int(config.hidden_size)
        self.dim = pooled_dim(pooling, self.hidden_size)
        self.receptive_field = _receptive_field(config.conv_kernel, config.conv_stride)
        self.weights_sha256 = (
            file_sha256(weights[0])
            if len(weights) == 1
            else ",".join(file_sha256(w) for w in weights)
        )
        self.version = f"mert/1+transformers=={transformers.__version__}"

    def settings(self) -> dict[str, Any]:
        """Return the checkpoint's hash and every option that changes the output."""
        return {
            "weights_sha256": self.weights_sha256,
            "layers": list(self.layers),
            "pooling": self.pooling,
            "chunk_sec": self.chunk_sec,
            "sr": self.sample_rate,
            "normalize": self.normalize,
        }

    def chunks(self, n_samples: int) -> list[tuple[int, int]]:
        """Return the ``[start, stop)`` sample ranges the audio is run in.

        A tail shorter than the receptive field joins the chunk before it.
        """
        size = max(round(self.chunk_sec * self.sample_rate), self.receptive_field)
        bounds = [*range(0, n_samples, size), n_samples]
        spans = list(itertools.pairwise(bounds))
        if len(spans) > 1 and spans[-1][1] - spans[-1][0] < self.receptive_field:
            spans[-2:] = [(spans[-2][0], n_samples)]
        return spans

    def frames(self, y: FloatArray) -> FloatArray:
        """Return the averaged selected hidden states of every chunk, joined: ``[T, hidden]``.

        ``y`` is a mono waveform at :attr:`sr`.
        """
        import torch

        out = []
        with torch.inference_mode():
            for start, stop in self.chunks(y.size):
                x = np.asarray(y[start:stop], dtype=np.float32)
                if x.size < self.receptive_field:  # too short for one frame: pad with silence
                    x = np.pad(x, (0, self.receptive_field - x.size))
                if self.normalize:
                    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
                inputs = torch.from_numpy(np.ascontiguousarray(x))[None].to(self.device)
                hidden = self.model(inputs, output_hidden_states=True).hidden_states
                chosen = torch.stack([hidden[i][0] for i in self.layers]).mean(dim=0)
                out.append(chosen.float().cpu().numpy())
        frames: FloatArray = np.concatenate(out, axis=0)
        return frames

    def _embed(self, y: FloatArray, sr: int) -> FloatArray:
        pooled: FloatArray = np.asarray(pool(self.frames(y), self.pooling), dtype=np.float32)
        return pooled
