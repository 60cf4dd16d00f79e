"""Write buffered, transformed, tiled datasets: shards of ``.npy`` plus ``manifest.json``.

Layout of a prepared folder::

    manifest.json
    train/slice/<class>.0000.images.npy     (n, tile, tile, 1)   float16 or float32
    train/slice/<class>.0000.labels.npy     (n,)                 int32 class index
    train/slice/<class>.0000.targets.npy    (n, tile, tile, T)   paired fields, if the class has them
    train/slice/<class>.0000.meta.npy       (n, 7) int32: source, plane start, plane stop,
                                                      row, col, roll rows, roll cols
    val/..., test/..., and projection/ beside slice/ when asked for

Why ``.npy`` shards: they memory-map, need no parser, and numpy reads a 2,048-tile shard in one
call; the input-pipeline benchmark (``benchmarks/input_pipeline.py``) compares them with TFRecord.
Shards are per (split, kind, class) so that tasks can pick classes (the map task needs classes
that carry ``Ec``) and interleaving mixes classes evenly. Readers use
:mod:`crturb_keras.data.manifest`; the settings are :class:`~crturb_keras.data.config.PrepareConfig`.

The whole folder is built under a temporary name and renamed when complete. Running
:func:`prepare` again with the same configuration and the same source files (by SHA-256) reuses
the result; anything else in an existing folder is refused.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._version import __version__
from ..checks import safe_name
from ..errors import ConfigError, CrturbError, DataFormatError
from ..io.atomic import atomic_dir
from ..io.hashing import sha256
from ..progress import progress_bar
from ..simulate.classes import CLASSES
from . import transforms
from .config import PrepareConfig
from .images import periodic_roll, projection_windows, projections, slices, tiles
from .manifest import FORMAT, META_COLUMNS, Manifest, load_manifest
from .sources import Source
from .splits import SPLITS, autocorrelation_length, realization_layouts, split_regions


@dataclass
class _Bucket:
    """Tiles of one (split, kind, class) collected before normalisation and writing."""

    images: list[np.ndarray] = field(default_factory=list)
    targets: list[np.ndarray] = field(default_factory=list)
    meta: list[np.ndarray] = field(default_factory=list)


def class_indices(names: Sequence[str]) -> dict[str, int]:
    """Class-name-to-index map: surrogate classes in canonical order, then others sorted."""
    unique = set(names)
    ordered = [c for c in CLASSES if c in unique] + sorted(unique - set(CLASSES))
    return {name: i for i, name in enumerate(ordered)}


def _identity(config: PrepareConfig, sources: list[dict]) -> dict:
    """What decides whether an existing dataset is this one: the settings, and per source its
    class, files (paths and SHA-256) and, for yt sources, reader and level."""
    keys = ("class", "files", "reader", "level")
    return {"config": config.to_dict(),
            "sources": [{k: s[k] for k in keys if k in s} for s in sources]}


def prepare(
    sources: Sequence[Source],
    out_dir: str | os.PathLike,
    config: PrepareConfig = PrepareConfig(),
    progress: bool = True,
    workers: int = 0,
) -> Manifest:
    """Cut, split, transform and store images from simulation snapshots.

    Sources are read twice, one at a time per process: a first pass measures the
    autocorrelation lengths (for ``buffer="auto"``) and geometry, a second cuts tiles. Only the
    input field and the targets are read, and no process holds more than one snapshot, so peak
    memory is about one cube's fields per worker plus the tiles kept: measured 0.9 GiB for one
    256**3 snapshot (rho + Ec, slices and projections), i.e. about 6.3 GiB per worker for a
    512**3 snapshot (``benchmarks/prepare_memory.py``); use ``workers`` to fit the machine.

    Parameters
    ----------
    sources : sequence of Source
        Snapshots with their class (see :func:`crturb_keras.data.sources.discover_sources`).
    out_dir : path
        Folder to create (built under a temporary name, renamed when complete).
    config : PrepareConfig
        Geometry, transforms, storage.
    progress : bool
        Show progress bars over sources (on stderr).
    workers : int
        Processes for the per-source passes; 0 = as many as CPU cores (at most 4), or one when
        the sources total less than 32 MiB (starting workers would take longer than the work).
        Results do not depend on it.

    Returns
    -------
    Manifest
        The manifest (also written to ``out_dir/manifest.json``).

    Raises
    ------
    ConfigError
        If ``out_dir`` holds a dataset prepared differently, or no source has the input field.
    DataFormatError
        If a source is unreadable, holds NaNs, or non-positive values where a log is taken.
    SplitError
        If the regions and buffers do not fit the cubes.
    """
    if not sources:
        raise ConfigError("prepare needs at least one source snapshot")
    for source in sources:
        safe_name(source.class_name, source.paths[0], error=ConfigError)
    out_dir = Path(out_dir)
    records = [{"class": s.class_name,
                "files": [{"path": str(Path(p).resolve()), "sha256": sha256(p)} for p in s.paths],
                **s.reader_record()} for s in sources]
    identity = _identity(config, records)
    if out_dir.exists():
        return _reuse_or_refuse(out_dir, identity)

    classes = class_indices([s.class_name for s in sources])
    jobs = _workers(workers, sources)
    survey = _parallel(_survey_source, [(s, config) for s in sources], jobs, "read", progress)
    _check_image_sizes(sources, survey, config)
    if config.targets and not any(info["has_targets"] for info in survey):
        raise ConfigError(f"no source carries all targets {', '.join(config.targets)}")
    lengths = {str(i): info["correlation_length"] for i, info in enumerate(survey)}
    buffer = int(math.ceil(max(lengths.values()))) if config.buffer == "auto" \
        else int(config.buffer)
    class_targets = {c: all(info["has_targets"] for s, info in zip(sources, survey)
                            if s.class_name == c) for c in classes}
    min_size = config.depth if "projection" in config.kinds else config.slice_step
    if config.split_by == "realization":
        buffer = 0
        layouts = realization_layouts(
            [(s.class_name, str(Path(s.paths[0]).resolve().parent)) for s in sources],
            [info["length"] for info in survey], config.fractions)
    else:
        layouts = [split_regions(info["length"], config.fractions, buffer, min_size=min_size)
                   for info in survey]
    cut_jobs = [(i, s, layouts[i], config, class_targets[s.class_name])
                for i, s in enumerate(sources)]
    buckets: dict[tuple[str, str, str], _Bucket] = {}
    dropped = {"blank": 0, "nonfinite": 0}
    for part, part_dropped in _parallel(_cut_source, cut_jobs, jobs, "cut", progress):
        for key, bucket in part.items():
            merged = buckets.setdefault(key, _Bucket())
            merged.images += bucket.images
            merged.targets += bucket.targets
            merged.meta += bucket.meta
        for key in dropped:
            dropped[key] += part_dropped[key]
    for index, (source, info) in enumerate(zip(sources, survey)):
        records[index].update(cycle=info["cycle"], time=info["time"], shape=info["shape"],
                              has_targets=class_targets[source.class_name])
    layouts = [layout.to_dict() for layout in layouts]

    normalization = _normalize(buckets, config)
    with atomic_dir(out_dir) as tmp:
        shards, counts, dtype_error = _write_shards(tmp, buckets, classes, config)
        manifest = {
            "format": FORMAT,
            "version": __version__,
            **identity,
            "sources": records,
            "classes": classes,
            "buffer": {"cells": buffer, "auto": config.buffer == "auto",
                       "autocorrelation_length_cells": lengths},
            "layouts": layouts,
            "geometry": _geometry(config, survey[0]["plane"]),
            "normalization": normalization,
            "counts": counts,
            "dropped": dropped,
            "shards": shards,
            "dtype_error": dtype_error,
            "seed": config.seed,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return Manifest.from_dict(manifest, out_dir)


def _reuse_or_refuse(out_dir: Path, identity: dict) -> Manifest:
    manifest = load_manifest(out_dir)
    theirs = _identity(manifest.config, list(manifest.sources))
    theirs["config"] = manifest.raw["config"]
    if theirs == identity:
        return manifest
    changed = [k for k in identity["config"] if identity["config"][k] != theirs["config"].get(k)]
    what = f"settings {', '.join(changed)} differ" if changed else "the sources differ (their files, or how they are read)"
    raise ConfigError(f"{out_dir}: holds a dataset prepared differently ({what}); choose another "
                      f"--out or delete {out_dir}")


SMALL_INPUT_BYTES = 32 * 2**20


def _workers(requested: int, sources: Sequence[Source]) -> int:
    """Processes for per-source work: ``requested``, or (0) as many as cores, at most 4, and one
    for inputs under :data:`SMALL_INPUT_BYTES` in all."""
    if not requested:
        size = sum(os.path.getsize(path) for source in sources for path in source.paths)
        requested = 1 if size < SMALL_INPUT_BYTES else min(os.cpu_count() or 1, 4)
    return max(1, min(requested, len(sources)))


def _parallel(function, jobs: list[tuple], workers: int, label: str, progress: bool) -> list:
    """``function(*job)`` for every job, in order, in ``workers`` processes, with a progress bar."""
    bar = progress_bar(total=len(jobs), desc=label, unit="snapshot", show=progress)
    if workers == 1:
        results = []
        for job in jobs:
            results.append(function(*job))
            bar.update(1)
    else:
        # fork is fastest, but forking a process whose JAX or TensorFlow runtime already runs
        # threads can deadlock the child: then start workers from a clean server process.
        threaded = any(name in sys.modules for name in ("jax", "tensorflow"))
        context = get_context("forkserver" if threaded else "fork")
        try:
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                futures = [pool.submit(function, *job) for job in jobs]
                for future in as_completed(futures):
                    future.result()  # raise the first failure early
                    bar.update(1)
                results = [f.result() for f in futures]
        except BrokenProcessPool as err:
            raise CrturbError(
                f"{label}: a worker process died ({err}); it was killed (out of memory?) or, "
                f"when prepare is called from a script, the script lacks an "
                f"'if __name__ == \"__main__\":' guard (worker processes re-import it); "
                f"add the guard or pass workers=1 (CLI: --workers 1)") from None
    bar.close()
    return results


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


def _survey_source(source: Source, config: PrepareConfig) -> dict[str, Any]:
    """First pass over one source: geometry, metadata and the autocorrelation length (1/e)."""
    snap, has_targets = _read(source, config)
    cube = snap[config.field]
    data = np.log(cube) if config.log else cube
    return {"length": cube.shape[["x3", "x2", "x1"].index(config.axis)],
            "plane": _plane(config, list(snap.shape)),
            "shape": list(snap.shape), "cycle": snap.cycle, "time": snap.time,
            "has_targets": has_targets,
            "correlation_length": round(autocorrelation_length(data, config.axis), 3)}


def _plane(config: PrepareConfig, shape: list[int]) -> list[int]:
    """Image size ``[rows, cols]`` of a ``(nx3, nx2, nx1)`` cube cut normal to ``config.axis``."""
    axis = ["x3", "x2", "x1"].index(config.axis)
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


def _check_image_sizes(sources: Sequence[Source], survey: list[dict],
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


def _cut_source(index: int, source: Source, layout, config: PrepareConfig,
                has_targets: bool) -> tuple[dict, dict[str, int]]:
    """Second pass over one source: transformed tiles per (split, kind, class), and drop counts."""
    buckets: dict[tuple[str, str, str], _Bucket] = {}
    dropped = {"blank": 0, "nonfinite": 0}
    snap, _ = _read(source, config)
    cube = snap[config.field]
    target_cubes = [snap[t] for t in config.targets] if has_targets else []
    rng = np.random.default_rng([config.seed, index])
    per_cube_input: dict[tuple[str, str], tuple[np.ndarray, list, np.ndarray, list]] = {}
    for kind in config.kinds:
        source_cube = cube
        if kind == "projection" and config.projection_mode == "seed":
            logged = np.log10(cube)
            source_cube = transforms.minmax(logged, float(logged.min()), float(logged.max()))
        for region in layout.regions:
            if kind == "slice":
                planes = region.indices()[::config.slice_step]
                windows = [(int(p), int(p) + 1) for p in planes]
                images = slices(source_cube, config.axis, planes)
                paired = [slices(t, config.axis, planes) for t in target_cubes]
            else:
                windows = projection_windows(region, config.depth)
                images = projections(source_cube, config.axis, windows)
                paired = [projections(t, config.axis, windows) for t in target_cubes]
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
            per_cube_input[(kind, region.split)] = (images, windows, rolls, paired)
    if config.normalize == "minmax":
        lo = min(float(v[0].min()) for v in per_cube_input.values())
        hi = max(float(v[0].max()) for v in per_cube_input.values())
    for (kind, split), (images, windows, rolls, paired) in per_cube_input.items():
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
        meta = np.column_stack([np.full(len(pos), index), win, pos[:, 1:], rolls[pos[:, 0]]])
        bucket = buckets.setdefault((split, kind, source.class_name), _Bucket())
        bucket.images.append(cut[keep])
        bucket.meta.append(meta[keep].astype(np.int32))
        if cut_targets:
            bucket.targets.append(np.stack(cut_targets, axis=-1)[keep])
    return buckets, dropped


def _stats(arrays: list[np.ndarray]) -> dict[str, float]:
    total = sum(a.size for a in arrays)
    mean = sum(float(a.sum(dtype=np.float64)) for a in arrays) / total
    var = sum(float(((a - mean) ** 2).sum(dtype=np.float64)) for a in arrays) / total
    return {"mean": mean, "std": math.sqrt(var)}


def _normalize(buckets: dict, config: PrepareConfig) -> dict[str, Any]:
    """Standardise inputs and targets with training statistics (in place); return the statistics."""
    out: dict[str, Any] = {}
    for kind in config.kinds:
        entry: dict[str, Any] = {"input": {"method": config.normalize, "log10": config.log}}
        train = [b for (split, k, _), b in buckets.items() if split == "train" and k == kind]
        images = [a for b in train for a in b.images]
        if config.normalize == "standardize":
            if not images:
                raise ConfigError(f"standardize needs training {kind}s, but the train split "
                                  f"is empty; give it a non-zero fraction")
            stats = _stats(images)
            entry["input"].update(stats)
            for (split, k, _), bucket in buckets.items():
                if k == kind:
                    bucket.images = [transforms.standardize(a, stats["mean"], stats["std"])
                                     for a in bucket.images]
        targeted = [b for b in train if b.targets]
        if config.targets and targeted:
            entry["targets"] = {}
            for channel, name in enumerate(config.targets):
                stats = _stats([a[..., channel] for b in targeted for a in b.targets])
                entry["targets"][name] = {"log10": config.log, **stats}
                for (split, k, _), bucket in buckets.items():
                    if k == kind:
                        for a in bucket.targets:
                            a[..., channel] = (a[..., channel] - stats["mean"]) / stats["std"]
        out[kind] = entry
    return out


def _write_shards(root: Path, buckets: dict, classes: dict[str, int], config: PrepareConfig):
    """Write buckets as shards; return the shard index, counts, and the storage rounding error."""
    dtype = np.dtype(config.dtype)
    shards: dict[str, dict[str, list]] = {s: {k: [] for k in config.kinds} for s in SPLITS}
    counts: dict[str, dict[str, dict[str, int]]] = {s: {k: {} for k in config.kinds} for s in SPLITS}
    worst = 0.0
    for (split, kind, name), bucket in sorted(buckets.items()):
        images = np.concatenate(bucket.images)[..., None]
        meta = np.concatenate(bucket.meta)
        targets = np.concatenate(bucket.targets) if bucket.targets else None
        if split == "train":
            order = np.random.default_rng([config.seed, classes[name]]).permutation(len(images))
            images, meta = images[order], meta[order]
            targets = targets[order] if targets is not None else None
        stored = images.astype(dtype)
        worst = max(worst, float(np.abs(stored.astype(np.float32) - images).max(initial=0.0)))
        folder = root / split / kind
        folder.mkdir(parents=True, exist_ok=True)
        counts[split][kind][name] = len(images)
        for number, start in enumerate(range(0, len(images), config.shard_size)):
            rows = slice(start, start + config.shard_size)
            stem = f"{split}/{kind}/{name}.{number:04d}"
            arrays = {"images": stored[rows], "meta": meta[rows],
                      "labels": np.full(len(stored[rows]), classes[name], dtype=np.int32)}
            if targets is not None:
                arrays["targets"] = targets[rows].astype(dtype)
            files = {}
            for part, array in arrays.items():
                path = root / f"{stem}.{part}.npy"
                np.save(path, array)
                files[part] = {"sha256": sha256(path), "shape": list(array.shape),
                               "dtype": str(array.dtype)}
            shards[split][kind].append({"class": name, "stem": stem, "count": len(stored[rows]),
                                        "targets": targets is not None, "files": files})
    error = {"dtype": config.dtype, "max_abs_error": worst,
             "note": "largest |stored - float32| over all stored input pixels (normalised units)"}
    return shards, counts, error


def _geometry(config: PrepareConfig, plane: list[int]) -> dict[str, Any]:
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


