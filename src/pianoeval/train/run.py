"""Hydra entry points of neural training: ``train`` and ``cv``.

:func:`compose` builds a config from the groups shipped in :mod:`pianoeval.conf` and
command-line style overrides; :func:`train` fits one :class:`~pianoeval.train.neural.RaterModule`
(best checkpoint on ``val/human_mae``, early stopping) and writes a rater bundle
(:func:`pianoeval.rater.neural_bundle.save_neural_rater`); :func:`cross_validate_neural`
trains one model per fold of a split, pools the out-of-fold predictions, rates the test
set with the mean of the fold models and writes a Markdown report. Both run inside
:func:`task_wrapper`, which logs, cleans up and re-raises (lightning-hydra-template's
``task_wrapper``).

Run as a module for DDP: Lightning's ``ddp`` strategy starts the other processes by
running the same command again, so ``python -m pianoeval.train.run train trainer=ddp``
works as ``pianoeval train trainer=ddp`` does.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import numpy as np

from pianoeval.errors import BackendUnavailableError, ParameterError

if TYPE_CHECKING:
    import lightning
    from lightning.pytorch.callbacks import ModelCheckpoint
    from omegaconf import DictConfig

    from pianoeval.train.neural import ManifestDataModule, RaterModule

__all__ = [
    "CVResult",
    "TrainResult",
    "build_datamodule",
    "build_module",
    "compose",
    "cross_validate_neural",
    "main",
    "task_wrapper",
    "train",
]

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: Logger classes whose package pianoeval[train] does not install, and that package.
LOGGER_PACKAGES = {
    "TensorBoardLogger": "tensorboard",
    "MLFlowLogger": "mlflow",
    "WandbLogger": "wandb",
}


def compose(config_name: str = "train", overrides: Sequence[str] = ()) -> DictConfig:
    """Compose a config from :mod:`pianoeval.conf` with Hydra overrides.

    Parameters
    ----------
    config_name : {"train", "cv"}
    overrides : sequence of str
        Hydra override strings (``model.net.hidden=64``, ``trainer=ddp``, ``debug=default``).

    Raises
    ------
    ParameterError
        If an override cannot be parsed or names an unknown group option or key.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_module("pianoeval.conf", version_base="1.3"):
            return hydra_compose(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as e:
        raise ParameterError(f"bad config override: {e}") from None


def task_wrapper(task: Callable[P, R]) -> Callable[P, R]:
    """Log a task's failure, close open loggers (W&B) and re-raise."""

    @functools.wraps(task)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return task(*args, **kwargs)
        except Exception:
            log.exception("task %s failed", task.__name__)
            raise
        finally:
            wandb = sys.modules.get("wandb")  # optional: close its run if one was started
            if wandb is not None:  # pragma: no cover
                wandb.finish()

    return wrapped


def _instantiate(node: Any, **kwargs: Any) -> Any:
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        raise ParameterError(f"cannot build {node.get('_target_')}: {e}") from None


def build_datamodule(cfg: DictConfig, **overrides: Any) -> ManifestDataModule:
    """Instantiate ``cfg.data`` (keyword ``overrides`` replace config values)."""
    dm: ManifestDataModule = _instantiate(cfg.data, **overrides)
    return dm


def build_module(cfg: DictConfig, dm: ManifestDataModule) -> RaterModule:
    """Instantiate the FusionRater of ``cfg.model`` for ``dm``'s inputs, inside a RaterModule.

    Input widths, output and dataset counts come from the data; so does ``distill_dim``
    when the rows carry a ``distill_target`` and the config leaves it null.
    """
    from omegaconf import OmegaConf

    from pianoeval.train.neural import RaterModule

    shape: dict[str, Any] = {
        "inputs": dm.inputs,
        "n_outputs": dm.n_outputs,
        "n_datasets": dm.n_datasets,
    }
    # Rows with a distillation target get a projection head of its width (training only).
    if dm.distill_dim is not None and cfg.model.net.get("distill_dim") is None:
        shape["distill_dim"] = dm.distill_dim
    factory = _instantiate(cfg.model.net)  # partial: the shape comes from the data
    net = factory(**shape) if isinstance(factory, functools.partial) else factory
    net_kwargs = {
        str(k): v
        for k, v in OmegaConf.to_container(cfg.model.net, resolve=True).items()  # type: ignore[union-attr]
        if not str(k).startswith("_")
    }
    net_kwargs.update(shape)
    return RaterModule(
        net=net,
        net_kwargs=net_kwargs,
        dimensions=dm.dimensions,
        lr=cfg.model.optimizer.lr,
        weight_decay=cfg.model.optimizer.weight_decay,
        loss_kind=cfg.model.loss.kind,
        alpha=cfg.model.loss.alpha,
        beta=cfg.model.loss.beta,
        rank_weight=cfg.model.loss.rank_weight,
    )


def build_loggers(cfg: DictConfig) -> list[Any]:
    """Instantiate ``cfg.logger`` entries; a logger whose package is missing is an error.

    Raises
    ------
    BackendUnavailableError
        If a selected logger's package (tensorboard, mlflow, wandb) is not installed.
    """
    loggers = []
    for node in (cfg.get("logger") or {}).values():
        if node is None:
            continue
        cls = str(node.get("_target_", "")).rsplit(".", 1)[-1]
        package = LOGGER_PACKAGES.get(cls)
        if package is not None and importlib.util.find_spec(package) is None:
            raise BackendUnavailableError(
                f"the {cls} logger", f"pip install {package}", "its package is not installed"
            )
        loggers.append(_instantiate(node))
    return loggers


def build_callbacks(cfg: DictConfig, *, has_val: bool) -> list[Any]:
    """Instantiate ``cfg.callbacks``; without validation data, rank by ``train/loss``.

    The progress bar is left out when ``trainer.enable_progress_bar`` is false, and early
    stopping when there is no validation data.
    """
    from omegaconf import OmegaConf

    callbacks = []
    for name, node in (cfg.get("callbacks") or {}).items():
        if node is None:
            continue
        if "ProgressBar" in str(node.get("_target_", "")) and not cfg.trainer.get(
            "enable_progress_bar", True
        ):
            continue
        if not has_val and "monitor" in node:
            if name == "early_stopping":
                continue
            node = OmegaConf.merge(node, {"monitor": "train/loss"})
        callbacks.append(_instantiate(node))
    return callbacks


def _checkpoint(trainer: lightning.Trainer) -> ModelCheckpoint | None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    cb = trainer.checkpoint_callback
    return cb if isinstance(cb, ModelCheckpoint) else None


def _fit(
    cfg: DictConfig, dm: ManifestDataModule, *, output_dir: Path
) -> tuple[RaterModule, lightning.Trainer, str]:
    """Fit one model; return the module with its best weights, the trainer and the ckpt path."""
    import lightning
    import torch
    from omegaconf import OmegaConf

    lightning.seed_everything(cfg.seed, workers=True)
    module = build_module(cfg, dm)
    run_cfg = cast("DictConfig", OmegaConf.merge(cfg, {"paths": {"output_dir": str(output_dir)}}))
    has_val = bool(dm.val_ids)
    trainer_kwargs: dict[str, Any] = {
        "callbacks": build_callbacks(run_cfg, has_val=has_val),
        "logger": build_loggers(run_cfg) or False,
    }
    if not has_val:
        trainer_kwargs["limit_val_batches"] = 0
    trainer: lightning.Trainer = _instantiate(run_cfg.trainer, **trainer_kwargs)
    trainer.fit(module, datamodule=dm)
    best = ""
    ckpt_cb = _checkpoint(trainer)
    if ckpt_cb is not None and ckpt_cb.best_model_path:
        best = str(ckpt_cb.best_model_path)
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    return module, trainer, best


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    bundle_dir: Path | None
    best_checkpoint: str
    metrics: dict[str, float] = field(default_factory=dict)


def _metrics(trainer: Any) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in trainer.callback_metrics.items()
        if np.ndim(v) == 0 and np.isfinite(float(v))
    }


