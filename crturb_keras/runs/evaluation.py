"""Evaluate a trained run on the **test** split only, next to baselines, with figures.

The model in the run directory was selected on the validation split; the test split is read here
and nowhere else. Classifier runs are scored on every image kind the prepared data holds (a
slice-trained model is also scored on projections, each with that kind's stored normalisation).
Results go to ``RUN/metrics.json`` and ``RUN/figures/``. Classifier probabilities are
``softmax(logits / T)`` with the run's temperature ``T`` fitted on the validation split (the
calibration at ``T = 1`` is reported beside it); the test probabilities and labels per kind go to
``RUN/test_probabilities.npz`` (``<kind>_probabilities`` ``(n, K)``, ``<kind>_labels``
``(n,)``), which seed ensembles and calibration studies read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..baselines import (
    image_features, logistic_baseline, majority_class, pixel_linear_baseline)
from ..data import Manifest, load_manifest, load_split
from ..io.atomic import atomic_path
from ..metrics import calibration, classification_metrics, map_metrics, softmax, vrmse
from ..models.inference import predict_batches
from ..plots import plot_confusion_matrix, plot_map_panels, plot_reliability
from .record import read_record
from .repeats import evaluate_repeats, is_repeats, repeats_lines
from .training import load_run


def evaluate(run_dir: str | os.PathLike, force: bool = False, **generative: Any) -> dict[str, Any]:
    """Score a run on its test split; write ``metrics.json`` and figures; return the metrics.

    A folder of seeds written by :func:`crturb_keras.runs.repeats.train_repeats` is scored
    seed by seed and summarised as mean +- std (:func:`~crturb_keras.runs.repeats.evaluate_repeats`).

    An existing ``metrics.json`` is returned as it is unless ``force`` is set. Generative runs
    go to :func:`crturb_keras.generative.evaluate_generator` with ``generative``
    (``classifier``, ``n``, ``steps``, ``guidance``); other runs ignore those.
    """
    run = Path(run_dir)
    if is_repeats(run):
        return evaluate_repeats(run, force=force)
    existing = run / "metrics.json"
    if existing.exists() and not force:
        return json.loads(existing.read_text())
    if read_record(run).task == "generate":
        from ..generative.evaluation import evaluate_generator

        options = {key: generative[key] for key in ("n", "steps", "guidance") if key in generative}
        return evaluate_generator(run, generative.get("classifier"), force=force, **options)
    record, model = load_run(run)
    data = record.prepared_data()
    manifest = load_manifest(data)
    config = record.config
    if record.task == "classify":
        metrics = _evaluate_classifier(run, model, manifest, data, config, record.temperature)
    else:
        metrics = _evaluate_map(run, model, manifest, data, config)
    metrics["split"] = "test"
    with atomic_path(existing) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2))
    return metrics


def _evaluate_classifier(run: Path, model, manifest: Manifest, data: str, config: dict,
                         temperature: float) -> dict:
    names = list(manifest.classes)
    train = load_split(data, "train", config["kind"])
    majority = majority_class(train["labels"])
    baseline = logistic_baseline(train["images"], train["labels"], seed=config["seed"])
    out: dict[str, Any] = {"task": "classify", "trained_on": config["kind"], "kinds": {}}
    arrays: dict[str, np.ndarray] = {}
    for kind in manifest.counts["test"]:
        test = load_split(data, "test", kind)
        logits = predict_batches(model, test["images"])
        probabilities = softmax(logits / temperature)
        predicted = probabilities.argmax(axis=1)
        scores = classification_metrics(test["labels"], predicted, names)
        scores["calibration"] = {**calibration(test["labels"], probabilities),
                                 "temperature": temperature}
        scores["calibration_unscaled"] = calibration(test["labels"], softmax(logits))
        arrays[f"{kind}_probabilities"] = probabilities.astype(np.float32)
        arrays[f"{kind}_labels"] = test["labels"].astype(np.int32)
        scores["baselines"] = {
            "majority_class": classification_metrics(
                test["labels"], np.full_like(test["labels"], majority), names),
            "logistic_image_statistics": classification_metrics(
                test["labels"], baseline.predict(image_features(test["images"])), names),
        }
        out["kinds"][kind] = scores
        plot_confusion_matrix(np.array(scores["confusion_matrix"]), names,
                              run / "figures" / f"confusion_{kind}.png",
                              title=f"test {kind}s: accuracy {scores['accuracy']:.3f}")
    curves = {}
    for kind, scores in out["kinds"].items():
        curves[f"{kind}s, T = {temperature:.2f}"] = scores["calibration"]
        curves[f"{kind}s, T = 1"] = scores["calibration_unscaled"]
    plot_reliability(curves, run / "figures" / "reliability.png")
    with atomic_path(run / "test_probabilities.npz") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    return out


def _evaluate_map(run: Path, model, manifest: Manifest, data: str, config: dict) -> dict:
    kind = config["kind"]
    targets = manifest.geometry.targets
    train = load_split(data, "train", kind, targets=True)
    test = load_split(data, "test", kind, targets=True)
    predicted = predict_batches(model, test["images"], 64)
    linear = pixel_linear_baseline(train["images"], train["targets"])
    classes = {i: n for n, i in manifest.classes.items()}
    out: dict[str, Any] = {"task": "map", "kind": kind,
                           "classes_used": sorted({classes[int(i)] for i in test["labels"]}),
                           "targets": {}}
    for t, name in enumerate(targets):
        truth, guess = test["targets"][..., t], predicted[..., t]
        scores = map_metrics(truth, guess)
        a, b = linear[t]
        scores["baselines"] = {
            "mean": {"vrmse": vrmse(truth, np.full_like(truth, train["targets"][..., t].mean()))},
            "pixel_linear": {"vrmse": vrmse(truth, a * test["images"][..., 0] + b),
                             "slope": float(a), "intercept": float(b)},
        }
        scores["per_class_vrmse"] = {
            classes[int(c)]: vrmse(truth[test["labels"] == c], guess[test["labels"] == c])
            for c in np.unique(test["labels"])}
        out["targets"][name] = scores
        picks = np.linspace(0, len(truth) - 1, 3).astype(int)
        plot_map_panels(test["images"][picks, ..., 0], truth[picks], guess[picks], name,
                        run / "figures" / f"map_{name}.png")
    return out


def summary_lines(metrics: dict, run_dir: str | os.PathLike) -> list[str]:
    """The test metrics of :func:`evaluate` as text tables: per-class accuracy beside the
    baselines (classifier), VRMSE/SSIM/r per target beside the linear baseline (U-net), or each
    generative metric beside its real-vs-real reference."""
    if metrics["task"] == "classify_repeats":
        return repeats_lines(metrics, run_dir)
    lines = []
    if metrics["task"] == "generate":
        from ..generative.evaluation import metrics_table

        lines.append(f"{metrics['model']}: {metrics['samples_per_class']} samples per class, "
                     f"{metrics['steps']} DDIM steps, vs test tiles; (real train vs test) in "
                     f"brackets")
        lines += metrics_table(metrics)
    elif metrics["task"] == "classify":
        for kind, scores in metrics["kinds"].items():
            base = scores["baselines"]
            lines.append(f"test {kind}s (n={scores['n']}): accuracy {scores['accuracy']:.3f}, "
                         f"macro F1 {scores['macro_f1']:.3f}")
            lines.append(f"  {'class':<18} {'CNN':>6} {'logistic':>9} {'majority':>9}")
            for name, value in scores["per_class_accuracy"].items():
                logistic = base["logistic_image_statistics"]["per_class_accuracy"][name]
                majority = base["majority_class"]["per_class_accuracy"][name]
                lines.append(f"  {name:<18} {value:6.3f} {logistic:9.3f} {majority:9.3f}")
            lines.append(f"  {'all':<18} {scores['accuracy']:6.3f} "
                         f"{base['logistic_image_statistics']['accuracy']:9.3f} "
                         f"{base['majority_class']['accuracy']:9.3f}")
            if "calibration" in scores:
                scaled = scores["calibration"]
                line = f"  calibration: ECE {scaled['ece']:.3f}, NLL {scaled['nll']:.3f}"
                if "calibration_unscaled" in scores:
                    raw = scores["calibration_unscaled"]
                    line += (f" at the validation-fitted temperature {scaled['temperature']:.2f} "
                             f"(T = 1: ECE {raw['ece']:.3f}, NLL {raw['nll']:.3f})")
                lines.append(line)
    else:
        lines.append(f"test {metrics['kind']}s of {', '.join(metrics['classes_used'])}")
        lines.append(f"  {'target':<26} {'VRMSE':>6} {'SSIM':>6} {'r':>6} {'linear':>7}")
        for name, scores in metrics["targets"].items():
            lines.append(f"  {name:<26} {scores['vrmse']:6.3f} {scores['ssim']:6.3f} "
                         f"{scores['pearson_r']:6.3f} "
                         f"{scores['baselines']['pixel_linear']['vrmse']:7.3f}")
    lines.append(f"metrics: {Path(run_dir) / 'metrics.json'}; figures: "
                 f"{Path(run_dir) / 'figures'}")
    return lines
