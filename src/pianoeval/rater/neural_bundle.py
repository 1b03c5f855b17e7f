"""The neural rater bundle: a FusionRater saved as a directory, loaded without pickle.

A bundle holds

- ``model.safetensors``: the weights (:mod:`safetensors.torch`);
- ``config.json``: ``schema_version``, ``kind: "neural"``, ``model_id``, the FusionRater
  keyword arguments (``model``), its input widths (``inputs``), the output ``dimensions``
  and their ``label_ranges``, the resolved training config, training data and licences,
  measured figures, and the SHA-256 of the weights;
- ``dimensions.json``: the qualified output dimension names, in output order;
- ``model_card.md``: data, licences (:func:`pianoeval.licences.combine_licences`) and
  measured figures, for people.

:func:`load_neural_rater` verifies the checksum and rebuilds the model from the numbers
alone; :class:`NeuralRater` predicts from arrays (cached embeddings and/or mel) and clips
to each dimension's range. Torch is imported only when a bundle is saved or loaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pianoeval._typing import PathLike
from pianoeval._version import __version__
from pianoeval.errors import ParameterError, SchemaError

if TYPE_CHECKING:
    import torch

    from pianoeval.model.neural import FusionRater

__all__ = [
    "BUNDLE_KIND",
    "SCHEMA_VERSION",
    "NeuralRater",
    "is_neural_bundle",
    "load_neural_rater",
    "save_neural_rater",
]

SCHEMA_VERSION = 1
BUNDLE_KIND = "neural"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def is_neural_bundle(path: PathLike) -> bool:
    """Whether ``path`` is a directory holding a neural rater bundle."""
    p = Path(path) / CONFIG_FILE
    if not p.is_file():
        return False
    try:
        return bool(json.loads(p.read_text(encoding="utf-8")).get("kind") == BUNDLE_KIND)
    except (json.JSONDecodeError, AttributeError):
        return False


def _model_card(record: Mapping[str, Any]) -> str:
    lic = record["licences"]
    commercial = {True: "yes", False: "no (non-commercial)", None: "depends on the rights holder"}
    lines = [
        f"# {record['model_id']}",
        "",
        f"Neural rater (FusionRater) written by pianoeval {record['pianoeval_version']}.",
        "",
        "## Inputs",
        "",
        *[f"- `{k}`: {w} values" for k, w in record["inputs"].items()],
        *(["- `mel`: [1, 128, 128] log-mel"] if record["model"].get("use_mel") else []),
        "",
        f"## Outputs ({len(record['dimensions'])} dimensions)",
        "",
        ", ".join(f"`{d}`" for d in record["dimensions"]),
        "",
        "## Training data",
        "",
        *[f"- {k}: {v}" for k, v in record["training"].items()],
        "",
        "## Licences",
        "",
        f"- Licences of the training data: {', '.join(lic['licenses']) or 'none recorded'}",
        f"- Commercial use: {commercial[lic['commercial_use']]}",
        f"- Share-alike: {'yes' if lic['share_alike'] else 'no'}",
        "",
        "## Measured figures",
        "",
    ]
    figures = record["figures"]
    if figures:
        lines += ["| figure | value |", "| --- | --- |"]
        lines += [
            f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |"
            for k, v in figures.items()
        ]
    else:
        lines.append("None measured: do not rely on these ratings.")
    return "\n".join(lines) + "\n"


def save_neural_rater(
    module_or_model: Any,
    path: PathLike,
    *,
    dimensions: Sequence[str],
    label_ranges: Sequence[Sequence[float]],
    model_kwargs: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    licences: Sequence[str] = (),
    figures: Mapping[str, Any] | None = None,
    model_id: str = "pianoeval-neural",
) -> Path:
    """Write a neural rater bundle.

    Parameters
    ----------
    module_or_model : RaterModule or FusionRater
        A LightningModule with ``net`` (and ``net_kwargs``) or the model itself.
    path : path
        Directory to write (created; existing bundle files are replaced).
    dimensions : sequence of str
        Qualified output dimension names, in output order.
    label_ranges : sequence of (float, float)
        Each dimension's range; predictions are clipped to it.
    model_kwargs : mapping, optional
        FusionRater keyword arguments (default: ``module_or_model.net_kwargs``, else the
        model's ``config``).
    config : mapping, optional
        The resolved training config (plain JSON types).
    training : mapping, optional
        What the rater was trained on (rows, datasets, split, fold).
    licences : sequence of str
        Licences of the training data.
    figures : mapping, optional
        Measured figures (mean R2 and so on) for the model card.
    model_id : str

    Returns
    -------
    Path
        The bundle directory.
    """
    from safetensors.torch import save_file

    net = getattr(module_or_model, "net", module_or_model)
    kwargs = dict(
        model_kwargs
        or getattr(module_or_model, "net_kwargs", None)
        or getattr(net, "config", None)  # FusionRater keeps the arguments that rebuild it
        or {}
    )
    if "inputs" not in kwargs or "n_outputs" not in kwargs:
        raise ParameterError("model_kwargs must give FusionRater's 'inputs' and 'n_outputs'")
    if len(dimensions) != kwargs["n_outputs"] or len(label_ranges) != len(dimensions):
        raise ParameterError(
            f"{len(dimensions)} dimensions and {len(label_ranges)} ranges for "
            f"{kwargs['n_outputs']} outputs"
        )
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    digest = hashlib.sha256((out / WEIGHTS_FILE).read_bytes()).hexdigest()
    kwargs["inputs"] = {str(k): int(v) for k, v in kwargs["inputs"].items()}
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": BUNDLE_KIND,
        "model_id": model_id,
        "pianoeval_version": __version__,
        "model_class": "pianoeval.model.neural.FusionRater",
        "model": kwargs,
        "inputs": kwargs["inputs"],
        "dimensions": list(dimensions),
        "label_ranges": [[float(lo), float(hi)] for lo, hi in label_ranges],
        "config": dict(config or {}),
        "training": dict(training or {}),
        "licences": _combine(licences),
        "figures": dict(figures or {}),
        "files": {WEIGHTS_FILE: digest},
    }
    (out / CONFIG_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    (out / "dimensions.json").write_text(json.dumps(list(dimensions)) + "\n", encoding="utf-8")
    (out / "model_card.md").write_text(_model_card(record), encoding="utf-8")
    return out


def _combine(licences: Sequence[str]) -> dict[str, Any]:
    from pianoeval.licences import combine_licences

    return combine_licences(licences)


class NeuralRater:
    """A loaded neural rater: predicts every output dimension from cached inputs.

    Attributes
    ----------
    model : FusionRater
        The model, in eval mode.
    dimensions : list of str
    label_ranges : np.ndarray, shape=(n_out, 2)
    inputs : dict of str to int
        The ``emb.*`` keys it needs and their widths.
    use_mel : bool
        Whether it needs ``mel`` [n, 1, 128, 128].
    record : dict
        The bundle's ``config.json``.
    """

    def __init__(self, model: FusionRater, record: Mapping[str, Any]) -> None:
        self.model = model.eval()
        self.record = dict(record)
        self.dimensions: list[str] = list(record["dimensions"])
        self.label_ranges = np.asarray(record["label_ranges"], dtype=np.float64)
        self.inputs: dict[str, int] = dict(record["inputs"])
        self.use_mel = bool(record["model"].get("use_mel", False))
        self.model_id: str = record["model_id"]

    def _batch(self, arrays: Mapping[str, npt.ArrayLike]) -> dict[str, torch.Tensor]:
        import torch

        batch: dict[str, torch.Tensor] = {}
        n: int | None = None
        needed = list(self.inputs) + (["mel"] if self.use_mel else [])
        for key in needed:
            if key not in arrays:
                raise ParameterError(f"the rater needs {key!r}; got {sorted(arrays)}")
            a = np.asarray(arrays[key], dtype=np.float32)
            if key in self.inputs:
                if a.ndim == 1:
                    a = a[None, :]
                if a.ndim != 2 or a.shape[1] != self.inputs[key]:
                    raise ParameterError(
                        f"{key!r} must have shape (n, {self.inputs[key]}), got {a.shape}"
                    )
            elif a.ndim != 4 or a.shape[1:] != (1, 128, 128):
                raise ParameterError(f"'mel' must have shape (n, 1, 128, 128), got {a.shape}")
            if not np.all(np.isfinite(a)):
                raise ParameterError(f"{key!r} holds NaN or infinite values")
            if n is not None and len(a) != n:
                raise ParameterError(f"inputs have different numbers of rows ({len(a)} vs {n})")
            n = len(a)
            batch[key] = torch.from_numpy(a)
        if n is None:
            raise ParameterError("no inputs given")
        ds = arrays.get("dataset_id")
        ds_arr = np.zeros(n, np.int64) if ds is None else np.asarray(ds, np.int64).reshape(n)
        batch["dataset_id"] = torch.from_numpy(ds_arr)
        return batch

    def _clip(self, values: np.ndarray) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = np.clip(
            values.astype(np.float64), self.label_ranges[:, 0], self.label_ranges[:, 1]
        )
        return out

    def predict(self, batch_arrays: Mapping[str, npt.ArrayLike]) -> npt.NDArray[np.float64]:
        """Scores of every row, shape=(n_rows, n_dimensions), clipped to the label ranges.

        Parameters
        ----------
        batch_arrays : mapping of str to array-like
            The ``emb.*`` inputs (shape=(n, D) or (D,) for one row), ``mel`` when the rater
            uses it, and optionally ``dataset_id`` (default 0).
        """
        import torch

        self.model.eval()
        with torch.no_grad():
            out = self.model(self._batch(batch_arrays))["mean"].double().numpy()
        return self._clip(out)

    def predict_mc(
        self, batch_arrays: Mapping[str, npt.ArrayLike], *, n_samples: int = 8
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Mean (clipped) and variance over ``n_samples`` MC-dropout passes."""
        import torch

        if n_samples < 2:
            raise ParameterError(f"n_samples must be at least 2, got {n_samples}")
        with torch.no_grad():
            mean, var = self.model.mc_dropout(self._batch(batch_arrays), n_samples=n_samples)
        self.model.eval()
        return self._clip(mean.double().numpy()), var.double().numpy()


def load_neural_rater(path: PathLike) -> NeuralRater:
    """Load a bundle written by :func:`save_neural_rater` (checksum verified, no pickle).

    Raises
    ------
    SchemaError
        If ``config.json`` is missing, of another kind or version, or the weights do not
        match their checksum or the model.
    """
    from safetensors.torch import load_file

    from pianoeval.model.neural import FusionRater

    base = Path(path)
    cfg_path = base / CONFIG_FILE
    if not cfg_path.is_file():
        raise SchemaError(f"{base}: no {CONFIG_FILE}; not a neural rater bundle")
    record = json.loads(cfg_path.read_text(encoding="utf-8"))
    if record.get("kind") != BUNDLE_KIND:
        raise SchemaError(f"{cfg_path}: kind {record.get('kind')!r} is not {BUNDLE_KIND!r}")
    if record.get("schema_version") != SCHEMA_VERSION:
        raise SchemaError(
            f"{cfg_path}: schema_version {record.get('schema_version')!r} is not supported"
        )
    weights = base / WEIGHTS_FILE
    if not weights.is_file():
        raise SchemaError(f"{base}: {WEIGHTS_FILE} is missing")
    if hashlib.sha256(weights.read_bytes()).hexdigest() != record["files"][WEIGHTS_FILE]:
        raise SchemaError(f"{weights}: checksum does not match {CONFIG_FILE}")
    model = FusionRater(**record["model"])
    try:
        model.load_state_dict(load_file(str(weights)))
    except RuntimeError as e:
        raise SchemaError(f"{weights}: weights do not fit the model: {e}") from None
    return NeuralRater(model, record)
