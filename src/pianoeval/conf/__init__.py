"""Hydra configs of neural training, shipped inside the package.

Composed with ``hydra.initialize_config_module("pianoeval.conf")`` by
:mod:`pianoeval.train.run`; the groups follow lightning-hydra-template (data, encoder,
model, trainer, callbacks, logger, experiment, debug). See ``docs/training.md``.
"""
