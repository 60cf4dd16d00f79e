"""Is a map like the data a model was trained on? Tile statistics against the training range.

A classifier trained on density slices answers something for any map, including projections,
beam-smoothed or noisy maps it never saw. Training records the spread of a few per-tile
statistics of its (normalised) training tiles; prediction computes the same statistics on the
map's tiles, normalised the same way, and says with numbers when the map's typical tile lies
outside that spread. The statistics: standard deviation (contrast), skewness and excess kurtosis
(shape of the one-point distribution) and the spectral slope of the ring-integrated power
spectrum (projection and smoothing steepen it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .baselines import one_point_statistics, tile_spectra
from .data.manifest import Manifest
from .spectra import spectral_slope

STATISTICS = ("std", "skewness", "kurtosis", "spectral_slope")
#: Percentiles of the training tiles kept in the run record; outside [1st, 99th] warns.
PERCENTILES = (1, 5, 50, 95, 99)
#: Training tiles sampled for the reference (spread over every shard).
SAMPLE = 2048


def tile_statistics(tiles: np.ndarray) -> dict[str, np.ndarray]:
    """Per-tile statistics of normalised tiles ``(n, H, W)`` or ``(n, H, W, 1)``: a dict of
    arrays ``(n,)`` named as :data:`STATISTICS`."""
    moments = one_point_statistics(tiles)
    k, power = tile_spectra(tiles)
    top = max(k[-1] - 1, 3)
    slopes = np.array([spectral_slope(k, p, 2, top) if (p[1:] > 0).sum() >= 2 else np.nan
                       for p in power])
    return {"std": moments[:, 1], "skewness": moments[:, 2], "kurtosis": moments[:, 3],
            "spectral_slope": slopes}


def reference_statistics(prepared_dir: str | Path, manifest: Manifest, kind: str,
                         seed: int = 0) -> dict[str, list[float]]:
    """Percentiles (:data:`PERCENTILES`) of :func:`tile_statistics` over up to :data:`SAMPLE`
    training tiles drawn evenly from every training shard of ``kind`` (memory-mapped reads)."""
    shards = manifest.shards["train"][kind]
    per_shard = max(SAMPLE // max(len(shards), 1), 1)
    rng = np.random.default_rng(seed)
    parts = []
    for shard in shards:
        images = np.load(Path(prepared_dir) / f"{shard['stem']}.images.npy", mmap_mode="r")
        take = np.sort(rng.choice(len(images), min(per_shard, len(images)), replace=False))
        parts.append(np.asarray(images[take], dtype=np.float64))
    values = tile_statistics(np.concatenate(parts))
    return {name: [float(v) for v in np.nanpercentile(values[name], PERCENTILES)]
            for name in STATISTICS}


def outside_training(values: dict[str, np.ndarray], reference: dict[str, list[float]],
                     source: str) -> list[str]:
    """Messages for each statistic whose median over the map's tiles lies outside the 1st-99th
    percentile of the training tiles (empty when the map looks like the training data)."""
    messages = []
    for name in STATISTICS:
        if name not in reference:
            continue
        low, high = reference[name][0], reference[name][-1]
        median = float(np.nanmedian(values[name]))
        if not low <= median <= high:
            messages.append(
                f"{source}: its tiles' median {name.replace('_', ' ')} {median:.3g} is outside "
                f"the training tiles' 1-99 % range [{low:.3g}, {high:.3g}]; the model never saw "
                f"maps like this (a projection, a smoothed or noisy map?), so treat its answer "
                f"with suspicion")
    return messages


def beam_note(header, trained_sigma: float | None, source: str) -> str | None:
    """A note comparing a map's beam (``BMAJ`` over the pixel size ``CDELT``, both in degrees)
    with the Gaussian smoothing of the training tiles (``prepare --smooth-sigma``, pixels);
    None when the header names no beam."""
    if header is None or not header.get("BMAJ"):
        return None
    pixel = abs(float(header.get("CDELT2") or header.get("CDELT1") or 0.0))
    if pixel <= 0:
        return f"{source}: has a beam (BMAJ) but no pixel size (CDELT1/2) to compare it with"
    sigma = float(header["BMAJ"]) / pixel / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    trained = f"{trained_sigma:g} px" if trained_sigma is not None else "an unknown width"
    return (f"{source}: beam FWHM {float(header['BMAJ']) / pixel:.2f} px (Gaussian sigma "
            f"{sigma:.2f} px); the training tiles were smoothed by {trained}; to train on "
            f"matching maps, prepare with --smooth-sigma {sigma:.2f}")
