"""Baselines that show what a CNN adds beyond simple image statistics.

* majority class: always predict the most common training class;
* logistic regression (scikit-learn) on per-tile one-point statistics (mean, standard deviation,
  skewness, kurtosis) and the fraction of power in four radial wavenumber bands;
* for the map task, a per-pixel linear fit ``target = a * input + b`` (what a local adiabat
  ``Ec ~ rho**gamma`` would give after the log).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .errors import DataFormatError
from .spectra import radial_power_spectrum

FEATURES = ("mean", "std", "skewness", "kurtosis", "power_k1", "power_k2", "power_k3", "power_k4")


def as_tiles(images: np.ndarray) -> np.ndarray:
    """Single-channel images ``(n, H, W)`` or ``(n, H, W, 1)`` as float64 tiles ``(n, H, W)``."""
    data = np.asarray(images, dtype=np.float64)
    if data.ndim == 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise DataFormatError(f"need single-channel images (n, H, W) or (n, H, W, 1), got "
                              f"{data.shape}")
    return data


def one_point_statistics(images: np.ndarray) -> np.ndarray:
    """Per-tile mean, standard deviation, skewness and excess kurtosis, shape ``(n, 4)``.

    ``images`` are ``(n, H, W)`` or ``(n, H, W, 1)``; moments are over all ``H * W`` pixels of a
    tile, in the units of the pixel values (skewness and kurtosis are dimensionless).
    """
    flat = as_tiles(images).reshape(len(images), -1)
    return np.column_stack([flat.mean(axis=1), flat.std(axis=1), stats.skew(flat, axis=1),
                            stats.kurtosis(flat, axis=1)])


def tile_spectra(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ring-integrated power spectrum of each tile (see ``spectra.radial_power_spectrum``).

    Returns wavenumbers ``k`` of shape ``(H // 2,)`` (cycles per tile) and powers ``(n, H // 2)``
    in squared pixel units.
    """
    data = as_tiles(images)
    spectra = [radial_power_spectrum(image) for image in data]
    return spectra[0][0], np.asarray([power for _, power in spectra])


def image_features(images: np.ndarray) -> np.ndarray:
    """Per-tile statistics ``(n, 8)`` of images ``(n, H, W)`` or ``(n, H, W, 1)``.

    Columns: mean, std, skewness, excess kurtosis, and the fractions of the tile's power in four
    logarithmic wavenumber bands between k = 1 and k = H/2.
    """
    k, power = tile_spectra(images)
    edges = np.geomspace(1, k[-1] + 1, 5)
    total = power.sum(axis=1, keepdims=True)
    total[total == 0] = 1.0
    bands = np.column_stack([power[:, (k >= lo) & (k < hi)].sum(axis=1)
                             for lo, hi in pairwise(edges)])
    return np.column_stack([one_point_statistics(images), bands / total])


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
