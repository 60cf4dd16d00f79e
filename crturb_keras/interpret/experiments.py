"""The image experiments of Bustard & Wu 2024, on whole test splits rather than a few tiles.

* **blur**: Gaussian-blur every test tile by ``sigma`` px and watch the predicted class drift
  (CR diffusion damps small-scale structure, so blurred MHD maps should move towards
  ``CR_Diff_Fiducial``);
* **flattened spectra**: prepare the same sources with every slice's power spectrum flattened
  (phases kept), train the same model, compare test accuracy per class with full-power data;
* **projection depth**: apply a slice-trained model to projections averaging 1, 2, 4, 8, 16 cells
  of the test region (closer to what a telescope sees), normalised as the slices were.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np

from ..data import load_manifest, load_split, prepare, transforms
from ..data.images import projection_windows, projections, tiles
from ..data.sources import Source
from ..data.writer import transform_planes
from ..models.inference import predict_batches
from ..runs.evaluation import evaluate
from ..runs.training import TrainConfig, load_run, train


def _probabilities(model: keras.Model, images: np.ndarray) -> np.ndarray:
    logits = predict_batches(model, np.asarray(images, np.float32))
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits))


def blur_experiment(model: keras.Model, images: np.ndarray, labels: np.ndarray,
                    names: Sequence[str], sigmas: Sequence[float] = (0, 1, 2, 4, 6, 8)) -> dict:
    """Mean predicted probability and predicted-class fractions per true class and blur width.

    Returns ``{"sigmas": [...], "mean_probability": {true: [[p per class] per sigma]},
    "fraction": {true: [[fraction per class] per sigma]}}``.
    """
    labels = np.asarray(labels)
    out: dict[str, Any] = {"sigmas": [float(s) for s in sigmas], "classes": list(names),
                           "mean_probability": {}, "fraction": {}}
    per_sigma = []
    for sigma in sigmas:
        blurred = transforms.gaussian_smooth(images[..., 0], sigma, periodic=False)[..., None]
        per_sigma.append(_probabilities(model, blurred))
    for index, name in enumerate(names):
        chosen = labels == index
        if not chosen.any():
            continue
        out["mean_probability"][name] = [p[chosen].mean(axis=0).round(4).tolist()
                                         for p in per_sigma]
        out["fraction"][name] = [
            (np.bincount(p[chosen].argmax(axis=1), minlength=len(names)) / chosen.sum())
            .round(4).tolist() for p in per_sigma]
    return out


def depth_experiment(run_dir: str | os.PathLike,
                     depths: Sequence[int] = (1, 2, 4, 8, 16)) -> dict:
    """Accuracy per class of a slice-trained run on projections of each depth (test regions).

    Projections are means of the input field over ``depth`` cells inside each source's test
    region, transformed with the slice normalisation the model was trained with, and tiled as in
    the prepared data. Depths that do not fit in the test region are reported as skipped.
    """
    record, model = load_run(run_dir)
    manifest = load_manifest(record.data_path)
    config = manifest.config
    norm = record.normalization
    names = manifest.class_names
    results: dict[str, Any] = {"depths": [], "accuracy": {}, "per_class": {}, "skipped": []}
    cubes = []
    for entry, layout in zip(manifest.sources, manifest.layouts):
        source = Source.from_record(entry)
        cubes.append((source.class_name, source.read([config.field])[config.field],
                      layout.region("test")))
    for depth in depths:
        images, labels = [], []
        for name, cube, region in cubes:
            windows = projection_windows(region, depth) if region is not None else []
            if not windows:
                continue
            planes = transform_planes(np.concatenate(
                [projections(cube, axis, windows) for axis in config.image_axes]), config)
            if norm.method == "standardize":
                planes = transforms.standardize(planes, norm.mean, norm.std)
            cut, _ = tiles(planes, config.tile, config.tile_stride)
            images.append(cut)
            labels.append(np.full(len(cut), manifest.classes[name]))
        if not images:
            results["skipped"].append(depth)
            continue
        x, y = np.concatenate(images)[..., None], np.concatenate(labels)
        predicted = _probabilities(model, x).argmax(axis=1)
        results["depths"].append(depth)
        results["accuracy"][str(depth)] = float((predicted == y).mean())
        results["per_class"][str(depth)] = {
            n: float((predicted[y == i] == i).mean()) for i, n in enumerate(names) if (y == i).any()}
    return results


def flatten_experiment(run_dir: str | os.PathLike, work_dir: str | os.PathLike) -> dict:
    """Retrain the run's configuration on flattened-spectrum data; compare test accuracy per class.

    The flattened data is prepared from the run's own sources with the same settings plus
    ``flatten_spectrum=True`` (in ``work_dir/data``), the model retrained with the run's
    TrainConfig (in ``work_dir/run``); both are reused when they exist.
    """
    run = Path(run_dir)
    record, _ = load_run(run)
    manifest = load_manifest(record.data_path)
    work = Path(work_dir)
    flat_config = dataclasses.replace(manifest.config, flatten_spectrum=True)
    sources = [Source.from_record(s) for s in manifest.sources]
    prepare(sources, work / "data", flat_config, progress=False)
    flat_run = work / "run"
    if not (flat_run / "model.keras").exists():
        config = TrainConfig(**{**record.config, "data": str(work / "data"),
                                "out": str(flat_run)})
        train(config, verbose=0)
    full = evaluate(run)["kinds"][record.kind]
    flat = evaluate(flat_run)["kinds"][record.kind]
    return {"full": {"accuracy": full["accuracy"], "per_class": full["per_class_accuracy"]},
            "flattened": {"accuracy": flat["accuracy"], "per_class": flat["per_class_accuracy"]},
            "flattened_run": str(flat_run)}


def held_out_tiles(run_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Test-split tiles, labels and class names of the kind a run was trained on."""
    record, _ = load_run(run_dir)
    test = load_split(record.data_path, "test", record.kind)
    return test["images"], test["labels"], record.class_names
