"""Baselines that show what a CNN adds beyond simple image statistics.

* majority class: always predict the most common training class;
* logistic regression (scikit-learn) on per-tile one-point statistics (mean, standard deviation,
  skewness, kurtosis) and the fraction of power in four radial wavenumber bands;
* for the map task, a per-pixel linear fit ``target = a * input + b`` (what a local adiabat
  ``Ec ~ rho**gamma`` would give after the log).
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .spectra import radial_power_spectrum

FEATURES = ("mean", "std", "skewness", "kurtosis", "power_k1", "power_k2", "power_k3", "power_k4")


def image_features(images: np.ndarray) -> np.ndarray:
    """Per-tile statistics ``(n, 8)`` of images ``(n, H, W)`` or ``(n, H, W, 1)``.

    Columns: mean, std, skewness, excess kurtosis, and the fractions of the tile's power in four
    logarithmic wavenumber bands between k = 1 and k = H/2.
    """
    data = np.asarray(images, dtype=np.float64).reshape(len(images), images.shape[1], images.shape[2])
    flat = data.reshape(len(data), -1)
    one_point = np.column_stack([flat.mean(axis=1), flat.std(axis=1), stats.skew(flat, axis=1),
                                 stats.kurtosis(flat, axis=1)])
    edges = np.geomspace(1, data.shape[1] // 2 + 1, 5)
    bands = []
    for image in data:
        k, power = radial_power_spectrum(image)
        total = power.sum() or 1.0
        bands.append([power[(k >= lo) & (k < hi)].sum() / total for lo, hi in zip(edges, edges[1:])])
    return np.column_stack([one_point, np.asarray(bands)])


def logistic_baseline(train_images: np.ndarray, train_labels: np.ndarray, seed: int = 0):
    """Fit standardised features -> logistic regression; returns the fitted scikit-learn pipeline."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    return model.fit(image_features(train_images), train_labels)


def majority_class(train_labels: np.ndarray) -> int:
    """Most common training label."""
    return int(np.bincount(train_labels).argmax())


def pixel_linear_baseline(train_inputs: np.ndarray, train_targets: np.ndarray) -> np.ndarray:
    """Least-squares ``(a, b)`` per target channel of ``target = a * input + b`` over all pixels.

    Returns an array ``(T, 2)``.
    """
    x = train_inputs[..., 0].ravel()
    design = np.column_stack([x, np.ones_like(x)])
    return np.array([np.linalg.lstsq(design, train_targets[..., t].ravel(), rcond=None)[0]
                     for t in range(train_targets.shape[-1])])