def _plain(cfg: DictConfig) -> dict[str, Any]:
    from omegaconf import OmegaConf

    out: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    return out


@task_wrapper
def train(cfg: DictConfig) -> TrainResult:
    """Train one rater as ``cfg`` says and write its bundle to ``cfg.paths.bundle_dir``.

    Returns
    -------
    TrainResult
        Bundle directory (None on non-zero DDP ranks), best checkpoint, final metrics.
    """
    from pianoeval.rater.neural_bundle import save_neural_rater

    dm = build_datamodule(cfg)
    module, trainer, best = _fit(cfg, dm, output_dir=Path(cfg.paths.output_dir))
    metrics = _metrics(trainer)  # the last epoch's; testing replaces callback_metrics
    ckpt_cb = _checkpoint(trainer)
    best_score = ckpt_cb.best_model_score if ckpt_cb is not None else None
    if best_score is not None and ckpt_cb is not None:
        metrics[f"best {ckpt_cb.monitor}"] = float(best_score)
    if cfg.get("test") and dm.test_ids:
        trainer.test(module, datamodule=dm, verbose=False)
        metrics.update(_metrics(trainer))
    bundle: Path | None = None
    if trainer.is_global_zero:
        figures = {k: v for k, v in metrics.items() if k.startswith(("val/", "test/", "best "))}
        bundle = save_neural_rater(
            module,
            cfg.paths.bundle_dir,
            dimensions=dm.dimensions,
            label_ranges=dm.label_ranges,
            config=_plain(cfg),
            training={
                "rows": len(dm.train_ids),
                "validation rows": len(dm.val_ids),
                "test rows": len(dm.test_ids),
                "datasets": ", ".join(dm.dataset_names),
                "split": getattr(dm.split, "name", "explicit ids"),
                "fold": dm.fold,
            },
            licences=dm.licences,
            figures=figures,
            model_id=str(cfg.model_id),
        )
    return TrainResult(bundle_dir=bundle, best_checkpoint=best, metrics=metrics)


