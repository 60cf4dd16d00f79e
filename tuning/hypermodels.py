"""keras-tuner HyperModels that wrap the package's own model builders (no second architecture).

A trial's hyperparameters override fields of a base :class:`~crturb_keras.runs.training.TrainConfig`;
the model comes from :func:`crturb_keras.runs.training.build_model`, the data and class weights from
:func:`crturb_keras.runs.training.fit_inputs`, early stopping and learning-rate reduction from
:func:`crturb_keras.runs.training.schedule_callbacks`: the same as in a normal training run. What
differs: a trial runs on one device (``distribute`` is ignored: the tuner's chief/worker mode
spreads trials over machines instead), writes no run directory and is not resumed epoch by epoch
(an interrupted search resumes trial by trial).
"""

from __future__ import annotations

import dataclasses

import keras
import keras_tuner as kt

from crturb_keras.data import load_manifest
from crturb_keras.runs.training import TrainConfig, build_model, fit_inputs, schedule_callbacks

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
        train, val, weights = fit_inputs(config, self.manifest)
        kwargs.setdefault("epochs", config.epochs)
        kwargs.setdefault("verbose", 0)
        return model.fit(train, validation_data=val, shuffle=False, class_weight=weights,
                         steps_per_epoch=config.steps_per_epoch or None,
                         callbacks=[*schedule_callbacks(config), keras.callbacks.TerminateOnNaN(),
                                    *(callbacks or [])], **kwargs)
