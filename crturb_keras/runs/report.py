"""The science report: one classifier configuration trained over seeds (and over folds of the
runs) and scored beside its baselines, with the blur and flattened-spectrum experiments of
Bustard & Wu 2024.

:func:`science_report` writes, in ``OUT``:

``fold<k>/cnn/``
    The seeds of fold ``k`` (:func:`crturb_keras.runs.repeats.train_repeats`) and their summary
    ``metrics.json`` (mean +- std over seeds, the seed ensemble, the baselines on the same test
    split, calibration). Fold ``k`` is the given data re-prepared with
    ``PrepareConfig.fold = k`` (in ``fold<k>/data``; the given data itself for its own fold):
    with ``folds = n`` every run of a class is in the test split once.
``fold<k>/flattened/{data,cnn}``
    The same sources prepared with every slice's power spectrum flattened (phases kept) and the
    same configuration trained on them over the same seeds (experiment ``flatten``).
``report.json``, ``report.md``, ``figures/``
    Every number of the report (pooled over folds and seeds: mean +- sample std over all
    trained networks, the baselines' over folds) and the markdown that states them, embedding
    the figures: per-class accuracy with error bars, confusion matrices, reliability, accuracy
    against blur width (experiment ``blur``) and the flattened-spectrum comparison.

A re-run with the same settings keeps every finished seed and prepared dataset and writes the
report again from them; another configuration in ``OUT`` is refused (by the seeds' plan).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..data import PrepareConfig, load_manifest, load_split, prepare
from ..data.sources import Source
from ..errors import ConfigError
from ..io.atomic import atomic_path
from ..plots import plot_accuracy_lines, plot_seed_bars
from .record import read_record, training_line
from .repeats import evaluate_repeats, spread, train_repeats
from .training import TrainConfig, load_run

#: Experiments the report can run.
EXPERIMENTS = ("blur", "flatten")
#: Blur widths (pixels) tried, those up to a quarter of the tile side.
SIGMAS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
LOGISTIC = "logistic_image_statistics"
#: What a report folder holds (hidden names: temporaries and locks of unfinished writes).
_OURS = re.compile(r"fold\d+|figures|report\.(json|md)|\..*")


def blur_over_seeds(runs: Sequence[Path], sigmas: Sequence[float]) -> dict[str, Any]:
    """Test accuracy per class of each seed's model on Gaussian-blurred test tiles of its own
    kind, as mean +- std over seeds per blur width ``sigma`` (px); also the share of tiles
    predicted as each class (seed mean), which shows where blurred maps drift."""
    from ..interpret.experiments import blur_experiment

    per_seed, tests = [], {}
    for run in runs:
        record, model = load_run(run)
        key = (record.data_path, record.kind)  # the seeds of a fold share their test tiles
        if key not in tests:
            tests[key] = load_split(record.data_path, "test", record.kind)
        test = tests[key]
        per_seed.append(blur_experiment(model, test["images"], test["labels"],
                                        record.class_names, sigmas))
    names = [n for n in per_seed[0]["classes"] if n in per_seed[0]["fraction"]]
    accuracy, std, drift = {}, {}, {}
    for s, sigma in enumerate(sigmas):
        key = str(float(sigma))
        values = {n: spread([r["fraction"][n][s][r["classes"].index(n)] for r in per_seed])
                  for n in names}
        accuracy[key] = {n: v["mean"] for n, v in values.items()}
        std[key] = {n: v["std"] for n, v in values.items()}
        drift[key] = {n: np.mean([r["fraction"][n][s] for r in per_seed], axis=0).round(4)
                      .tolist() for n in names}
    return {"sigmas": [float(s) for s in sigmas], "classes": per_seed[0]["classes"],
            "accuracy": accuracy, "std": std, "predicted_fraction": drift}


def _reprepared(data: str, folder: Path, **changes: Any) -> str:
    """``data``'s sources prepared again with ``changes`` to its PrepareConfig in ``folder``
    (reused when it exists with the same settings)."""
    manifest = load_manifest(data)
    config = dataclasses.replace(manifest.config, **changes)
    prepare([Source.from_record(s) for s in manifest.sources], folder, config, progress=False)
    return str(folder)


def _fold_data(config: TrainConfig, given: PrepareConfig, out: Path,
               folds: int) -> dict[int, str]:
    """Prepared data of each fold (see the module docstring); ``given`` is how
    ``config.data`` was prepared."""
    if folds == 1:
        return {given.fold: config.data}
    if given.split_by != "realization":
        raise ConfigError(f"{config.data}: --folds rotates whole runs among the splits and needs "
                          f"data prepared with --split-by realization (this has "
                          f"{given.split_by!r})")
    return {k: config.data if k == given.fold else
            _reprepared(config.data, out / f"fold{k}" / "data", fold=k) for k in range(folds)}


def _pool(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Folds' :func:`evaluate_repeats` summaries pooled per kind: the CNN's mean +- std over
    every (fold, seed) network; the baselines' (one fit per fold: their seed means) and the
    seed ensembles' over folds."""
    def pooled_spread(groups: list[dict[str, Any]], by_fold: bool) -> dict[str, Any]:
        values = [g["mean"] for g in groups] if by_fold else \
            [v for g in groups for v in g["values"]]
        return spread([v for v in values if v is not None])

    def summary(entries: list[dict[str, Any]], by_fold: bool = True) -> dict[str, Any]:
        names = list(entries[0]["per_class_accuracy"])
        pooled = {"accuracy": pooled_spread([e["accuracy"] for e in entries], by_fold),
                  "per_class_accuracy": {n: pooled_spread([e["per_class_accuracy"][n]
                                                           for e in entries], by_fold)
                                         for n in names}}
        for key in ("ece", "ece_unscaled"):
            if all(key in e for e in entries):
                pooled[key] = pooled_spread([e[key] for e in entries], by_fold)
        return pooled

    def wrap(value: float | None) -> dict[str, Any]:
        return {"mean": value, "std": None, "values": [value]}

    kinds = {}
    for kind in summaries[0]["kinds"]:
        entries = [s["kinds"][kind] for s in summaries]
        ensembles = [{"accuracy": wrap(e["ensemble"]["accuracy"]),
                      "per_class_accuracy": {n: wrap(v) for n, v in
                                             e["ensemble"]["per_class_accuracy"].items()},
                      "ece": wrap(e["ensemble"]["calibration"]["ece"])} for e in entries]
        kinds[kind] = {"n": sum(e["n"] for e in entries),
                       "cnn": summary([e["cnn"] for e in entries], by_fold=False),
                       "ensemble": summary(ensembles),
                       "baselines": {b: summary([e["baselines"][b] for e in entries])
                                     for b in entries[0]["baselines"]}}
    return {"kinds": kinds}


