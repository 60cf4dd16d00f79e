"""One classifier configuration trained over several seeds: every science number as mean +- std.

A single training run is an anecdote: on the main job's data the CNN's test accuracy spans
0.68-0.83 over seeds. :func:`train_repeats` trains ``OUT/seed<k>/`` for ``k = seed, ...,
seed + repeats - 1`` (each an ordinary run directory: resumable, never overwritten) and records
the plan in ``OUT/repeats.json``; a re-run keeps the finished seeds and refuses a different
configuration. :func:`evaluate_repeats` scores every seed on the test split
(:func:`crturb_keras.runs.evaluation.evaluate`) and writes ``OUT/metrics.json``: per image kind,
the CNN's accuracy, macro F1, expected calibration error and per-class accuracy as the mean and
the sample standard deviation (``ddof=1``) over seeds, the baselines scored on the same test
split, and the seed ensemble (the mean of the seeds' class probabilities). Figures go to
``OUT/figures/`` (per-class bars with error bars, the ensemble's confusion matrix).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError, DataFormatError
from ..io.atomic import atomic_path
from ..metrics import calibration, classification_metrics
from ..plots import plot_confusion_matrix, plot_seed_bars
from .training import TrainConfig

PLAN = "repeats.json"


def seed_configs(config: TrainConfig, repeats: int) -> list[TrainConfig]:
    """The run of each seed: ``config`` with ``seed + i`` and ``out/seed<seed + i>``."""
    if repeats < 1:
        raise ConfigError(f"--repeats must be >= 1, got {repeats}")
    if config.task != "classify":
        raise ConfigError(f"--repeats is for the classifier (task classify), got task "
                          f"{config.task!r}; train map runs one seed at a time")
    return [dataclasses.replace(config, seed=config.seed + i,
                                out=str(Path(config.out) / f"seed{config.seed + i}"))
            for i in range(repeats)]


def _plan(config: TrainConfig, repeats: int) -> dict[str, Any]:
    settings = {k: v for k, v in config.to_dict().items() if k not in ("out", "seed", "verify")}
    return json.loads(json.dumps({"config": settings,
                                  "seeds": [config.seed + i for i in range(repeats)]}))


def is_repeats(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder written by :func:`train_repeats`."""
    return (Path(path) / PLAN).is_file()


def read_plan(out: str | os.PathLike) -> dict[str, Any]:
    """The plan of a repeats folder: the shared ``config`` and the ``seeds``."""
    path = Path(out) / PLAN
    try:
        plan = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{out}: not a repeats folder (no {PLAN}); train it with "
                          f"pipelines.train --repeats N") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        plan = None
    if not isinstance(plan, dict) or not isinstance(plan.get("config"), dict) \
            or not isinstance(plan.get("seeds"), list):
        raise DataFormatError(f"{path}: damaged (not a plan of config and seeds); it was not "
                              f"written by pipelines.train --repeats: train into a new --out")
    return plan


def train_repeats(config: TrainConfig, repeats: int, verbose: int = 2,
                  on_run: Callable[[Path, bool], None] | None = None) -> list[Path]:
    """Train ``config`` with seeds ``config.seed ... config.seed + repeats - 1``.

    Parameters
    ----------
    config : TrainConfig
        The shared configuration; ``config.out`` becomes the repeats folder.
    repeats : int
        Number of training seeds (>= 1; science numbers want >= 3).
    verbose : int
        Keras verbosity of each fit.
    on_run : callable, optional
        Called as ``on_run(run_dir, trained)`` after each seed (``trained`` is False for a seed
        that was already finished).

    Returns
    -------
    list of Path
        The run directory of each seed.

    Raises
    ------
    ConfigError
        If ``config.out`` exists but is not a repeats folder of the same configuration.
    """
    from .training import train

    runs = seed_configs(config, repeats)
    out = Path(config.out)
    plan = _plan(config, repeats)
    if out.exists():
        if not is_repeats(out):
            raise ConfigError(f"{out}: exists and is not a repeats folder; finished outputs are "
                              f"never overwritten: choose another --out")
        if read_plan(out) != plan:
            raise ConfigError(f"{out}: holds repeats of another configuration or seeds (see "
                              f"{out / PLAN}); choose another --out to train this one")
    else:
        with atomic_path(out / PLAN) as tmp:
            tmp.write_text(json.dumps(plan, indent=2))
    done = []
    for run in runs:
        finished = (Path(run.out) / "model.keras").exists()
        if not finished:
            train(run, verbose=verbose)
        done.append(Path(run.out))
        if on_run is not None:
            on_run(Path(run.out), not finished)
    return done


