"""Normalisation (statistics from the training split only) and the ``.npy`` shards."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io.hashing import sha256
from . import transforms
from .config import PrepareConfig
from .splits import SPLITS


def _stats(arrays: list[np.ndarray]) -> dict[str, float]:
    total = sum(a.size for a in arrays)
    mean = sum(float(a.sum(dtype=np.float64)) for a in arrays) / total
    var = sum(float(((a - mean) ** 2).sum(dtype=np.float64)) for a in arrays) / total
    return {"mean": mean, "std": math.sqrt(var)}


def normalize(buckets: dict, config: PrepareConfig) -> dict[str, Any]:
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


def write_shards(root: Path, buckets: dict, classes: dict[str, int], config: PrepareConfig):
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
