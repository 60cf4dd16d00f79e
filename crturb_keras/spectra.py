"""Radial power spectra of periodic images and their power-law slopes.

Used to measure the surrogate (is its spectrum what we asked for?), to test transforms that act on
spectra (flattening, smoothing) and, later, to interpret what a network looks at.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError


def radial_power_spectrum(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ring-integrated 1-D power spectrum of periodic square images.

    Parameters
    ----------
    images : ndarray of shape (H, W) or (n, H, W)
        Periodic images with ``H == W``; a batch is averaged.

    Returns
    -------
    k : ndarray of shape (H // 2,)
        Integer wavenumbers 1 .. H/2 in cycles per image (bin ``k`` holds ``k - 1/2 <= |k| < k + 1/2``).
    power : ndarray of shape (H // 2,)
        Sum of ``|FFT|**2 / (H W)**2`` over each ring, so that ``power.sum()`` is close to the
        variance of the images (the mean and the corner modes beyond H/2 are left out).
    """
    data = np.asarray(images, dtype=np.float64)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or data.shape[1] != data.shape[2]:
        raise ConfigError(f"radial_power_spectrum needs (H, W) or (n, H, W) with H == W, "
                         f"got {np.shape(images)}")
    n = data.shape[1]
    modes = np.fft.fft2(data - data.mean(axis=(1, 2), keepdims=True))
    power2d = (np.abs(modes) ** 2).mean(axis=0) / float(n) ** 4
    freq = np.fft.fftfreq(n, 1.0 / n)
    radius = np.rint(np.hypot(freq[:, None], freq[None, :])).astype(int)
    power = np.bincount(radius.ravel(), weights=power2d.ravel(), minlength=n)
    k = np.arange(1, n // 2 + 1)
    return k.astype(np.float64), power[1:n // 2 + 1]


def spectral_slope(k: np.ndarray, power: np.ndarray, k_min: float, k_max: float) -> float:
    """Least-squares slope of ``log power`` against ``log k`` for ``k_min <= k <= k_max``."""
    mask = (k >= k_min) & (k <= k_max) & (power > 0)
    if mask.sum() < 2:
        raise ConfigError(f"need at least two positive bins in [{k_min}, {k_max}] to fit a slope")
    slope, _ = np.polyfit(np.log(k[mask]), np.log(power[mask]), 1)
    return float(slope)