def spread(values: list[float | None]) -> dict[str, Any]:
    """``{"mean", "std", "values"}`` of ``values`` (``std``: sample, ``ddof=1``; 0 for one
    value); ``None`` entries (a class absent from a split) are left out of both."""
    kept = [v for v in values if v is not None]
    if not kept:
        return {"mean": None, "std": None, "values": values}
    std = float(np.std(kept, ddof=1)) if len(kept) > 1 else 0.0
    return {"mean": float(np.mean(kept)), "std": std, "values": values}


def _summarise(per_seed: list[dict], names: list[str]) -> dict[str, Any]:
    return {"accuracy": spread([s["accuracy"] for s in per_seed]),
            "macro_f1": spread([s["macro_f1"] for s in per_seed]),
            "per_class_accuracy": {n: spread([s["per_class_accuracy"][n] for s in per_seed])
                                   for n in names},
            **({"ece": spread([s["calibration"]["ece"] for s in per_seed])}
               if all("calibration" in s for s in per_seed) else {}),
            **({"ece_unscaled": spread([s["calibration_unscaled"]["ece"] for s in per_seed])}
               if all("calibration_unscaled" in s for s in per_seed) else {})}


def _ensemble(runs: list[Path], kind: str, names: list[str]) -> dict[str, Any]:
    """Scores of the mean class probabilities of all seeds on one kind's test split."""
    probabilities, labels = [], None
    for run in runs:
        with np.load(run / "test_probabilities.npz") as stored:
            probabilities.append(stored[f"{kind}_probabilities"].astype(np.float64))
            these = stored[f"{kind}_labels"]
        if labels is not None and not np.array_equal(labels, these):
            raise DataFormatError(f"{run}: its test labels differ from the other seeds'; the "
                                  f"prepared data changed between seeds: train again")
        labels = these
    mean = np.mean(probabilities, axis=0)
    scores = classification_metrics(labels, mean.argmax(axis=1), names)
    scores["calibration"] = calibration(labels, mean)
    return scores


