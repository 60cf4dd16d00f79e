"""Cutting one source into tiles: reading what it must give, surveying its geometry and
correlation length, the per-image transforms, and the tiles of every (split, kind, class)."""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, DataFormatError
from . import transforms
from .config import PrepareConfig
from .images import periodic_roll, projection_windows, projections, slices, tiles
from .manifest import META_COLUMNS
from .sources import Source
from .splits import autocorrelation_length


@dataclass
class Bucket:
    """Tiles of one (split, kind, class) collected before normalisation and writing."""

    images: list[np.ndarray] = field(default_factory=list)
    targets: list[np.ndarray] = field(default_factory=list)
    meta: list[np.ndarray] = field(default_factory=list)


def _read(source: Source, config: PrepareConfig) -> tuple[Any, bool]:
    """Read only the fields a source must give (input + its available targets), validated."""
    available = source.variables()
    if config.field not in available:
        raise DataFormatError(f"{source.paths[0]}: has no {config.field!r}; it holds "
                              f"{', '.join(sorted(available))}")
    has_targets = bool(config.targets) and all(t in available for t in config.targets)
    snap = source.read([config.field] + (list(config.targets) if has_targets else []))
    if config.log and np.any(snap[config.field] <= 0):
        raise DataFormatError(f"{source.paths[0]}: {config.field} has values <= 0, so log10 "
                              f"is undefined; prepare with --log false or another field")
    return snap, has_targets


def survey_source(source: Source, config: PrepareConfig) -> dict[str, Any]:
    """First pass over one source: geometry, metadata and the autocorrelation length (1/e)."""
    snap, has_targets = _read(source, config)
    cube = snap[config.field]
    data = np.log(cube) if config.log else cube
    axis = config.image_axes[0]
    if len(config.image_axes) > 1 and len(set(cube.shape)) > 1:
        raise DataFormatError(f"{source.paths[0]}: a {'x'.join(map(str, cube.shape))} box; "
                              f"--axis all cuts images normal to every axis and needs a cubic "
                              f"box: choose --axis x1, x2 or x3")
    return {"length": cube.shape[["x3", "x2", "x1"].index(axis)],
            "plane": _plane(config, list(snap.shape)),
            "shape": list(snap.shape), "cycle": snap.cycle, "time": snap.time,
            "has_targets": has_targets,
            "correlation_length": round(autocorrelation_length(data, axis), 3)}


def _plane(config: PrepareConfig, shape: list[int]) -> list[int]:
    """Image size ``[rows, cols]`` of a ``(nx3, nx2, nx1)`` cube cut normal to ``config.axis``."""
    axis = ["x3", "x2", "x1"].index(config.image_axes[0])
    return [n for i, n in enumerate(shape) if i != axis]


def _left_out(plane: list[int], tile: int, stride: int) -> float:
    """Fraction of an image's pixels that no tile covers."""
    covered = 1.0
    for size in plane:
        mask = np.zeros(size, dtype=bool)
        for start in range(0, size - tile + 1, stride):
            mask[start:start + tile] = True
        covered *= mask.mean()
    return 1.0 - covered


def check_image_sizes(sources: Sequence[Source], survey: list[dict],
                       config: PrepareConfig) -> None:
    """Refuse sources whose images differ in size or are smaller than a tile; warn when the
    tiles leave pixels out."""
    plane = survey[0]["plane"]
    for source, info in zip(sources, survey):
        if info["plane"] != plane:
            raise DataFormatError(
                f"{sources[0].paths[0]} gives {plane[0]}x{plane[1]} images but "
                f"{source.paths[0]} gives {info['plane'][0]}x{info['plane'][1]} (normal to "
                f"{config.axis}); tiles and augmentations assume one image size, so prepare "
                f"sources of different sizes into separate folders")
    if config.tile > min(plane):
        raise ConfigError(f"{sources[0].paths[0]}: --tile {config.tile} is larger than its "
                          f"{plane[0]}x{plane[1]} images (normal to {config.axis}); use "
                          f"--tile {min(plane)} or less")
    left_out = _left_out(plane, config.tile, config.tile_stride)
    if left_out > 0:
        warnings.warn(f"--tile {config.tile} with stride {config.tile_stride} leaves "
                      f"{left_out:.0%} of the pixels of each {plane[0]}x{plane[1]} image out of "
                      f"all tiles; choose a tile (or stride) that divides {min(plane)} to use "
                      f"them all", UserWarning, stacklevel=3)


def transform_planes(planes: np.ndarray, config: PrepareConfig,
                     take_log: bool = True) -> np.ndarray:
    """The per-image transforms of ``prepare`` on cut planes ``(n, H, W)``: ``log10`` (when
    ``config.log`` and ``take_log``), Gaussian smoothing, spectrum flattening; the one chain
    that the interpretation experiments also apply to the planes they cut."""
    if config.log and take_log:
        planes = transforms.log10(planes)
    if config.smooth_sigma > 0:
        planes = transforms.gaussian_smooth(planes, config.smooth_sigma)
    if config.flatten_spectrum:
        planes = transforms.flatten_power_spectrum(planes)
    return planes