@dataclass
class CVResult:
    """What :func:`cross_validate_neural` measured (mean R2 over human-labelled dimensions)."""

    split: str
    fold_r2: list[float]
    cv_r2: float
    test_r2: float | None
    per_dim_cv: dict[str, float]
    per_dim_test: dict[str, float]
    report_path: Path


def _r2_on_labelled(
    pred: np.ndarray, y: np.ndarray, mask: np.ndarray, dims: Sequence[str]
) -> tuple[float, dict[str, float]]:
    """Pooled R2 per dimension over the rows that label it; mean over dimensions."""
    from pianoeval.metrics import r2_per_dim

    per_dim: dict[str, float] = {}
    for j, name in enumerate(dims):
        rows = mask[:, j] > 0
        if rows.sum() >= 2:
            per_dim[name] = float(r2_per_dim(y[rows, j], pred[rows, j])[0])
    finite = [v for v in per_dim.values() if np.isfinite(v)]
    return (float(np.mean(finite)) if finite else float("nan")), per_dim


def _plot(per_dim: Mapping[str, float], path: Path, title: str) -> bool:
    if importlib.util.find_spec("matplotlib") is None:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.3 * len(per_dim) + 1.5))
    ax.barh(list(per_dim), list(per_dim.values()))
    ax.set_xlabel("R2")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


