"""Figures, one function each, by stage, drawn with matplotlib's object API (no GUI backend
needed); every figure is written atomically."""

from ._figure import sky_axes
from .generative import plot_generated_statistics, plot_sample_grid
from .interpret import (
    plot_accuracy_lines,
    plot_blur_experiment,
    plot_class_mean_maps,
    plot_class_spectra,
    plot_grouped_bars,
    plot_saliency_grid,
    plot_sanity,
)
from .simulation import plot_mhd_history, plot_surrogate_overview
from .training import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_map_panels,
    plot_map_prediction,
    plot_predicted_fields,
    plot_reliability,
    plot_seed_bars,
)

__all__ = ["plot_accuracy_lines", "plot_blur_experiment", "plot_class_mean_maps",
           "plot_class_spectra", "plot_confusion_matrix", "plot_generated_statistics",
           "plot_grouped_bars", "plot_learning_curves", "plot_map_panels", "plot_map_prediction",
           "plot_mhd_history", "plot_predicted_fields", "plot_reliability", "plot_saliency_grid",
           "plot_sample_grid", "plot_sanity", "plot_seed_bars", "plot_surrogate_overview",
           "sky_axes"]
