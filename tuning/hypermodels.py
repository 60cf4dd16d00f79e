"""keras-tuner HyperModels that wrap the package's own model builders (no second architecture).

A trial's hyperparameters override fields of a base :class:`~crturb_keras.training.TrainConfig`;
the model comes from :func:`crturb_keras.training.build_model`, the data from
:func:`crturb_keras.data.make_dataset`, exactly as in a normal training run.
"""

from __future__ import annotations

import dataclasses

import keras
import keras_tuner as kt

from crturb_keras.data import make_dataset
from crturb_keras.data.store import load_manifest
from crturb_keras.training import TrainConfig, build_model

from .space import register


class CrturbHyperModel(kt.HyperModel):
    """HyperModel for the classifier (``task="classify"``) or the U-net (``task="map"``).

    Parameters
    ----------
    base : TrainConfig
        Fixed settings (data, task, epochs per trial, patience, ...).
    space : dict
        Search space (see :mod:`tuning.space`).
    """

    def __init__(self, base: TrainConfig, space: dict) -> None:
        super().__init__(name=f"crturb_{base.task}")
        self.base = base
        self.space = space
        self.manifest = load_manifest(base.data)

    def config_for(self, hp) -> TrainConfig:
        """The TrainConfig of one trial: base settings with the trial's values."""
        return dataclasses.replace(self.base, **register(hp, self.space))

    def build(self, hp) -> keras.Model:
        return build_model(self.config_for(hp), self.manifest)

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        config = self.config_for(hp)
        task = "classify" if config.task == "classify" else "map"
        common = dict(task=task, batch_size=config.batch_size, kind=config.kind, seed=config.seed)
        train = make_dataset(config.data, "train", **common)
        val = make_dataset(config.data, "val", **common)
        stop = keras.callbacks.EarlyStopping("val_loss", patience=config.patience,
                                             restore_best_weights=True)
        kwargs.setdefault("epochs", config.epochs)
        kwargs.setdefault("verbose", 0)
        return model.fit(train, validation_data=val, shuffle=False,
                         callbacks=[stop, keras.callbacks.TerminateOnNaN(), *(callbacks or [])],
                         **kwargs)
