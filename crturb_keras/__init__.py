"""crturb-keras: learn cosmic-ray transport in turbulent, magnetised gas from density maps.

The public API is re-exported here; see README.md for the command-line jobs. Names that need
Keras/TensorFlow (models, training, generative models, evaluation, export, prediction,
``make_dataset``) are loaded on first use, so reading data and simulating never pay for importing
TensorFlow.
"""

import importlib
import os
import sys

# TensorFlow turns on its oneDNN kernels by default only on CPUs with AVX512_VNNI/BF16, AVX_VNNI
# or AMX (tensorflow/core/util/port.cc); on AVX2-only CPUs (AMD EPYC Zen 2/3, older Xeons) it
# falls back to Eigen, which trained the default classifier at half the speed (480 vs 950 img/s
# with oneDNN capped at AVX2, README "Benchmarks"). Only effective before TensorFlow is
# imported; a user's own setting wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from ._version import __version__  # noqa: E402
from .errors import ConfigError, CrturbError, DataFormatError, SplitError
from .io import (
    FitsMap,
    cycle_outputs,
    read_athdf,
    read_fits_cube,
    read_fits_map,
    write_athdf,
    write_fits_cube,
    write_fits_map,
)
from .simulate import CLASSES, SurrogateConfig, simulate, simulate_class
from .data import PrepareConfig, discover_sources, prepare
from .snapshot import Snapshot

_LAZY = {
    "make_dataset": "crturb_keras.data.pipeline",
    "build_classifier": "crturb_keras.models",
    "build_unet": "crturb_keras.models",
    "predict_batches": "crturb_keras.models",
    "TrainConfig": "crturb_keras.runs.training",
    "train": "crturb_keras.runs.training",
    "evaluate": "crturb_keras.runs.evaluation",
    "export": "crturb_keras.runs.export",
    "predict_map": "crturb_keras.runs.predict",
    "train_repeats": "crturb_keras.runs.repeats",
    "science_report": "crturb_keras.runs.report",
    "DiffusionModel": "crturb_keras.models",
    "build_denoiser": "crturb_keras.models",
    "build_autoencoder": "crturb_keras.models",
    "GenerateConfig": "crturb_keras.generative",
    "train_generator": "crturb_keras.generative",
    "load_generator": "crturb_keras.generative",
    "evaluate_generator": "crturb_keras.generative",
    "MHDConfig": "crturb_keras.simulate.mhd",
    "simulate_mhd": "crturb_keras.simulate.mhd",
    "simulate_ensemble": "crturb_keras.simulate.mhd",
    "RunSpec": "crturb_keras.simulate.mhd",
    "join_hosts": "crturb_keras.simulate.mhd",
    "evolve_snapshots": "crturb_keras.simulate.mhd",
    "preset_config": "crturb_keras.simulate.mhd",
}


if "keras" in sys.modules:
    # Keras is loaded already, so registering the package's custom models costs nothing: then a
    # generative run's model.keras loads with plain keras.saving.load_model (classifier and U-net
    # runs are saved in stock layers and need nothing). Without Keras loaded they register on
    # first use of a model name, so that simulating never imports TensorFlow.
    importlib.import_module("crturb_keras.models")


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "CLASSES",
    "DiffusionModel",
    "GenerateConfig",
    "MHDConfig",
    "evolve_snapshots",
    "preset_config",
    "simulate_mhd",
    "simulate_ensemble",
    "RunSpec",
    "join_hosts",
    "build_autoencoder",
    "build_denoiser",
    "evaluate_generator",
    "load_generator",
    "train_generator",
    "PrepareConfig",
    "TrainConfig",
    "build_classifier",
    "build_unet",
    "discover_sources",
    "evaluate",
    "export",
    "make_dataset",
    "predict_batches",
    "predict_map",
    "prepare",
    "science_report",
    "train",
    "train_repeats",
    "ConfigError",
    "CrturbError",
    "DataFormatError",
    "FitsMap",
    "Snapshot",
    "SplitError",
    "SurrogateConfig",
    "__version__",
    "cycle_outputs",
    "read_athdf",
    "read_fits_cube",
    "read_fits_map",
    "simulate",
    "simulate_class",
    "write_athdf",
    "write_fits_cube",
    "write_fits_map",
]