def _pairs(group: dict[str, Any]) -> dict[str, tuple[float, float]]:
    return {n: (v["mean"] or 0.0, v["std"] or 0.0) for n, v in group["per_class_accuracy"].items()}


def science_report(config: TrainConfig, repeats: int = 3, folds: int = 1,
                   experiments: Sequence[str] = EXPERIMENTS, verbose: int = 0,
                   log: Callable[[str], None] = print) -> Path:
    """Train ``config`` over ``repeats`` seeds on each of ``folds`` folds, run
    ``experiments``, write the report.

    Parameters
    ----------
    config : TrainConfig
        The classifier configuration; ``config.out`` becomes the report folder (see the module
        docstring) and ``config.seed`` the first seed.
    repeats : int
        Training seeds per fold (>= 3 for a mean +- std worth quoting; >= 2 required).
    folds : int
        1: the data as prepared. ``n > 1``: folds ``0 .. n - 1`` of a dataset split by
        realization (``PrepareConfig.fold``); ``n`` = runs per class rotates every run through
        the test split.
    experiments : sequence of {"blur", "flatten"}
    verbose : int
        Keras verbosity of each fit.
    log : callable
        Receives one line per finished step (seeds, experiments).

    Returns
    -------
    Path
        ``OUT/report.md``.

    Raises
    ------
    ConfigError
        For fewer than two seeds, ``folds < 1``, an unknown experiment, folds of data not split
        by realization, flattened data for the flatten experiment, or an ``OUT`` holding
        something else.
    """
    unknown = sorted(set(experiments) - set(EXPERIMENTS))
    if unknown:
        raise ConfigError(f"unknown experiment(s) {unknown}; choose from {EXPERIMENTS}")
    if repeats < 2 or folds < 1:
        raise ConfigError(f"a science report needs >= 2 training seeds (3 or more to quote) and "
                          f">= 1 fold, got --repeats {repeats}, --folds {folds}")
    out = Path(config.out)
    foreign = [p.name for p in out.iterdir() if not _OURS.fullmatch(p.name)] \
        if out.is_dir() else ([out.name] if out.exists() else [])
    if foreign:
        raise ConfigError(f"{out}: holds {', '.join(sorted(foreign)[:3])}, which a science "
                          f"report does not write; choose another --out")
    manifest = load_manifest(config.data)
    if "flatten" in experiments and manifest.config.flatten_spectrum:
        raise ConfigError(f"{config.data}: prepared with flattened spectra already; the flatten "
                          f"experiment needs full-power data (or leave it out of --experiments)")
    def trained(run: Path, fresh: bool) -> None:
        log(training_line(run, fresh))

    data = _fold_data(config, manifest.config, out, folds)
    runs: list[Path] = []
    per_fold: dict[str, Any] = {}
    for fold, fold_data in data.items():
        cnn = out / f"fold{fold}" / "cnn"
        runs += train_repeats(dataclasses.replace(config, data=fold_data, out=str(cnn)),
                              repeats, verbose, on_run=trained)
        per_fold[str(fold)] = {"data": str(Path(fold_data).resolve()),
                               "test_runs": _test_runs(fold_data),
                               "cnn": evaluate_repeats(cnn)}
    result: dict[str, Any] = {"data": str(Path(config.data).resolve()),
                              "config": {k: v for k, v in config.to_dict().items()
                                         if k not in ("out", "data", "verify")},
                              "seeds": [config.seed + i for i in range(repeats)],
                              "folds": per_fold,
                              "cnn": _pool([f["cnn"] for f in per_fold.values()]),
                              "temperatures": [read_record(r).temperature for r in runs]}
    figures = out / "figures"
    for kind, entry in result["cnn"]["kinds"].items():
        plot_seed_bars({f"CNN ({len(runs)} networks)": _pairs(entry["cnn"]),
                        "logistic": _pairs(entry["baselines"][LOGISTIC])},
                       figures / f"accuracy_{kind}.png",
                       title=f"test {kind}s: CNN {entry['cnn']['accuracy']['mean']:.3f} ± "
                             f"{entry['cnn']['accuracy']['std']:.3f}, logistic "
                             f"{entry['baselines'][LOGISTIC]['accuracy']['mean']:.3f}")
    if "blur" in experiments:
        tile = manifest.geometry.tile
        blur = blur_over_seeds(runs, [s for s in SIGMAS if s <= tile / 4])
        plot_accuracy_lines(blur["sigmas"], blur["accuracy"], "blur σ (px)",
                            figures / "blur.png", spread=blur["std"])
        result["blur"] = blur
        log(f"blur experiment: {figures / 'blur.png'}")
    if "flatten" in experiments:
        flat_summaries = []
        for fold, fold_data in data.items():
            flat = out / f"fold{fold}" / "flattened"
            flat_data = _reprepared(fold_data, flat / "data", flatten_spectrum=True)
            train_repeats(dataclasses.replace(config, data=flat_data, out=str(flat / "cnn")),
                          repeats, verbose, on_run=trained)
            flat_summaries.append(evaluate_repeats(flat / "cnn"))
        result["flattened"] = _pool(flat_summaries)
        kind = config.kind
        full, flat = result["cnn"]["kinds"][kind], result["flattened"]["kinds"][kind]
        plot_seed_bars({"CNN, full spectrum": _pairs(full["cnn"]),
                        "CNN, flattened": _pairs(flat["cnn"]),
                        "logistic, flattened": _pairs(flat["baselines"][LOGISTIC])},
                       figures / "flattened.png",
                       title=f"test {kind}s, {len(runs)} networks: flattened-spectrum CNN "
                             f"{flat['cnn']['accuracy']['mean']:.3f} ± "
                             f"{flat['cnn']['accuracy']['std']:.3f}")
        log(f"flattened-spectrum experiment: {figures / 'flattened.png'}")
    with atomic_path(out / "report.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    target = out / "report.md"
    with atomic_path(target) as tmp:
        tmp.write_text(report_markdown(result, out))
    return target


def _test_runs(data: str) -> dict[str, list[str]]:
    """The run folders (their names) of each class in a dataset's test split."""
    manifest = load_manifest(data)
    runs: dict[str, set[str]] = {}
    for entry, layout in zip(manifest.sources, manifest.layouts):
        if layout.region("test") is not None:
            folder = Path(entry["files"][0]["path"]).parent
            runs.setdefault(entry["class"], set()).add(folder.name)
    return {name: sorted(found) for name, found in sorted(runs.items())}


def _pm(spread: dict[str, Any] | None) -> str:
    if not spread or spread.get("mean") is None:
        return "–"
    return f"{spread['mean']:.3f} ± {spread['std']:.3f}"


def _accuracy_table(entry: dict[str, Any]) -> list[str]:
    cnn, ensemble, base = entry["cnn"], entry["ensemble"], entry["baselines"]
    rows = ["| class | CNN | seed ensemble | logistic (one-point + spectrum) | majority |",
            "|---|---|---|---|---|"]
    for name, values in cnn["per_class_accuracy"].items():
        rows.append(f"| {name} | {_pm(values)} | {_pm(ensemble['per_class_accuracy'][name])} | "
                    f"{_pm(base[LOGISTIC]['per_class_accuracy'][name])} | "
                    f"{_pm(base['majority_class']['per_class_accuracy'][name])} |")
    rows.append(f"| **all** | **{_pm(cnn['accuracy'])}** | {_pm(ensemble['accuracy'])} | "
                f"{_pm(base[LOGISTIC]['accuracy'])} | "
                f"{_pm(base['majority_class']['accuracy'])} |")
    return rows


def report_markdown(result: dict[str, Any], out: str | os.PathLike) -> str:
    """The report of :func:`science_report`'s ``result`` as markdown (figure links relative to
    ``out``)."""
    out = Path(out)
    seeds, folds, config = result["seeds"], result["folds"], result["config"]
    networks = len(seeds) * len(folds)
    first = next(iter(folds))
    lines = ["# Science report", "",
             f"Data: `{result['data']}`. Classifier trained on {config['kind']}s: depth "
             f"{config['depth']}, {config['base_filters']} base filters, head "
             f"`{config.get('head', 'flatten')}`, dropout {config['dropout']}, AdamW "
             f"{config['learning_rate']:g} (weight decay {config['weight_decay']:g}), batch "
             f"{config['batch_size']}, up to {config['epochs']} epochs with patience "
             f"{config['patience']}; {len(seeds)} seeds ({', '.join(map(str, seeds))}) on "
             f"{len(folds)} fold(s) of the runs ({', '.join(folds)}): {networks} networks.", "",
             f"Every number is on the **test** split, as mean ± sample std (ddof = 1) over the "
             f"{networks} networks (CNN) or over the folds (baselines, fitted on each fold's "
             f"training split; seed ensemble: one per fold, the mean of its seeds' "
             f"probabilities). Test runs per fold:", ""]
    for fold, entry in folds.items():
        lines.append(f"- fold {fold}: " + "; ".join(f"{c} {', '.join(r)}"
                                                   for c, r in entry["test_runs"].items()))
    lines.append("")
    for kind, entry in result["cnn"]["kinds"].items():
        lines += [f"## Test {kind}s (n = {entry['n']} over all folds)", "",
                  *_accuracy_table(entry), "",
                  f"![per-class accuracy](figures/accuracy_{kind}.png) "
                  f"![seed ensemble, fold {first}](fold{first}/cnn/figures/"
                  f"confusion_ensemble_{kind}.png)", ""]
        if len(folds) > 1:
            lines += ["| fold | CNN | logistic |", "|---|---|---|"]
            for fold, fold_entry in folds.items():
                scores = fold_entry["cnn"]["kinds"][kind]
                lines.append(f"| {fold} | {_pm(scores['cnn']['accuracy'])} | "
                             f"{_pm(scores['baselines'][LOGISTIC]['accuracy'])} |")
            lines.append("")
        cnn = entry["cnn"]
        if "ece" in cnn:
            unscaled = f"; at T = 1: {_pm(cnn['ece_unscaled'])}" if "ece_unscaled" in cnn else ""
            lines += [f"Calibration: expected calibration error {_pm(cnn['ece'])} at the "
                      f"validation-fitted temperature{unscaled}; seed ensembles "
                      f"{_pm(entry['ensemble'].get('ece'))}.", ""]
    temperatures = ", ".join(f"{t:.2f}" for t in result["temperatures"])
    lines += ["## Calibration", "",
              f"Temperatures fitted on the validation split, per network: {temperatures} "
              f"(T < 1 sharpens, T > 1 softens). Validation and test hold different runs, so a "
              f"temperature fitted on one need not transfer to the other; the ECE at T = 1 "
              f"above says whether it helped.", "",
              f"![reliability](fold{first}/cnn/seed{seeds[0]}/figures/reliability.png)", ""]
    if "blur" in result:
        blur = result["blur"]
        names = list(next(iter(blur["accuracy"].values())))
        lines += ["## Blur experiment", "",
                  "Accuracy per class when the test tiles are blurred by a Gaussian of width σ "
                  "(px) before the trained networks see them (CR transport that damps small "
                  "scales should pull blurred maps towards the diffusive classes; "
                  "`report.json` has where they drift).", "",
                  "| σ (px) | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for sigma in blur["sigmas"]:
            key = str(float(sigma))
            lines.append(f"| {sigma:g} | " + " | ".join(
                f"{blur['accuracy'][key][n]:.3f} ± {blur['std'][key][n]:.3f}" for n in names)
                + " |")
        lines += ["", "![blur](figures/blur.png)", ""]
    if "flattened" in result:
        kind = config["kind"]
        full, flat = result["cnn"]["kinds"][kind], result["flattened"]["kinds"][kind]
        chance = 1.0 / len(full["cnn"]["per_class_accuracy"])
        lines += ["## Flattened power spectrum", "",
                  f"The same sources prepared with every slice's power spectrum flattened "
                  f"(phases kept), the same configuration trained over the same folds and "
                  f"seeds; test {kind}s. Chance is {chance:.3f}.", "",
                  "| class | CNN, full spectrum | CNN, flattened | logistic, flattened |",
                  "|---|---|---|---|"]
        for name in full["cnn"]["per_class_accuracy"]:
            lines.append(f"| {name} | {_pm(full['cnn']['per_class_accuracy'][name])} | "
                         f"{_pm(flat['cnn']['per_class_accuracy'][name])} | "
                         f"{_pm(flat['baselines'][LOGISTIC]['per_class_accuracy'][name])} |")
        lines.append(f"| **all** | {_pm(full['cnn']['accuracy'])} | "
                     f"**{_pm(flat['cnn']['accuracy'])}** | "
                     f"{_pm(flat['baselines'][LOGISTIC]['accuracy'])} |")
        lines += ["", "![flattened](figures/flattened.png)", ""]
    lines.append(f"Numbers: `{out / 'report.json'}`.")
    return "\n".join(lines) + "\n"