def cut_source(index: int, source: Source, layout, config: PrepareConfig,
                has_targets: bool) -> tuple[dict, dict[str, int]]:
    """Second pass over one source: transformed tiles per (split, kind, class), and drop counts."""
    buckets: dict[tuple[str, str, str], Bucket] = {}
    dropped = {"blank": 0, "nonfinite": 0}
    snap, _ = _read(source, config)
    cube = snap[config.field]
    target_cubes = [snap[t] for t in config.targets] if has_targets else []
    rng = np.random.default_rng([config.seed, index])
    per_cube_input: dict[tuple[str, str, int], tuple[np.ndarray, list, np.ndarray, list]] = {}
    seeded = None
    if "projection" in config.kinds and config.projection_mode == "seed":
        logged = np.log10(cube)
        seeded = transforms.minmax(logged, float(logged.min()), float(logged.max()))
    for kind, (number, axis), region in itertools.product(
            config.kinds, enumerate(config.image_axes, start=1), layout.regions):
        source_cube = seeded if kind == "projection" and seeded is not None else cube
        if kind == "slice":
            planes = region.indices()[::config.slice_step]
            windows = [(int(p), int(p) + 1) for p in planes]
            images = slices(source_cube, axis, planes)
            paired = [slices(t, axis, planes) for t in target_cubes]
        else:
            windows = projection_windows(region, config.depth)
            images = projections(source_cube, axis, windows)
            paired = [projections(t, axis, windows) for t in target_cubes]
        if not windows:
            continue
        images = transform_planes(images, config, take_log=not (
            kind == "projection" and config.projection_mode == "seed"))
        if config.log:
            paired = [transforms.log10(p) for p in paired]
        rolls = np.zeros((len(images), 2), dtype=np.int32)
        if region.split == "train" and config.train_rolls:
            extra = len(images) * config.train_rolls
            shifts = rng.integers(0, images.shape[1:], size=(extra, 2)).astype(np.int32)
            base = np.tile(np.arange(len(images)), config.train_rolls)
            images = np.concatenate([images, np.stack([
                periodic_roll(images[b], *s) for b, s in zip(base, shifts)])])
            paired = [np.concatenate([p, np.stack([periodic_roll(p[b], *s)
                                                   for b, s in zip(base, shifts)])])
                      for p in paired]
            windows = windows + [windows[b] for b in base]
            rolls = np.concatenate([rolls, shifts])
        per_cube_input[(kind, region.split, number)] = (images, windows, rolls, paired)
    if config.normalize == "minmax":
        lo = min(float(v[0].min()) for v in per_cube_input.values())
        hi = max(float(v[0].max()) for v in per_cube_input.values())
    for (kind, split, number), (images, windows, rolls, paired) in per_cube_input.items():
        if config.normalize == "minmax":
            images = transforms.minmax(images, lo, hi)
        cut, pos = tiles(images, config.tile, config.tile_stride)
        cut_targets = [tiles(p, config.tile, config.tile_stride)[0] for p in paired]
        finite = np.isfinite(cut).all(axis=(1, 2))
        for t in cut_targets:
            finite &= np.isfinite(t).all(axis=(1, 2))
        spread = cut.std(axis=(1, 2))
        blank = spread <= 1e-6 * (1.0 + np.abs(cut).mean(axis=(1, 2)))
        keep = finite & ~blank
        dropped["nonfinite"] += int((~finite).sum())
        dropped["blank"] += int((finite & blank).sum())
        if config.normalize == "equalize":
            cut = transforms.equalize(cut)
        win = np.asarray(windows, dtype=np.int32)[pos[:, 0]]
        meta = np.column_stack([np.full(len(pos), index), win, pos[:, 1:], rolls[pos[:, 0]],
                                np.full(len(pos), number)])
        bucket = buckets.setdefault((split, kind, source.class_name), Bucket())
        bucket.images.append(cut[keep])
        bucket.meta.append(meta[keep].astype(np.int32))
        if cut_targets:
            bucket.targets.append(np.stack(cut_targets, axis=-1)[keep])
    return buckets, dropped


def tile_geometry(config: PrepareConfig, plane: list[int]) -> dict[str, Any]:
    return {
        "axis": config.axis,
        "tile": config.tile,
        "stride": config.tile_stride,
        "channels": 1,
        "targets": list(config.targets),
        "image_shape": plane,
        "rotations_allowed": config.axis == "x1",
        "periodic_tiles": plane == [config.tile, config.tile],
        "pixels_left_out": _left_out(plane, config.tile, config.tile_stride),
        "meta_columns": list(META_COLUMNS),
    }