@task_wrapper
def cross_validate_neural(cfg: DictConfig, split: str | None = None) -> CVResult:
    """Train on every fold of a split, rate the test set, write ``report.md``.

    Parameters
    ----------
    cfg : DictConfig
        A ``cv`` config (:func:`compose`).
    split : {"excerpt", "performer", "work"}, optional
        Overrides ``cfg.split``; for manifest data it selects the committed split.

    Returns
    -------
    CVResult
        Per-fold R2, the pooled out-of-fold R2 (CV), the test R2 of the fold models'
        mean prediction, per-dimension R2 and the report path.
    """
    from pianoeval.train.neural import predict_arrays

    split_name = split or str(cfg.get("split", "excerpt"))
    if split_name not in ("excerpt", "performer", "work"):
        raise ParameterError(f"--split must be excerpt, performer or work, not {split_name!r}")
    is_manifest = str(cfg.data._target_).endswith("from_files")
    dm = build_datamodule(cfg, **({"split": split_name} if is_manifest else {}))
    if dm.split is None:
        raise ParameterError("cross-validation needs data with a split")
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    folds, fold_r2 = [], []
    oof_ids: list[str] = []
    oof_pred: list[np.ndarray] = []
    test_preds: list[np.ndarray] = []
    for f in range(dm.split.n_folds):
        tr, va = dm.split.fold(f)
        present = set(dm.segment_ids)
        fold_dm = dm.with_ids(
            [s for s in tr if s in present], [s for s in va if s in present], dm.test_ids
        )
        module, _, _ = _fit(cfg, fold_dm, output_dir=out_dir / f"fold{f}")
        val_rows = fold_dm.rows(fold_dm.val_ids)
        pred = predict_arrays(module.net, val_rows)
        r2, _ = _r2_on_labelled(pred, val_rows["y"], val_rows["mask"], dm.dimensions)
        fold_r2.append(r2)
        folds.append(f)
        oof_ids += fold_dm.val_ids
        oof_pred.append(pred)
        if dm.test_ids:
            test_preds.append(predict_arrays(module.net, fold_dm.rows(dm.test_ids)))
    oof = dm.rows(oof_ids)
    cv_r2, per_dim_cv = _r2_on_labelled(
        np.concatenate(oof_pred), oof["y"], oof["mask"], dm.dimensions
    )
    test_r2: float | None = None
    per_dim_test: dict[str, float] = {}
    if test_preds:
        test = dm.rows(dm.test_ids)
        test_r2, per_dim_test = _r2_on_labelled(
            np.mean(test_preds, axis=0), test["y"], test["mask"], dm.dimensions
        )
    report = out_dir / "report.md"
    lines = [
        f"# Cross-validation: {split_name} split",
        "",
        f"- data: {cfg.data._target_.rsplit('.', 1)[-1]} ({len(dm.segment_ids)} rows), "
        f"encoder: {cfg.encoder.name}, model_id: {cfg.model_id}",
        f"- folds: {dm.split.n_folds}; test rows: {len(dm.test_ids)} "
        "(rated by the mean of the fold models)",
        "- mean R2: pooled over rows, per dimension (rows that label it), mean over dimensions",
        "",
        "| | mean R2 |",
        "| --- | --- |",
        *[f"| fold {f} | {r:.4f} |" for f, r in zip(folds, fold_r2, strict=True)],
        f"| CV (pooled out-of-fold) | {cv_r2:.4f} |",
        f"| test | {test_r2:.4f} |" if test_r2 is not None else "| test | (no test set) |",
        "",
        "## Per dimension",
        "",
        "| dimension | CV R2 | test R2 |",
        "| --- | --- | --- |",
    ]
    for name in dm.dimensions:
        cv_v = per_dim_cv.get(name, float("nan"))
        te_v = per_dim_test.get(name, float("nan"))
        lines.append(f"| {name} | {cv_v:.4f} | {te_v:.4f} |")
    lines.append("")
    if cfg.get("plots", True):
        if _plot(per_dim_cv, out_dir / "r2_cv.png", f"CV R2 per dimension ({split_name})"):
            lines += ["![CV R2 per dimension](r2_cv.png)", ""]
        else:
            lines += ["(Plots skipped: matplotlib is not installed.)", ""]
    report.write_text("\n".join(lines), encoding="utf-8")
    (out_dir / "cv.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "split": split_name,
                "fold_r2": fold_r2,
                "cv_r2": cv_r2,
                "test_r2": test_r2,
                "per_dim_cv": per_dim_cv,
                "per_dim_test": per_dim_test,
                "config": _plain(cfg),
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    return CVResult(split_name, fold_r2, cv_r2, test_r2, per_dim_cv, per_dim_test, report)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pianoeval.train.run train|cv [overrides...]`` (used by DDP's launcher)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("train", "cv"):
        print("usage: python -m pianoeval.train.run train|cv [overrides...]", file=sys.stderr)
        return 2
    cfg = compose(args[0], args[1:])
    if args[0] == "train":
        result = train(cfg)
        if result.bundle_dir is not None:
            print(f"bundle: {result.bundle_dir}")
    else:
        print(f"report: {cross_validate_neural(cfg).report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
