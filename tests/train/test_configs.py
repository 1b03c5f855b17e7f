"""Every config group option composes, and the model and datamodule instantiate from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pianoeval.errors import BackendUnavailableError, ParameterError
from pianoeval.train.run import build_callbacks, build_loggers, build_module, compose

CONF = Path(__file__).resolve().parents[2] / "src" / "pianoeval" / "conf"


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_every_group_has_options() -> None:
    for group in ("data", "encoder", "model", "trainer", "logger", "experiment", "debug"):
        assert _options(group), group


@pytest.mark.parametrize("config_name", ["train", "cv"])
def test_primary_configs_compose(config_name: str) -> None:
    cfg = compose(config_name)
    assert cfg.data._target_.endswith("ManifestDataModule.synthetic")
    assert cfg.trainer.accelerator == "cpu"
    assert cfg.callbacks.model_checkpoint.monitor == "val/human_mae"
    if config_name == "cv":
        assert cfg.split == "excerpt"


@pytest.mark.parametrize("option", _options("encoder"))
def test_encoder_options_build_model_and_datamodule(option: str) -> None:
    cfg = compose("train", [f"encoder={option}", "debug=default"])
    from hydra.utils import instantiate

    dm = instantiate(cfg.data)
    assert set(dm.inputs) == set(cfg.encoder.embeddings)
    assert dm.use_mel == cfg.encoder.use_mel
    module = build_module(cfg, dm)
    assert module.net_kwargs["inputs"] == dm.inputs
    assert module.net_kwargs["hidden"] == 16


@pytest.mark.parametrize("option", _options("model"))
def test_model_options_compose(option: str) -> None:
    cfg = compose("train", [f"model={option}", "debug=default"])
    from hydra.utils import instantiate

    module = build_module(cfg, instantiate(cfg.data))
    assert module.net_kwargs["heteroscedastic"] == (option == "heteroscedastic")


@pytest.mark.parametrize("option", _options("trainer"))
def test_trainer_options_compose(option: str) -> None:
    cfg = compose("train", [f"trainer={option}"])
    assert cfg.trainer._target_ == "lightning.pytorch.Trainer"
    if option == "ddp":
        assert cfg.trainer.devices == 2
        assert cfg.trainer.strategy.process_group_backend == "gloo"


@pytest.mark.parametrize("option", _options("debug"))
def test_debug_options_compose_and_build_callbacks(option: str) -> None:
    cfg = compose("train", [f"debug={option}"])
    assert cfg.trainer.max_epochs <= 30
    callbacks = build_callbacks(cfg, has_val=True)
    names = {type(c).__name__ for c in callbacks}
    assert "ModelCheckpoint" in names
    assert ("EarlyStopping" in names) == (option != "overfit")


def test_experiment_composes_on_manifest_data() -> None:
    cfg = compose("train", ["experiment=example"])
    assert cfg.data._target_.endswith("from_files")
    assert list(cfg.encoder.embeddings) == ["emb.transkun", "emb.symbolic"]
    assert cfg.model.net.heteroscedastic is True
    assert cfg.model.net.dropout == 0.3


@pytest.mark.parametrize("option", _options("logger"))
def test_logger_options_instantiate_or_say_what_is_missing(option: str, tmp_path: Path) -> None:
    import importlib.util

    cfg = compose("train", [f"logger={option}", f"paths.output_dir={tmp_path}"])
    package = {"tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb"}.get(option)
    if package is not None and importlib.util.find_spec(package) is None:
        with pytest.raises(BackendUnavailableError, match=f"pip install {package}"):
            build_loggers(cfg)
    else:
        loggers = build_loggers(cfg)
        assert len(loggers) == (0 if option == "none" else 1)


@pytest.mark.parametrize(
    "override", ["model.net.hiddn=3", "encoder=nonexistent", "trainer.max_epochs=[", "debug"]
)
def test_bad_overrides_are_parameter_errors(override: str) -> None:
    with pytest.raises(ParameterError, match="bad config override"):
        compose("train", [override])
