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
from pathlib import Path
from typing import Sequence

from .._version import __version__
from ..checks import safe_name
from ..errors import ConfigError
from ..io.atomic import atomic_dir
from ..io.hashing import sha256
from ..processes import run_parallel
from ..simulate.classes import CLASSES
from .config import PrepareConfig
from .cutting import (
    Bucket,
    check_image_sizes,
    cut_source,
    survey_source,
    tile_geometry,
    transform_planes,
)
from .manifest import FORMAT, Manifest, load_manifest
from .shards import normalize, write_shards
from .sources import Source
from .splits import realization_layouts, split_regions
from .workers import worker_count

__all__ = ["class_indices", "prepare", "transform_planes"]


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
    jobs = worker_count(workers, sources)
    survey = run_parallel(survey_source, [(s, config) for s in sources], jobs, "read", progress)
    check_image_sizes(sources, survey, config)
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
            [info["length"] for info in survey], config.fractions, config.fold)
    else:
        layouts = [split_regions(info["length"], config.fractions, buffer, min_size=min_size)
                   for info in survey]
    cut_jobs = [(i, s, layouts[i], config, class_targets[s.class_name])
                for i, s in enumerate(sources)]
    buckets: dict[tuple[str, str, str], Bucket] = {}
    dropped = {"blank": 0, "nonfinite": 0}
    for part, part_dropped in run_parallel(cut_source, cut_jobs, jobs, "cut", progress):
        for key, bucket in part.items():
            merged = buckets.setdefault(key, Bucket())
            merged.images += bucket.images
            merged.targets += bucket.targets
            merged.meta += bucket.meta
        for key in dropped:
            dropped[key] += part_dropped[key]
    for index, (source, info) in enumerate(zip(sources, survey)):
        records[index].update(cycle=info["cycle"], time=info["time"], shape=info["shape"],
                              has_targets=class_targets[source.class_name])
    layouts = [layout.to_dict() for layout in layouts]

    normalization = normalize(buckets, config)
    with atomic_dir(out_dir) as tmp:
        shards, counts, dtype_error = write_shards(tmp, buckets, classes, config)
        manifest = {
            "format": FORMAT,
            "version": __version__,
            **identity,
            "sources": records,
            "classes": classes,
            "buffer": {"cells": buffer, "auto": config.buffer == "auto",
                       "autocorrelation_length_cells": lengths},
            "layouts": layouts,
            "geometry": tile_geometry(config, survey[0]["plane"]),
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
