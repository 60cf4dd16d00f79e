"""Cut 2-D images out of 3-D cubes: slices, projections, tiles and periodic rolls.

Images lie in the plane normal to a physical axis: for ``x1`` (the mean-field direction) an image
is ``cube[:, :, i]`` with rows along x3 and columns along x2; for ``x2`` rows are x3, columns x1;
for ``x3`` rows are x2, columns x1. Paired fields (``Ec``, ``magnetic_energy_density``) go through
the same functions with the same arguments, so inputs and targets stay aligned.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..snapshot import axis_index
from .splits import Region


def slices(cube: np.ndarray, axis: str, indices: np.ndarray) -> np.ndarray:
    """Planes of ``cube`` normal to ``axis`` at ``indices``: ``float32`` ``(n, H, W)``."""
    ax = axis_index(axis)
    return np.ascontiguousarray(np.moveaxis(np.take(cube, indices, axis=ax), ax, 0),
                                dtype=np.float32)


def projection_windows(region: Region, depth: int, stride: int | None = None) -> list[tuple[int, int]]:
    """Windows ``[start, start + depth)`` lying entirely inside ``region`` (never in a buffer).

    ``stride`` defaults to ``depth`` (non-overlapping windows).
    """
    if depth < 1:
        raise ConfigError(f"projection depth must be >= 1 cell, got {depth}")
    step = stride or depth
    return [(s, s + depth) for s in range(region.start, region.stop - depth + 1, step)]


def projections(cube: np.ndarray, axis: str, windows: list[tuple[int, int]]) -> np.ndarray:
    """Mean of ``cube`` over each window along ``axis``: ``float32`` ``(n, H, W)``.

    On ``rho`` this is the column density divided by the depth (what a telescope integrates);
    on a log-normalised cube it is the published notebooks' mean of normalised slices.
    """
    ax = axis_index(axis)
    moved = np.moveaxis(np.asarray(cube), ax, 0)
    out = [moved[a:b].mean(axis=0, dtype=np.float64) for a, b in windows]
    return np.asarray(out, dtype=np.float32).reshape(len(windows), *moved.shape[1:])


def tile_positions(height: int, width: int, tile: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners ``(row, col)`` of ``tile x tile`` windows with the given stride."""
    if tile < 1 or stride < 1:
        raise ConfigError(f"tile and stride must be >= 1, got tile={tile}, stride={stride}")
    if tile > min(height, width):
        raise ConfigError(f"tile {tile} px is larger than the {height}x{width} images; choose "
                          f"--tile <= {min(height, width)}")
    return [(r, c) for r in range(0, height - tile + 1, stride)
            for c in range(0, width - tile + 1, stride)]


def tiles(images: np.ndarray, tile: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut every image of ``(n, H, W)`` into tiles.

    Returns
    -------
    tiles : ndarray of shape (n * t, tile, tile)
        Image-major order: the ``t`` tiles of image 0, then of image 1, ...
    positions : ndarray of shape (n * t, 3)
        ``(image index, row, col)`` of each tile.
    """
    n, height, width = images.shape
    corners = tile_positions(height, width, tile, stride)
    out = np.empty((n * len(corners), tile, tile), dtype=images.dtype)
    pos = np.empty((n * len(corners), 3), dtype=np.int32)
    for j, (r, c) in enumerate(corners):
        out[j::len(corners)] = images[:, r:r + tile, c:c + tile]
        pos[j::len(corners)] = np.stack([np.arange(n), np.full(n, r), np.full(n, c)], axis=1)
    return out, pos


def periodic_roll(images: np.ndarray, shift_rows: int, shift_cols: int) -> np.ndarray:
    """Roll images ``(..., H, W)`` periodically; valid only for whole periodic slices (training)."""
    return np.roll(images, (shift_rows, shift_cols), axis=(-2, -1))
