"""Export a trained run as a serving model that takes raw density maps.

The serving model wraps the trained network between the training-time preprocessing
(``log10`` and standardisation with the statistics stored in the prepared data's manifest) and,
for the classifier, a softmax; for the U-net, the inverse transform back to physical target
units. Users then feed ``(n, H, W, 1)`` density tiles in code units and get class probabilities
or energy-density maps, without this package.

``RUN/serving.keras`` holds it for Keras users; ``RUN/saved_model/`` is a TensorFlow SavedModel
(``model.export(..., format="tf_saved_model")``) whose ``serve`` signature gives the same outputs.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import keras
from keras import layers, ops

from .errors import ConfigError
from .io.atomic import atomic_dir, atomic_path
from .training import load_run

_LN10 = math.log(10.0)


@keras.saving.register_keras_serializable(package="crturb")
class Standardize(layers.Layer):
    """``(log10(x) - mean) / std`` (or without the log): the training normalisation of inputs."""

    def __init__(self, mean: float, std: float, log10: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mean, self.std, self.log10 = float(mean), float(std), bool(log10)

    def call(self, x):
        x = ops.cast(x, "float32")
        if self.log10:
            x = ops.log(ops.maximum(x, 1e-30)) / _LN10
        return (x - self.mean) / self.std

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "std": self.std, "log10": self.log10}


@keras.saving.register_keras_serializable(package="crturb")
class Unstandardize(layers.Layer):
    """Inverse of :class:`Standardize` per channel: back to physical target units."""

    def __init__(self, means: list[float], stds: list[float], log10: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.means, self.stds, self.log10 = [float(m) for m in means], [float(s) for s in stds], \
            bool(log10)

    def call(self, y):
        y = ops.cast(y, "float32") * ops.convert_to_tensor(self.stds) \
            + ops.convert_to_tensor(self.means)
        return ops.exp(y * _LN10) if self.log10 else y

    def get_config(self) -> dict:
        return {**super().get_config(), "means": self.means, "stds": self.stds,
                "log10": self.log10}


def build_serving_model(record: dict, model: keras.Model) -> keras.Model:
    """Wrap ``model`` with the preprocessing (and postprocessing) recorded in a run's config."""
    norm = record["data"]["normalization"]
    method = norm["input"]["method"]
    if method not in ("standardize", "none"):
        raise ConfigError(f"a model trained on {method!r}-normalised images cannot be served from "
                          f"raw maps (that normalisation depends on the whole cube or tile); "
                          f"prepare with --normalize standardize")
    mean = norm["input"].get("mean", 0.0) if method == "standardize" else 0.0
    std = norm["input"].get("std", 1.0) if method == "standardize" else 1.0
    inputs = keras.Input(shape=model.input_shape[1:], name="density")
    x = Standardize(mean, std, norm["input"]["log10"], name="standardize")(inputs)
    x = model(x)
    if record["config"]["task"] == "classify":
        outputs = layers.Softmax(name="probabilities", dtype="float32")(x)
    else:
        stats = [norm["targets"][t] for t in record["data"]["targets"]]
        outputs = Unstandardize([s["mean"] for s in stats], [s["std"] for s in stats],
                                stats[0]["log10"], name="targets_physical")(x)
    return keras.Model(inputs, outputs, name=f"{model.name}_serving")


def _complete(run: Path) -> bool:
    """Whether ``run`` holds a whole export: ``saved_model/`` and an intact ``serving.keras``."""
    serving = run / "serving.keras"
    if not (run / "saved_model").is_dir() or not zipfile.is_zipfile(serving):
        return False
    try:
        with zipfile.ZipFile(serving) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError):
        return False


def export(run_dir: str | os.PathLike, force: bool = False) -> Path:
    """Write ``serving.keras`` and the SavedModel ``saved_model/`` of a run; return the latter.

    A complete export (both present, ``serving.keras`` an intact archive) is kept unless
    ``force``; anything less is written again. Both are written under temporary names and
    renamed when complete (see :mod:`crturb_keras.io.atomic`).
    """
    run = Path(run_dir)
    target = run / "saved_model"
    if _complete(run) and not force:
        return target
    record, model = load_run(run)
    serving = build_serving_model(record, model)
    with atomic_dir(target, replace=True) as tmp:
        with atomic_path(run / "serving.keras") as serving_tmp:
            serving.save(serving_tmp)
        serving.export(str(tmp), format="tf_saved_model", verbose=False)
    return target
