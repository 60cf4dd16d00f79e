"""Generative models of turbulence maps, end to end: training and sampling (:mod:`.training`),
evaluation against the test split (:mod:`.evaluation`), and samples written as FITS maps
(:mod:`.samples`). The networks themselves live in :mod:`crturb_keras.models` (diffusion,
autoencoder); everything here needs Keras.
"""

from .evaluation import evaluate_generator, metrics_table
from .samples import write_samples
from .training import GenerateConfig, load_generator, train_generator

__all__ = ["GenerateConfig", "evaluate_generator", "load_generator", "metrics_table",
           "train_generator", "write_samples"]
