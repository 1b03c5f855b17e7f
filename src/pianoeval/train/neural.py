"""Neural training: the datamodule over manifest rows and the LightningModule around FusionRater.

:class:`ManifestDataModule` turns manifest rows (:class:`pianoeval.manifest.Segment`) and
arrays aligned to them (pooled, cached encoder embeddings ``emb.<encoder>`` [n, D], and/or
the ``mel`` [n, 1, 128, 128]) into the batch dictionaries the model consumes (see
``docs/training.md``): ``y``/``mask`` from each row's human labels, ``pseudo_y``/``pseudo_w``
from its pseudo-labels weighted by ``pseudo_conf``, ``dataset_id`` and ``group_id`` (the
excerpt, for the within-excerpt ranking loss). Output dimensions are qualified names
(``taxonomy.dim``) in :func:`pianoeval.dims.union_dimensions` order. Rows are split by a
committed :class:`~pianoeval.data.splits.Split` fold or explicit id lists.

:class:`RaterModule` wraps a :class:`pianoeval.model.neural.FusionRater` and
:func:`pianoeval.model.losses.total_loss`, optimises with AdamW and logs ``train/loss``,
``train/human``, ``train/pseudo``, ``val/loss``, ``val/human_mae`` and per dimension
``val/mae_<dim>`` (human labels) and ``val/pseudo_mae_<dim>`` (pseudo-labels), apart.

Torch and Lightning are imported by this module: import it only where training happens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from lightning import LightningDataModule, LightningModule
from torch.utils.data import DataLoader, Dataset

from pianoeval.data.splits import Split
from pianoeval.errors import ParameterError

__all__ = [
    "ArrayDataset",
    "ManifestDataModule",
    "RaterModule",
    "labels_from_segments",
    "load_feature_file",
    "synthetic_split",
]

FloatArray = npt.NDArray[np.float32]

#: Keys a batch may hold beyond the encoder inputs (``emb.*``, ``mel``).
TARGET_KEYS = (
    "y",
    "mask",
    "pseudo_y",
    "pseudo_w",
    "dataset_id",
    "group_id",
    "distill_target",
    "distill_mask",
)


class ArrayDataset(Dataset[dict[str, torch.Tensor]]):
    """Rows of several aligned arrays, served as one dictionary of tensors per row.

    Parameters
    ----------
    arrays : mapping of str to np.ndarray
        Every array has the same first dimension (rows).
    """

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        lengths = {k: len(v) for k, v in arrays.items()}
        if len(set(lengths.values())) > 1:
            raise ParameterError(f"arrays have different numbers of rows: {lengths}")
        self.tensors = {k: torch.as_tensor(np.ascontiguousarray(v)) for k, v in arrays.items()}
        self._n = next(iter(lengths.values()), 0)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


def labels_from_segments(
    segments: Sequence[Any], *, taxonomies: Sequence[str] | None = None
) -> dict[str, Any]:
    """Targets of manifest rows on the union of their dimensions.

    Parameters
    ----------
    segments : sequence of Segment
        Manifest rows (:func:`pianoeval.manifest.read_manifest`).
    taxonomies : sequence of str, optional
        Keep only these taxonomies (default: every taxonomy the rows label or pseudo-label).

    Returns
    -------
    dict
        ``dimensions`` (qualified names, :func:`~pianoeval.dims.union_dimensions` order),
        ``label_ranges`` (list of ``[lo, hi]``), ``y``/``mask``/``pseudo_y``/``pseudo_w``
        (float32, shape=(n_rows, n_out)), ``dataset_id``/``group_id`` (int64, shape=(n_rows,);
        group -1 where a row has no ``groups["excerpt"]``) and ``dataset_names``.

    Notes
    -----
    A pseudo-label without a ``pseudo_conf`` entry gets weight 1; a human label whose mask
    is 0 or whose value is None is left out (mask 0, value 0).
    """
    from pianoeval.dims import get_taxonomy, union_dimensions

    keep = set(taxonomies) if taxonomies is not None else None
    per_row = []
    for seg in segments:
        dims = []
        if seg.taxonomy is not None and (keep is None or seg.taxonomy in keep):
            tax = get_taxonomy(seg.taxonomy)
            dims += [tax[d] for d in seg.dims if d in tax]
        if seg.pseudo_labels and (keep is None or seg.pseudo_taxonomy in keep):
            ptax = get_taxonomy(seg.pseudo_taxonomy)
            dims += [ptax[d] for d in seg.pseudo_labels if d in ptax]
        per_row.append(dims)
    dimensions = union_dimensions(per_row)
    if not dimensions:
        raise ParameterError("the rows label no dimension of the taxonomies in play")
    col = {d.qualified_name: j for j, d in enumerate(dimensions)}
    n, m = len(segments), len(dimensions)
    y, mask = np.zeros((n, m), np.float32), np.zeros((n, m), np.float32)
    pseudo_y, pseudo_w = np.zeros((n, m), np.float32), np.zeros((n, m), np.float32)
    dataset_names = sorted({seg.dataset for seg in segments})
    dataset_index = {name: i for i, name in enumerate(dataset_names)}
    excerpts = sorted({seg.groups["excerpt"] for seg in segments if "excerpt" in seg.groups})
    group_index = {g: i for i, g in enumerate(excerpts)}
    dataset_id = np.array([dataset_index[s.dataset] for s in segments], np.int64)
    group_id = np.array([group_index.get(s.groups.get("excerpt", ""), -1) for s in segments])
    for i, seg in enumerate(segments):
        for d in seg.dims:
            j = col.get(f"{seg.taxonomy}.{d}")
            value = seg.labels.get(d)
            if j is not None and value is not None and seg.label_mask.get(d, 0) == 1:
                y[i, j], mask[i, j] = value, 1.0
        conf = seg.pseudo_conf or {}
        for d, value in (seg.pseudo_labels or {}).items():
            j = col.get(f"{seg.pseudo_taxonomy}.{d}")
            if j is not None:
                pseudo_y[i, j], pseudo_w[i, j] = value, conf.get(d, 1.0)
    return {
        "dimensions": [d.qualified_name for d in dimensions],
        "label_ranges": [list(get_taxonomy(d.taxonomy).value_range) for d in dimensions],
        "y": y,
        "mask": mask,
        "pseudo_y": pseudo_y,
        "pseudo_w": pseudo_w,
        "dataset_id": dataset_id,
        "group_id": group_id.astype(np.int64),
        "dataset_names": dataset_names,
    }


def load_feature_file(path: str | Path, segment_ids: Sequence[str]) -> FloatArray:
    """Read cached embeddings from ``.npz`` and align them to ``segment_ids``.

    The file holds ``embeddings`` (shape=(n, D)) and the segment id of each row as
    ``ids`` (what :func:`pianoeval.encoders.save_embeddings` writes) or ``segment_ids``;
    rows are matched by id, so the file may hold more segments than the manifest.

    Raises
    ------
    ParameterError
        If the file lacks a segment or either array.
    """
    with np.load(path, allow_pickle=False) as data:
        id_key = "ids" if "ids" in data else "segment_ids"
        if id_key not in data or "embeddings" not in data:
            raise ParameterError(f"{path}: needs arrays 'ids' (or 'segment_ids') and 'embeddings'")
        ids = [str(s) for s in data[id_key]]
        emb = np.asarray(data["embeddings"], np.float32)
    index = {s: i for i, s in enumerate(ids)}
    missing = [s for s in segment_ids if s not in index]
    if missing:
        raise ParameterError(f"{path}: no embedding for {len(missing)} segments, e.g. {missing[0]}")
    return emb[[index[s] for s in segment_ids]]


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def synthetic_split(
    segment_ids: Sequence[str], groups: Sequence[str], *, n_folds: int = 4, seed: int = 0
) -> Split:
    """Split synthetic rows by group: about 15 % of the groups test, the rest in folds."""
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    order = [names[i] for i in rng.permutation(len(names))]
    n_test = max(1, round(0.15 * len(order)))
    test_groups = set(order[:n_test])
    fold_of = {g: k % n_folds for k, g in enumerate(order[n_test:])}
    test = [s for s, g in zip(segment_ids, groups, strict=True) if g in test_groups]
    folds: list[list[str]] = [[] for _ in range(n_folds)]
    for s, g in zip(segment_ids, groups, strict=True):
        if g not in test_groups:
            folds[fold_of[g]].append(s)
    return Split(name="synthetic", group_key="excerpt", test=test, folds=folds, seed=seed)


class ManifestDataModule(LightningDataModule):
    """Batches of cached encoder inputs and targets for a set of manifest rows.

    Parameters
    ----------
    arrays : mapping of str to np.ndarray
        Encoder inputs (``emb.<encoder>`` [n, D], ``mel`` [n, 1, 128, 128]) and targets
        (keys of :data:`TARGET_KEYS`, at least ``dataset_id``), aligned to ``segment_ids``.
    segment_ids : sequence of str
    dimensions : sequence of str
        Qualified output dimension names (columns of ``y``).
    label_ranges : sequence of (float, float)
        Each dimension's stored range (predictions are clipped to it).
    dataset_names : sequence of str
        Names of the ``dataset_id`` values.
    split : Split, optional
        Where the train/val/test ids come from (with ``fold``).
    fold : int or None
        Validation fold of ``split``; None trains on all non-test rows without validation.
    train_ids, val_ids, test_ids : sequence of str, optional
        Explicit id lists (override ``split``).
    batch_size : int
    num_workers : int
    seed : int
        Seeds the shuffling of training batches.
    licences : sequence of str
        Licences of the rows' sources (for the model card).
    """

    def __init__(
        self,
        *,
        arrays: Mapping[str, np.ndarray],
        segment_ids: Sequence[str],
        dimensions: Sequence[str],
        label_ranges: Sequence[Sequence[float]],
        dataset_names: Sequence[str] = ("synthetic",),
        split: Split | None = None,
        fold: int | None = 0,
        train_ids: Sequence[str] | None = None,
        val_ids: Sequence[str] | None = None,
        test_ids: Sequence[str] | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        licences: Sequence[str] = (),
    ) -> None:
        super().__init__()
        if "dataset_id" not in arrays:
            raise ParameterError("arrays must hold 'dataset_id'")
        n = len(segment_ids)
        for key, value in arrays.items():
            if len(value) != n:
                raise ParameterError(f"array {key!r} has {len(value)} rows, not {n}")
        self.arrays = dict(arrays)
        self.segment_ids = list(segment_ids)
        self.dimensions = list(dimensions)
        self.label_ranges = [(float(lo), float(hi)) for lo, hi in label_ranges]
        self.dataset_names = list(dataset_names)
        self.split = split
        self.fold = fold
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.licences = sorted(set(licences))
        self._index = {s: i for i, s in enumerate(self.segment_ids)}
        if train_ids is not None:
            self.train_ids = list(train_ids)
            self.val_ids = list(val_ids or [])
            self.test_ids = list(test_ids or [])
        elif split is not None:
            present = set(self._index)
            va: list[str] = []
            if fold is None:
                tr = split.train_ids()
            else:
                tr, va = split.fold(fold)
            self.train_ids = [s for s in tr if s in present]
            self.val_ids = [s for s in va if s in present]
            self.test_ids = [s for s in split.test if s in present]
        else:
            self.train_ids, self.val_ids, self.test_ids = list(self.segment_ids), [], []
        unknown = [
            s for s in (*self.train_ids, *self.val_ids, *self.test_ids) if s not in self._index
        ]
        if unknown:
            raise ParameterError(f"{len(unknown)} split ids have no row, e.g. {unknown[0]!r}")
        if not self.train_ids:
            raise ParameterError("no training rows")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_segments(
        cls,
        segments: Sequence[Any],
        features: Mapping[str, np.ndarray],
        *,
        taxonomies: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> ManifestDataModule:
        """Build from manifest rows and arrays aligned to them.

        Parameters
        ----------
        segments : sequence of Segment
        features : mapping of str to np.ndarray
            ``emb.<encoder>`` [n_rows, D] and/or ``mel`` [n_rows, 1, 128, 128], row-aligned;
            optionally ``distill_target`` [n_rows, D_t] (a frozen symbolic embedding of the
            same segment; ``distill_mask`` defaults to 1 for every row).
        taxonomies : sequence of str, optional
            See :func:`labels_from_segments`.
        **kwargs
            Passed to the constructor (``split``, ``fold``, ids, ``batch_size``, ``seed``).
        """
        targets = labels_from_segments(segments, taxonomies=taxonomies)
        arrays: dict[str, np.ndarray] = {k: np.asarray(v, np.float32) for k, v in features.items()}
        for key in ("y", "mask", "pseudo_y", "pseudo_w", "dataset_id", "group_id"):
            arrays[key] = targets[key]
        if not targets["pseudo_w"].any():
            del arrays["pseudo_y"], arrays["pseudo_w"]
        return cls(
            arrays=arrays,
            segment_ids=[s.segment_id for s in segments],
            dimensions=targets["dimensions"],
            label_ranges=targets["label_ranges"],
            dataset_names=targets["dataset_names"],
            licences=[s.license for s in segments],
            **kwargs,
        )

    @classmethod
    def from_files(
        cls,
        *,
        manifest: str | Path,
        features: Mapping[str, str],
        embeddings: Iterable[str] | None = None,
        split: str | None = "performer",
        split_path: str | None = None,
        taxonomies: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> ManifestDataModule:
        """Build from a manifest file and ``.npz`` embedding files (see :func:`load_feature_file`).

        Parameters
        ----------
        manifest : path
        features : mapping of str to path
            Batch key (``emb.transkun``, or ``distill_target``) to its ``.npz`` file. Nested
            mappings are flattened with dots, so the override
            ``+data.features.emb.transkun=t.npz`` names the key ``emb.transkun``.
        embeddings : iterable of str, optional
            Keep only these keys of ``features`` (the encoder config's choice).
        split : str or None
            Committed split name (:func:`pianoeval.data.splits.load_split`).
        split_path : str, optional
            A split file instead of the committed one.
        """
        from pianoeval.data.splits import load_split
        from pianoeval.manifest import read_manifest

        features = _flatten(features)
        # Training reads cached embeddings, not the media: they need not be present here.
        segments = read_manifest(manifest, check_media=False)
        wanted = list(embeddings) if embeddings is not None else list(features)
        if "distill_target" in features and "distill_target" not in wanted:
            wanted.append("distill_target")
        missing = [k for k in wanted if k not in features and k != "mel"]
        if missing:
            raise ParameterError(f"no feature file for {missing}; give data.features.<key>=path")
        ids = [s.segment_id for s in segments]
        arrays = {k: load_feature_file(features[k], ids) for k in wanted if k in features}
        split_obj = load_split(split, split_path) if split is not None else None
        return cls.from_segments(segments, arrays, taxonomies=taxonomies, split=split_obj, **kwargs)

    @classmethod
    def synthetic(
        cls,
        *,
        embeddings: Sequence[str] = ("emb.synthetic",),
        width: int = 16,
        use_mel: bool = False,
        n_rows: int = 96,
        n_groups: int = 24,
        n_outputs: int = 4,
        n_datasets: int = 1,
        pseudo: bool = True,
        noise: float = 0.02,
        fold: int | None = 0,
        seed: int = 0,
        **kwargs: Any,
    ) -> ManifestDataModule:
        """Build a learnable synthetic problem, for tests, debugging and the DDP check.

        Each row's labels are a fixed smooth function of its embeddings (plus noise) in
        the PercePiano range [1/7, 1]; rows come in ``n_groups`` excerpts; about a quarter of
        the human labels are masked; pseudo-labels are the labels plus noise with
        confidences in [0.2, 1]. Splits group by excerpt (:func:`synthetic_split`).
        """
        rng = np.random.default_rng(seed)
        arrays: dict[str, np.ndarray] = {}
        latent = rng.normal(size=(n_rows, 4)).astype(np.float32)
        for k, key in enumerate(embeddings):
            mix = np.random.default_rng(seed + 1000 + k).normal(size=(4, width))
            emb = latent @ mix + 0.1 * rng.normal(size=(n_rows, width))
            arrays[key] = emb.astype(np.float32)
        if use_mel:
            base = rng.normal(size=(1, 1, 128, 128)).astype(np.float32)
            arrays["mel"] = (latent[:, :1, None, None] * base).astype(np.float32)
        weights = np.random.default_rng(seed + 7).normal(size=(4, n_outputs))
        y = (
            0.57
            + 0.12 * np.tanh(latent @ weights / 2)
            + noise * rng.normal(size=(n_rows, n_outputs))
        )
        y = np.clip(y, 1 / 7, 1).astype(np.float32)
        mask = (rng.random((n_rows, n_outputs)) > 0.25).astype(np.float32)
        arrays["y"], arrays["mask"] = y * mask, mask
        if pseudo:
            arrays["pseudo_y"] = np.clip(y + 0.03 * rng.normal(size=y.shape), 1 / 7, 1).astype(
                np.float32
            )
            arrays["pseudo_w"] = rng.uniform(0.2, 1.0, size=y.shape).astype(np.float32)
        groups = [f"x{i % n_groups:03d}" for i in range(n_rows)]
        arrays["group_id"] = np.array([i % n_groups for i in range(n_rows)], np.int64)
        arrays["dataset_id"] = (np.arange(n_rows) % n_datasets).astype(np.int64)
        ids = [f"syn_{i:04d}" for i in range(n_rows)]
        return cls(
            arrays=arrays,
            segment_ids=ids,
            dimensions=[f"percepiano19.d{j}" for j in range(n_outputs)],
            label_ranges=[(1 / 7, 1.0)] * n_outputs,
            dataset_names=[f"synthetic{d}" for d in range(n_datasets)],
            split=synthetic_split(ids, groups, seed=seed),
            fold=fold,
            seed=seed,
            licences=["MIT"],
            **kwargs,
        )

    def with_ids(
        self, train_ids: Sequence[str], val_ids: Sequence[str], test_ids: Sequence[str] = ()
    ) -> ManifestDataModule:
        """Return the same rows split by explicit ids (cross-validation builds one per fold)."""
        return ManifestDataModule(
            arrays=self.arrays,
            segment_ids=self.segment_ids,
            dimensions=self.dimensions,
            label_ranges=self.label_ranges,
            dataset_names=self.dataset_names,
            split=self.split,
            fold=self.fold,
            train_ids=train_ids,
            val_ids=val_ids,
            test_ids=test_ids,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            seed=self.seed,
            licences=self.licences,
        )

    # ------------------------------------------------------------------ properties
    @property
    def inputs(self) -> dict[str, int]:
        """Widths of the ``emb.*`` inputs (what FusionRater's ``inputs`` takes)."""
        return {k: int(v.shape[1]) for k, v in self.arrays.items() if k.startswith("emb.")}

    @property
    def distill_dim(self) -> int | None:
        """Width of ``distill_target`` when the rows carry one (else None)."""
        target = self.arrays.get("distill_target")
        return None if target is None else int(target.shape[1])

    @property
    def use_mel(self) -> bool:
        """Whether the batches hold a mel spectrogram."""
        return "mel" in self.arrays

    @property
    def n_outputs(self) -> int:
        """Number of output dimensions."""
        return len(self.dimensions)

    @property
    def n_datasets(self) -> int:
        """Number of datasets (size of the learned dataset embedding)."""
        return max(len(self.dataset_names), int(self.arrays["dataset_id"].max()) + 1)

    def rows(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Return the arrays of the rows ``ids`` (in that order)."""
        idx = np.array([self._index[s] for s in ids], dtype=np.int64)
        return {k: v[idx] for k, v in self.arrays.items()}

    # ------------------------------------------------------------------ loaders
    def _loader(self, ids: Sequence[str], *, shuffle: bool) -> DataLoader[dict[str, torch.Tensor]]:
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            ArrayDataset(self.rows(ids)),
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            generator=generator if shuffle else None,
        )

    def train_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        """Return shuffled training batches (seeded)."""
        return self._loader(self.train_ids, shuffle=True)

    def val_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        """Return validation batches (none when there is no validation set)."""
        return self._loader(self.val_ids, shuffle=False)

    def test_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        """Return test batches."""
        return self._loader(self.test_ids, shuffle=False)


def _masked_mae_per_dim(
    pred: np.ndarray, target: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, float]:
    """Per-column and overall weighted MAE (NaN where a column has no weight)."""
    w_col = weight.sum(axis=0)
    err = np.abs(pred - target) * weight
    with np.errstate(invalid="ignore", divide="ignore"):
        per_dim = np.where(w_col > 0, err.sum(axis=0) / np.maximum(w_col, 1e-12), np.nan)
    total = float(err.sum() / weight.sum()) if weight.sum() > 0 else float("nan")
    return per_dim, total


class RaterModule(LightningModule):
    """Lightning glue around a FusionRater: losses, AdamW, metrics.

    Parameters
    ----------
    net : torch.nn.Module
        A :class:`pianoeval.model.neural.FusionRater` (or anything with its forward).
    net_kwargs : mapping, optional
        The keyword arguments ``net`` was built with (saved in the rater bundle).
    dimensions : sequence of str
        Output dimension names, for the per-dimension metrics.
    lr, weight_decay : float
        AdamW settings.
    loss_kind : {"mae", "mse"}
        Human-label loss (``gaussian_nll`` is used by the model's heteroscedastic head).
    alpha, beta, rank_weight : float
        Weights of the pseudo-label, distillation and within-excerpt ranking terms.
    """

    def __init__(
        self,
        *,
        net: torch.nn.Module,
        net_kwargs: Mapping[str, Any] | None = None,
        dimensions: Sequence[str] = (),
        lr: float = 1e-3,
        weight_decay: float = 1e-2,
        loss_kind: str = "mae",
        alpha: float = 0.3,
        beta: float = 0.1,
        rank_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if loss_kind not in ("mae", "mse"):
            raise ParameterError(f"loss_kind must be 'mae' or 'mse', not {loss_kind!r}")
        self.net = net
        self.net_kwargs = dict(net_kwargs or {})
        self.dimensions = list(dimensions)
        self.lr, self.weight_decay = lr, weight_decay
        self.loss_kwargs: dict[str, Any] = {
            "kind": loss_kind,
            "alpha": alpha,
            "beta": beta,
            "rank_weight": rank_weight,
        }
        self.save_hyperparameters(ignore=["net"])
        self._val: list[dict[str, torch.Tensor]] = []

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Return the net's outputs for a batch."""
        out: dict[str, torch.Tensor] = self.net(batch)
        return out

    def _losses(
        self,
        batch: Mapping[str, torch.Tensor],
        out: Mapping[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        from pianoeval.model.losses import total_loss

        outputs = self(batch) if out is None else out
        losses: dict[str, torch.Tensor] = total_loss(outputs, batch, **self.loss_kwargs)
        return losses

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Take one optimisation step; logs every loss term as ``train/<term>``."""
        losses = self._losses(batch)
        n = int(batch["dataset_id"].shape[0])
        for name, value in losses.items():
            self.log(
                f"train/{name}",
                value,
                on_step=False,
                on_epoch=True,
                batch_size=n,
                prog_bar=name == "loss",
                sync_dist=True,
            )
        return losses["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Collect predictions; the metrics are computed over the whole epoch."""
        out = self(batch)
        # Distillation is a training signal only: validation ranks by the labels.
        no_distill = {k: v for k, v in batch.items() if not k.startswith("distill")}
        losses = self._losses(no_distill, out)
        n = int(batch["dataset_id"].shape[0])
        self.log("val/loss", losses["loss"], on_epoch=True, batch_size=n, sync_dist=True)
        keep = {"pred": out["mean"], "loss": losses["loss"].reshape(1).expand(n)}
        for key in ("y", "mask", "pseudo_y", "pseudo_w"):
            if key in batch:
                keep[key] = batch[key]
        self._val.append({k: v.detach() for k, v in keep.items()})

    def _gathered(self) -> dict[str, np.ndarray]:
        """Concatenate this epoch's validation rows, across every process under DDP."""
        cat = {k: torch.cat([b[k] for b in self._val]) for k in self._val[0]}
        self._val.clear()
        if self.trainer.world_size > 1:  # the sampler pads ranks to equal sizes
            gathered = {k: self.all_gather(v) for k, v in cat.items()}
            cat = {
                k: g.reshape(-1, *cat[k].shape[1:])
                for k, g in gathered.items()
                if isinstance(g, torch.Tensor)
            }
        return {k: v.cpu().float().numpy() for k, v in cat.items()}

    def on_validation_epoch_end(self) -> None:
        """Log ``val/human_mae`` and per-dimension human and pseudo MAE.

        Metrics are computed on the rows of every process (gathered), so each process
        logs the same keys and values.
        """
        if not self._val:
            return
        cat = self._gathered()
        names = self.dimensions or [str(j) for j in range(cat["pred"].shape[1])]
        overall = float("nan")
        if "mask" in cat:
            per_dim, overall = _masked_mae_per_dim(cat["pred"], cat["y"], cat["mask"])
            for name, value in zip(names, per_dim, strict=True):
                if np.isfinite(value):
                    self.log(f"val/mae_{name}", float(value))
        if "pseudo_w" in cat:
            per_dim, pseudo_total = _masked_mae_per_dim(
                cat["pred"], cat["pseudo_y"], cat["pseudo_w"]
            )
            for name, value in zip(names, per_dim, strict=True):
                if np.isfinite(value):
                    self.log(f"val/pseudo_mae_{name}", float(value))
            if np.isfinite(pseudo_total):
                self.log("val/pseudo_mae", pseudo_total)
        # With no human label in validation the checkpoint still needs a number to rank by.
        if not np.isfinite(overall):
            overall = float(cat["loss"].mean())
        self.log("val/human_mae", overall, prog_bar=True)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Log ``test/loss`` and ``test/human`` (the human-label term)."""
        batch_no_distill = {k: v for k, v in batch.items() if not k.startswith("distill")}
        losses = self._losses(batch_no_distill)
        n = int(batch["dataset_id"].shape[0])
        self.log("test/loss", losses["loss"], batch_size=n, sync_dist=True)
        self.log("test/human", losses["human"], batch_size=n, sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """AdamW over every trainable parameter."""
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)


def predict_arrays(
    net: torch.nn.Module, arrays: Mapping[str, np.ndarray], *, batch_size: int = 256
) -> FloatArray:
    """Run ``net`` in eval mode over row arrays; return ``mean`` [n, n_out] as float32."""
    keys = [k for k in arrays if k.startswith("emb.") or k in ("mel", "dataset_id")]
    n = len(arrays["dataset_id"])
    was_training = net.training
    net.eval()
    outs = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            batch = {k: torch.as_tensor(arrays[k][start : start + batch_size]) for k in keys}
            outs.append(net(batch)["mean"].float().cpu().numpy())
    net.train(was_training)
    return np.concatenate(outs).astype(np.float32)
