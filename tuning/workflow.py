"""The whole tuning job as one call: search, retrain the best configuration, evaluate, export.

``pipelines.tune`` only parses its flags into :class:`TuneConfig` and prints what
:func:`tune` reports; scripts call :func:`tune` directly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import keras
from tqdm import tqdm

from crturb_keras.data import load_manifest
from crturb_keras.errors import ConfigError
from crturb_keras.progress import progress_bar
from crturb_keras.runs.repeats import train_repeats
from crturb_keras.runs.training import TrainConfig, train

from . import search
from . import space as spaces
from .hypermodels import CrturbHyperModel


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """A search and its follow-up (each field is a ``pipelines.tune`` flag).

    Attributes
    ----------
    data : str
        Prepared dataset folder.
    out : str
        Folder of the search (trials, results, the retrained runs ``best/`` and ``default/``).
    task : {"classify", "map"}
    kind : {"slice", "projection"}
    tuner : {"random", "bayesian", "hyperband"}
    max_trials : int
        Trials to run (Hyperband: its own budget from ``epochs``).
    epochs, patience : int
        Epochs per trial and early-stopping patience within a trial.
    objective : str or None
        ``val_loss`` (default), ``val_accuracy`` (classify) or ``val_ssim`` (map).
    overrides : tuple of str
        ``NAME=V`` (fix), ``NAME=LOW:HIGH`` (narrow) or ``NAME=A,B`` (list) a hyperparameter.
    final_epochs : int
        Epochs when retraining the best configuration.
    compare_default : bool
        Also train the untuned default model and evaluate it on the test split.
    repeats : int
        Seeds ``seed .. seed + repeats - 1`` each retrained configuration is trained with
        (classifier only; ``best/`` and ``default/`` are then repeats folders scored as mean
        +- std over seeds, see :mod:`crturb_keras.runs.repeats`; the first seed is exported).
    seed : int
    worker_timeout : float
        Chief: seconds without a worker's heartbeat before its trial is retried elsewhere.
    """

    data: str = "data/prepared"
    out: str = "runs/tune"
    task: str = "classify"
    kind: str = "slice"
    tuner: str = "bayesian"
    max_trials: int = 8
    epochs: int = 8
    patience: int = 3
    objective: str | None = None
    overrides: tuple[str, ...] = ()
    final_epochs: int = 30
    compare_default: bool = False
    seed: int = 0
    worker_timeout: float = 120.0
    repeats: int = 1


def _max_depth(tile: int) -> int:
    smallest = 4  # the classifier pools to a 4x4 grid; the U-net bottleneck keeps >= 4 px
    return max(int(math.log2(tile // smallest)), 1)


class _TrialProgress(keras.callbacks.Callback):
    """Advance a bar by one per finished trial, showing the epoch within the running trial.

    keras-tuner deep-copies the search's callbacks for every trial; this one is shared instead,
    so that the bar counts across trials.
    """

    def __init__(self, bar: tqdm) -> None:
        super().__init__()
        self.bar = bar

    def __deepcopy__(self, memo: dict) -> "_TrialProgress":
        return self

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        shown = {k: f"{v:.4g}" for k, v in (logs or {}).items() if k.startswith("val_")}
        self.bar.set_postfix(epoch=epoch + 1, **shown)

    def on_train_end(self, logs: dict | None = None) -> None:
        self.bar.update(1)


def tune(config: TuneConfig, echo: Callable[[str], None] = print,
         verbose: int = 2) -> dict[str, Any]:
    """Run (or resume) the search, then retrain, evaluate and export its best configuration.

    Parameters
    ----------
    config : TuneConfig
    echo : callable
        Receives status lines (the search space, failed trials, each retrained run).
    verbose : int
        0: no progress bar over trials and no per-epoch lines when retraining; 2: both.

    Returns
    -------
    dict
        ``{"chief": bool, "space", "results": {"csv", "markdown"} paths, "completed_trials",
        "failed_trials", "lost_workers", "best_hyperparameters", "runs": {"best": path,
        ["default": path]}, "saved_model": path}``; a worker returns ``{"chief": False}`` when
        no trials are left.

    Raises
    ------
    ConfigError
        If ``out`` holds a different search, the distributed settings are incomplete, or
        ``repeats`` is not >= 1 (above 1 only for the classifier).
    """
    if config.repeats < 1 or (config.repeats > 1 and config.task != "classify"):
        raise ConfigError(f"--repeats must be >= 1, and above 1 only for the classifier (task "
                          f"classify); got {config.repeats} for task {config.task!r}")
    manifest = load_manifest(config.data)
    space = spaces.fit_to_data(spaces.apply_overrides(spaces.default_space(config.task),
                                                      config.overrides),
                               _max_depth(manifest.geometry.tile), config.overrides)
    objective = search.objective_for(config.task, config.objective)
    out = Path(config.out)
    settings = {"data": str(Path(config.data).resolve()), "task": config.task,
                "kind": config.kind, "tuner": config.tuner, "max_trials": config.max_trials,
                "epochs": config.epochs, "objective": objective.name, "space": space,
                "seed": config.seed}
    stored = out / "tune_config.json"
    chief = search.is_chief()
    if chief:
        if stored.exists() and json.loads(stored.read_text()) != json.loads(json.dumps(settings)):
            raise ConfigError(f"{out} holds a different search ({stored}); resume it with its own "
                              f"settings or choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        search.save_json(stored, settings)
        echo(f"search space ({config.tuner}, {config.max_trials} trials, objective "
             f"{objective.name}):\n{spaces.describe(space)}")
    base = TrainConfig(data=config.data, task=config.task, kind=config.kind,
                       epochs=config.epochs, patience=config.patience, seed=config.seed)
    tuner = search.make_tuner(config.tuner, CrturbHyperModel(base, space), out,
                              config.max_trials, objective, seed=config.seed,
                              max_epochs=config.epochs)
    done = sum(t.status == "COMPLETED" for t in tuner.oracle.trials.values()) if chief else 0
    with progress_bar(total=None if config.tuner == "hyperband" else config.max_trials,
                      initial=done, desc="trials", unit="trial", show=verbose != 0) as bar:
        outcome = search.run_search(tuner, worker_timeout=config.worker_timeout,
                                    epochs=config.epochs, callbacks=[_TrialProgress(bar)])
    if not chief:
        return {"chief": False, "worker": os.environ.get("KERASTUNER_TUNER_ID")}
    paths = search.write_results(search.results_table(tuner, space), out, objective)
    for trial_id, message in outcome["failed"]:
        echo(f"trial {trial_id} failed: {message}")
    if outcome["lost_workers"]:
        echo(f"lost worker(s), their trials retried: {', '.join(outcome['lost_workers'])}")
    best = search.best_values(tuner)
    search.save_json(out / "best_hyperparameters.json", best)
    runs = _retrain(base, best, config, echo, verbose, _max_depth(manifest.geometry.tile))
    from crturb_keras.runs.evaluation import evaluate
    from crturb_keras.runs.export import export

    metrics = {name: evaluate(run) for name, run in runs.items()}
    saved_model = export(runs["best"] if config.repeats == 1
                         else runs["best"] / f"seed{config.seed}")
    search.save_json(out / "summary.json", {
        "completed_trials": outcome["completed"], "failed_trials": outcome["failed"],
        "best_hyperparameters": best, "results": str(paths["csv"]), "test_metrics": metrics})
    return {"chief": True, "space": space, "results": paths,
            "completed_trials": outcome["completed"], "failed_trials": outcome["failed"],
            "lost_workers": outcome["lost_workers"], "best_hyperparameters": best,
            "runs": runs, "saved_model": saved_model}


def _retrain(base: TrainConfig, best: dict[str, Any], config: TuneConfig,
             echo: Callable[[str], None], verbose: int, max_depth: int) -> dict[str, Path]:
    """Train the best (and with ``compare_default`` the default, its depth capped at what the
    tiles allow) configuration in full; a finished run in its folder is kept."""
    default = {"depth": min(TrainConfig.depth, max_depth)}
    final: Sequence[tuple[str, dict]] = [("best", best)] + (
        [("default", default)] if config.compare_default else [])
    runs = {}
    for name, values in final:
        run_config = TrainConfig(**{**base.to_dict(), "epochs": config.final_epochs,
                                    "patience": TrainConfig.patience,
                                    "out": str(Path(config.out) / name), **values})
        run_dir = Path(run_config.out)
        if config.repeats > 1:
            echo(f"retraining the {name} configuration over {config.repeats} seeds for up to "
                 f"{config.final_epochs} epochs: {run_dir}")
            train_repeats(run_config, config.repeats, verbose)
        elif not (run_dir / "model.keras").exists():
            echo(f"retraining the {name} configuration for up to {config.final_epochs} "
                 f"epochs: {run_dir}")
            train(run_config, verbose=verbose)
        runs[name] = run_dir
    return runs
