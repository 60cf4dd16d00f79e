"""Judge a generative run with physics, next to the real-vs-real reference.

For each class (or, for the unconditional DDIM, for all classes pooled) ``n`` maps are sampled
and compared with the **test** tiles of that class: KID on the penultimate features of an
independent trained classifier ("physics features") and on image statistics, mean power-spectrum
error per band, 1-Wasserstein distance of the pixel PDFs, and classifier agreement (fraction of
class-c samples the classifier calls c). The same metrics for ``n`` **training** tiles against the
test tiles are the reference line: a generator cannot be expected to beat the difference between
two real samples of the same physics. A seam ratio (mean absolute jump across the wrapped edge /
mean jump between neighbouring pixels; 1 = seamless) shows whether periodic tiling holds.
Results go to ``RUN/metrics.json`` and ``RUN/figures/generated_statistics.png``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data import load_split
from ..errors import ConfigError
from ..io.atomic import atomic_path
from ..metrics import classifier_agreement, classifier_features, generation_metrics
from ..models.inference import predict_batches
from ..plots import plot_generated_statistics
from ..runs.record import RunRecord
from ..spectra import radial_power_spectrum
from .training import load_generator


def seam_ratio(images: np.ndarray) -> float:
    """Mean |jump| across the periodic wrap of ``(n, H, W[, 1])`` tiles over the interior mean."""
    x = np.asarray(images, dtype=np.float64).reshape(images.shape[:3])
    interior = np.mean([np.abs(np.diff(x, axis=1)).mean(), np.abs(np.diff(x, axis=2)).mean()])
    seam = np.mean([np.abs(x[:, 0] - x[:, -1]).mean(), np.abs(x[:, :, 0] - x[:, :, -1]).mean()])
    return float(seam / max(interior, 1e-12))


def _classifier(classifier_run: str | os.PathLike | None, record: RunRecord):
    if classifier_run is None:
        return None
    from ..runs.training import load_run

    classifier_record, model = load_run(classifier_run)
    if classifier_record.task != "classify":
        raise ConfigError(f"{classifier_run}: not a classifier run; pass a --task classify run")
    if classifier_record.normalization != record.normalization or \
            classifier_record.tile != record.tile:
        raise ConfigError(f"{classifier_run}: trained on data with another normalisation or tile "
                          f"size than the generator; train both on the same prepared data")
    return model


def evaluate_generator(run_dir: str | os.PathLike, classifier_run: str | os.PathLike | None = None,
                       n: int = 64, steps: int = 50, guidance: float = 1.0, seed: int = 0,
                       force: bool = False, progress: bool = False) -> dict[str, Any]:
    """Score a generative run per class; write ``metrics.json``; return the metrics.

    Parameters
    ----------
    classifier_run : path, optional
        A classifier run trained on the same prepared data; without it, no physics-feature KID
        and no classifier agreement.
    n : int
        Samples per class (and training tiles drawn for the reference).
    steps, guidance : DDIM steps and guidance weight of the samples.
    force : bool
        Recompute an existing ``metrics.json``.
    """
    run = Path(run_dir)
    existing = run / "metrics.json"
    if existing.exists() and not force:
        return json.loads(existing.read_text())
    generator = load_generator(run)
    record = generator.record
    data, kind = record.prepared_data(), record.kind
    classifier = _classifier(classifier_run, record)
    used = list(record.classes_used)
    groups = used if generator.conditional else ["all"]
    rng = np.random.default_rng(seed)
    results: dict[str, Any] = {}
    spectra: dict[str, dict[str, tuple]] = {}
    pdfs: dict[str, dict[str, np.ndarray]] = {}
    for group in groups:
        classes = used if group == "all" else [group]
        test = load_split(data, "test", kind, classes=classes)
        train = load_split(data, "train", kind, classes=classes)
        reference = train["images"][rng.choice(len(train["images"]), min(n, len(train["images"])),
                                               replace=False)]
        fake = generator.sample(n, None if group == "all" else group, steps=steps,
                                guidance=guidance, seed=seed, progress=progress)
        if not np.isfinite(fake).all():
            raise ConfigError(f"{run}: samples of {group} contain NaN/inf; the model diverged "
                              f"(lower --learning-rate or train longer)")
        real = test["images"]
        features = {}
        if classifier is not None:
            features = {name: classifier_features(classifier, images)
                        for name, images in (("real", real), ("reference", reference),
                                             ("fake", fake))}
        entry = {
            "generated": generation_metrics(real, fake, features.get("real"),
                                            features.get("fake"), seed=seed),
            "real_vs_real": generation_metrics(real, reference, features.get("real"),
                                               features.get("reference"), seed=seed),
            "seam_ratio": {"generated": seam_ratio(fake), "real_test": seam_ratio(real)},
        }
        if classifier is not None:
            names = record.class_names
            if group == "all":
                predicted = np.argmax(predict_batches(classifier, fake), axis=1)
                entry["class_fractions"] = {
                    "generated": {c: float(np.mean(predicted == i)) for i, c in enumerate(names)},
                    "real_test": {c: float(np.mean(test["labels"] == i))
                                  for i, c in enumerate(names)}}
            else:
                index = record.classes[group]
                entry["classifier_agreement"] = {
                    "generated": classifier_agreement(predict_batches(classifier, fake), index),
                    "real_vs_real": classifier_agreement(predict_batches(classifier, reference),
                                                         index)}
        results[group] = entry
        spectra[group] = {label: radial_power_spectrum(images[..., 0])
                          for label, images in (("real test", real), ("real train", reference),
                                                ("generated", fake))}
        pdfs[group] = {"real test": real.ravel(), "generated": fake.ravel()}
    metrics = {"task": "generate", "model": record.config["model"], "split": "test",
               "samples_per_class": n, "steps": steps, "guidance": guidance,
               "classifier": None if classifier_run is None else str(Path(classifier_run).resolve()),
               "classes": results}
    plot_generated_statistics(spectra, pdfs, run / "figures" / "generated_statistics.png")
    with atomic_path(existing) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2))
    return metrics


def metrics_table(metrics: dict) -> list[str]:
    """Markdown rows: per class, generated value / real-vs-real reference of each metric."""
    lines = ["| class | KID physics | KID statistics | spectral error low/mid/high | PDF W1 | "
             "classifier agreement | seam ratio |", "|---|---|---|---|---|---|---|"]

    def kid(entry, key):
        value = entry[key]
        return "n/a" if value is None else f"{value['kid']:.3g}"

    for name, entry in metrics["classes"].items():
        gen, ref = entry["generated"], entry["real_vs_real"]
        bands = "/".join(f"{gen['spectral_error'][b]:.2f}" for b in gen["spectral_error"])
        ref_bands = "/".join(f"{ref['spectral_error'][b]:.2f}" for b in ref["spectral_error"])
        agreement = entry.get("classifier_agreement")
        agree = "n/a" if agreement is None else \
            f"{agreement['generated']:.2f} ({agreement['real_vs_real']:.2f})"
        lines.append(
            f"| {name} | {kid(gen, 'kid_physics')} ({kid(ref, 'kid_physics')}) | "
            f"{kid(gen, 'kid_statistics')} ({kid(ref, 'kid_statistics')}) | {bands} ({ref_bands}) | "
            f"{gen['pdf_wasserstein']:.3f} ({ref['pdf_wasserstein']:.3f}) | {agree} | "
            f"{entry['seam_ratio']['generated']:.2f} ({entry['seam_ratio']['real_test']:.2f}) |")
    return lines
