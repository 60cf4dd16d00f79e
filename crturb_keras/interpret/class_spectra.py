"""Radial power spectra of images per class: the scales on which the transport classes differ."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..spectra import radial_power_spectrum


def class_spectra(images: np.ndarray, labels: np.ndarray,
                  names: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
    """Mean and standard deviation over tiles of the ring-integrated spectrum, per class.

    Parameters
    ----------
    images : ndarray of shape (n, H, W) or (n, H, W, 1)
        Square tiles.
    labels : ndarray of shape (n,)
        Class index of each tile (into ``names``).

    Returns
    -------
    dict
        ``{name: {"k": (H/2,), "mean": (H/2,), "std": (H/2,), "n": int}}`` for classes present;
        ``k`` in cycles per tile.
    """
    data = np.asarray(images, dtype=np.float64).reshape(len(images), images.shape[1],
                                                        images.shape[2])
    out = {}
    for index, name in enumerate(names):
        chosen = data[np.asarray(labels) == index]
        if not len(chosen):
            continue
        per_tile = np.array([radial_power_spectrum(tile)[1] for tile in chosen])
        k = radial_power_spectrum(chosen[0])[0]
        out[name] = {"k": k, "mean": per_tile.mean(axis=0), "std": per_tile.std(axis=0),
                     "n": len(chosen)}
    return out


def ratio_to(spectra: dict[str, dict[str, np.ndarray]], reference: str = "MHD") -> dict[str, np.ndarray]:
    """Mean spectrum of each class divided by the reference class's."""
    if reference not in spectra:
        raise KeyError(f"no {reference!r} tiles to compare with; classes: {list(spectra)}")
    base = spectra[reference]["mean"]
    return {name: s["mean"] / np.maximum(base, 1e-30) for name, s in spectra.items()}
