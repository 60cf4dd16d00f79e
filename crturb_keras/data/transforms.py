"""Image transforms: logarithm, normalisations, histogram equalisation, spectrum flattening, blur.

All functions take and return ``float32`` numpy arrays of images ``(H, W)`` or ``(n, H, W)``;
none of them mixes images of a batch. Images are periodic (cut from periodic boxes), so spectral
operations and the blur wrap around the edges.

Normalisations and where their statistics come from:

``minmax``      per cube: ``(x - min) / (max - min)`` with the cube's extremes (as the published
                notebooks did); the statistics come from one source cube at a time.
``standardize`` ``(x - mean) / std`` with statistics of the **training split only** (stored in the
                prepared dataset's manifest and applied unchanged to val/test and at serving time).
``equalize``    per tile histogram equalisation to ``[0, 1]`` (ranks), as the published notebooks.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.stats import rankdata

from ..errors import ConfigError, DataFormatError

NORMALIZATIONS = ("none", "minmax", "standardize", "equalize")


def log10(images: np.ndarray) -> np.ndarray:
    """``log10`` of positive data (density, energy density); raises on non-positive values."""
    data = np.asarray(images, dtype=np.float32)
    if np.any(data <= 0):
        raise DataFormatError(f"log10 needs positive values, found {int(np.sum(data <= 0))} <= 0")
    return np.log10(data)


def minmax(images: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Scale to ``[0, 1]`` with given extremes (those of the source cube)."""
    if not hi > lo:
        raise DataFormatError(f"minmax needs max > min, got min={lo}, max={hi}")
    return ((np.asarray(images, dtype=np.float32) - lo) / (hi - lo)).astype(np.float32)


def standardize(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """``(x - mean) / std`` with statistics measured on the training split."""
    if not std > 0:
        raise DataFormatError(f"standardize needs std > 0, got {std}")
    return ((np.asarray(images, dtype=np.float32) - mean) / std).astype(np.float32)


def equalize(images: np.ndarray) -> np.ndarray:
    """Histogram-equalise each image to ``[0, 1]``: each pixel becomes its rank quantile."""
    data = np.asarray(images, dtype=np.float32)
    flat = data.reshape(-1, data.shape[-2] * data.shape[-1])
    ranks = rankdata(flat, axis=1, method="average")
    return ((ranks - 1) / max(flat.shape[1] - 1, 1)).reshape(data.shape).astype(np.float32)


def flatten_power_spectrum(images: np.ndarray) -> np.ndarray:
    """Keep the Fourier phases, set every amplitude to 1 (white spectrum), return unit variance.

    The result carries the image's morphology (phases) but none of its power spectrum, the
    experiment of Bustard & Wu 2024 asking whether a network reads more than the spectrum.
    Apply to whole periodic slices before tiling.
    """
    data = np.asarray(images, dtype=np.float64)
    modes = np.fft.fft2(data - data.mean(axis=(-2, -1), keepdims=True))
    amplitude = np.abs(modes)
    phases = np.divide(modes, amplitude, out=np.zeros_like(modes), where=amplitude > 0)
    flat = np.fft.ifft2(phases).real
    std = flat.std(axis=(-2, -1), keepdims=True)
    return (flat / np.where(std > 0, std, 1.0)).astype(np.float32)


def gaussian_smooth(images: np.ndarray, sigma_px: float, periodic: bool = True) -> np.ndarray:
    """Gaussian blur of width ``sigma_px`` pixels (per image).

    Boundaries wrap for whole periodic slices; ``periodic=False`` reflects instead, for tiles cut
    out of a slice.
    """
    if sigma_px < 0:
        raise ConfigError(f"sigma_px must be >= 0, got {sigma_px}")
    data = np.asarray(images, dtype=np.float32)
    if sigma_px == 0:
        return data.copy()
    sigma = (0.0,) * (data.ndim - 2) + (sigma_px, sigma_px)
    mode = "wrap" if periodic else "reflect"
    return ndimage.gaussian_filter(data, sigma=sigma, mode=mode).astype(np.float32)
