"""Interpretation: saliency (tf-keras-vis, TensorFlow backend), occlusion, sanity checks,
per-class spectra, and the blur / flattened-spectrum / projection-depth experiments."""

from .experiments import blur_experiment, depth_experiment, flatten_experiment
from .report import interpret
from .saliency import cascading_randomization, mass_fraction, occlusion_maps, saliency_maps
from .class_spectra import class_spectra, ratio_to

__all__ = [
    "blur_experiment",
    "cascading_randomization",
    "class_spectra",
    "depth_experiment",
    "flatten_experiment",
    "interpret",
    "mass_fraction",
    "occlusion_maps",
    "ratio_to",
    "saliency_maps",
]