def evaluate_repeats(out: str | os.PathLike, force: bool = False) -> dict[str, Any]:
    """Score every seed of a repeats folder on the test split; write and return
    ``OUT/metrics.json`` (see the module docstring). An existing one is returned unless
    ``force``."""
    from .evaluation import evaluate

    out = Path(out)
    plan = read_plan(out)
    target = out / "metrics.json"
    if target.exists() and not force:
        return json.loads(target.read_text())
    runs = [out / f"seed{seed}" for seed in plan["seeds"]]
    missing = [str(r) for r in runs if not (r / "model.keras").exists()]
    if missing:
        raise ConfigError(f"{out}: seeds not trained yet ({', '.join(missing)}); run the same "
                          f"pipelines.train --repeats command again to finish them")
    scored = []
    for run in runs:
        metrics = evaluate(run, force=force or not (run / "test_probabilities.npz").exists())
        scored.append(metrics)
    names = list(next(iter(scored[0]["kinds"].values()))["per_class_accuracy"])
    result: dict[str, Any] = {"task": "classify_repeats", "split": "test",
                              "seeds": plan["seeds"], "trained_on": plan["config"]["kind"],
                              "std": "sample standard deviation over seeds (ddof=1)",
                              "kinds": {}}
    for kind in scored[0]["kinds"]:
        per_seed = [m["kinds"][kind] for m in scored]
        baselines = {name: _summarise([s["baselines"][name] for s in per_seed], names)
                     for name in per_seed[0]["baselines"]}
        ensemble = _ensemble(runs, kind, names)
        result["kinds"][kind] = {"n": per_seed[0]["n"], "cnn": _summarise(per_seed, names),
                                 "ensemble": ensemble, "baselines": baselines}
        entry = result["kinds"][kind]
        bars = {f"CNN ({len(runs)} seeds)": entry["cnn"]["per_class_accuracy"],
                "logistic": baselines["logistic_image_statistics"]["per_class_accuracy"]}
        plot_seed_bars({label: {n: (v["mean"] or 0.0, v["std"] or 0.0) for n, v in group.items()}
                        for label, group in bars.items()},
                       out / "figures" / f"accuracy_{kind}.png",
                       title=f"test {kind}s: CNN {entry['cnn']['accuracy']['mean']:.3f} ± "
                             f"{entry['cnn']['accuracy']['std']:.3f}, logistic "
                             f"{baselines['logistic_image_statistics']['accuracy']['mean']:.3f}")
        plot_confusion_matrix(np.array(ensemble["confusion_matrix"]), names,
                              out / "figures" / f"confusion_ensemble_{kind}.png",
                              title=f"seed ensemble, test {kind}s: accuracy "
                                    f"{ensemble['accuracy']:.3f}")
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    return result


def _pm(spread: dict[str, Any]) -> str:
    if spread["mean"] is None:
        return f"{'-':>13}"
    return f"{spread['mean']:6.3f}±{spread['std']:.3f}"


def repeats_lines(metrics: dict[str, Any], out: str | os.PathLike) -> list[str]:
    """:func:`evaluate_repeats`'s metrics as text tables: per class, the CNN's mean +- std over
    seeds, the seed ensemble, and the baselines on the same split."""
    seeds = metrics["seeds"]
    lines = [f"{len(seeds)} training seeds ({', '.join(map(str, seeds))}); mean ± std over seeds"]
    for kind, entry in metrics["kinds"].items():
        cnn, ensemble, base = entry["cnn"], entry["ensemble"], entry["baselines"]
        logistic, majority = base["logistic_image_statistics"], base["majority_class"]
        lines.append(f"test {kind}s (n={entry['n']}): CNN accuracy {_pm(cnn['accuracy'])}, "
                     f"macro F1 {_pm(cnn['macro_f1'])}")
        lines.append(f"  {'class':<18} {'CNN':>13} {'ensemble':>9} {'logistic':>9} "
                     f"{'majority':>9}")
        for name, spread in cnn["per_class_accuracy"].items():
            value = ensemble["per_class_accuracy"][name]
            shown = f"{value:9.3f}" if value is not None else f"{'-':>9}"
            lines.append(f"  {name:<18} {_pm(spread)} {shown} "
                         f"{logistic['per_class_accuracy'][name]['mean'] or 0:9.3f} "
                         f"{majority['per_class_accuracy'][name]['mean'] or 0:9.3f}")
        lines.append(f"  {'all':<18} {_pm(cnn['accuracy'])} {ensemble['accuracy']:9.3f} "
                     f"{logistic['accuracy']['mean']:9.3f} {majority['accuracy']['mean']:9.3f}")
        if "ece" in cnn:
            unscaled = (f" (T = 1: {_pm(cnn['ece_unscaled'])})" if "ece_unscaled" in cnn
                        else "")
            lines.append(f"  calibration: ECE {_pm(cnn['ece'])} per seed at the fitted "
                         f"temperature{unscaled}, {ensemble['calibration']['ece']:.3f} for the "
                         f"ensemble")
    lines.append(f"metrics: {Path(out) / 'metrics.json'}; figures: {Path(out) / 'figures'}")
    return lines
