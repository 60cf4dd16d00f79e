"""Tuner factory, resumable local or distributed search, failure accounting and result tables.

Distributed mode is keras-tuner's own chief/worker protocol (a gRPC oracle on the chief): the
environment variables ``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` select the role. keras-tuner's chief waits for every worker that ever
asked for a trial, so a worker that dies mid-trial would hang the search; the chief here runs a
watchdog that ends such a trial as INVALID after ``worker_timeout`` seconds without a heartbeat
(workers send one every 2 s while training; the trial is then retried by a live worker) and
forgets the dead worker.
"""

from __future__ import annotations

import csv
import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import numpy as np
from keras_tuner.src.distribute import oracle_chief
from keras_tuner.src.engine import oracle as oracle_module
from keras_tuner.src.engine import trial as trial_module

from crturb_keras.errors import ConfigError, CrturbError
from crturb_keras.io.atomic import atomic_path

from .hypermodels import CrturbHyperModel

TUNERS = ("random", "bayesian", "hyperband")


def objective_for(task: str, name: str | None) -> kt.Objective:
    """Validation objective: ``val_loss`` (default), ``val_accuracy`` or ``val_ssim``."""
    name = name or "val_loss"
    allowed = {"classify": ("val_loss", "val_accuracy"), "map": ("val_loss", "val_ssim")}[task]
    if name not in allowed:
        raise ConfigError(f"objective for {task} must be one of {allowed}, got {name!r}")
    return kt.Objective(name, "min" if name == "val_loss" else "max")


class _Heartbeat(keras.callbacks.Callback):
    """Worker-side liveness signal: a cheap ``get_trial`` call to the oracle every few seconds.

    keras-tuner 1.4 reports to the oracle only when a trial ends, so without this the chief could
    not tell a slow trial from a dead worker.
    """

    def __init__(self, oracle, trial_id: str, interval: float = 2.0) -> None:
        super().__init__()
        self.oracle, self.trial_id, self.interval = oracle, trial_id, interval
        self.last = 0.0

    def __deepcopy__(self, memo):  # keras-tuner deep-copies callbacks; the oracle stub must stay
        return _Heartbeat(self.oracle, self.trial_id, self.interval)

    def _beat(self, *args, **kwargs) -> None:
        now = time.monotonic()
        if now - self.last > self.interval:
            self.last = now
            self.oracle.get_trial(self.trial_id)

    on_train_batch_end = on_test_batch_end = on_epoch_end = _beat


class _Accounting:
    """Tuner mixin: heartbeats during trials, and the trial's epochs and wall time in its record.

    keras-tuner reports only the best epoch's logs to the oracle; stamping the totals onto every
    epoch makes them reach the results table whichever epoch is best (also across workers).
    """

    def run_trial(self, trial, *args, **kwargs):
        start = time.perf_counter()
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), _Heartbeat(self.oracle, trial.trial_id)]
        histories = super().run_trial(trial, *args, **kwargs)
        seconds = time.perf_counter() - start
        for history in histories if isinstance(histories, list) else [histories]:
            if hasattr(history, "history") and history.history.get("loss"):
                epochs = len(history.history["loss"])
                history.history["trial_epochs"] = [float(epochs)] * epochs
                history.history["trial_seconds"] = [seconds] * epochs
        return histories


class _RandomSearch(_Accounting, kt.RandomSearch):
    pass


class _BayesianOptimization(_Accounting, kt.BayesianOptimization):
    pass


class _Hyperband(_Accounting, kt.Hyperband):
    pass


def make_tuner(kind: str, hypermodel: CrturbHyperModel, directory: str | os.PathLike,
               max_trials: int, objective: kt.Objective, seed: int = 0,
               max_epochs: int = 10) -> kt.Tuner:
    """A RandomSearch, BayesianOptimization or Hyperband tuner that resumes from ``directory``.

    Failed trials do not stop the search (they are counted afterwards); a trial that crashed or
    lost its worker is retried once.
    """
    if kind not in TUNERS:
        raise ConfigError(f"tuner must be one of {TUNERS}, got {kind!r}")
    if max_trials < 1:
        raise ConfigError(f"max_trials must be >= 1, got {max_trials}")
    common = dict(objective=objective, directory=str(directory), project_name="search",
                  overwrite=False, seed=seed, max_retries_per_trial=1,
                  max_consecutive_failed_trials=max_trials + 1)
    if kind == "random":
        return _RandomSearch(hypermodel, max_trials=max_trials, **common)
    if kind == "bayesian":
        return _BayesianOptimization(hypermodel, max_trials=max_trials, **common)
    return _Hyperband(hypermodel, max_epochs=max_epochs, factor=3, max_trials=max_trials,
                      **common)


def is_chief() -> bool:
    return os.environ.get("KERASTUNER_TUNER_ID", "chief") == "chief"


def set_role(role: str | None, oracle: str | None = None, worker_id: str | None = None) -> None:
    """Set keras-tuner's role variables for a distributed search: ``role`` "chief" (serves the
    oracle at ``oracle`` = ``HOST:PORT``) or "worker" (runs trials; needs ``worker_id``); None
    leaves the environment alone (a local search, or variables set by the caller)."""
    if role is None:
        return
    if role not in ("chief", "worker"):
        raise ConfigError(f"--distributed must be chief or worker, got {role!r}")
    if not oracle or ":" not in oracle:
        raise ConfigError("--distributed needs --oracle HOST:PORT")
    if role == "worker" and worker_id is None:
        raise ConfigError("--distributed worker needs --worker-id")
    host, port = oracle.rsplit(":", 1)
    os.environ["KERASTUNER_ORACLE_IP"] = host
    os.environ["KERASTUNER_ORACLE_PORT"] = port
    os.environ["KERASTUNER_TUNER_ID"] = "chief" if role == "chief" else f"tuner{worker_id}"


class WorkerWatchdog:
    """Chief-side thread that ends the trials of workers that stopped reporting.

    Every oracle call about a trial (new trial, heartbeat, update, end) refreshes its clock;
    a running trial whose worker has been silent for ``timeout`` seconds is ended as INVALID (so
    the oracle retries it on a live worker) and the worker is dropped from the chief's roster.
    """

    def __init__(self, oracle, timeout: float) -> None:
        self.oracle = oracle
        self.timeout = timeout
        self.seen: dict[str, float] = {}
        self.reaped: list[str] = []
        self._stop = threading.Event()
        for name in ("create_trial", "get_trial", "update_trial", "end_trial"):
            self._wrap(name)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _wrap(self, name: str) -> None:
        original = getattr(self.oracle, name)

        def wrapper(*args, **kwargs):
            result = original(*args, **kwargs)
            now = time.monotonic()
            if name == "create_trial":
                self.seen[f"tuner:{args[0]}"] = now
                result = self._hold(args[0], result)
            trial_id = args[0] if name in ("get_trial", "update_trial") \
                else getattr(result, "trial_id", None)
            if name == "end_trial":
                trial_id = args[0].trial_id
            if trial_id is not None:
                self.seen[f"trial:{trial_id}"] = now
            return result

        setattr(self.oracle, name, wrapper)

    def _hold(self, tuner_id: str, trial):
        """Answer IDLE instead of STOPPED while another worker's trial may still need a retry.

        keras-tuner tells a worker to stop as soon as ``max_trials`` trials exist, even if one of
        them is running on a worker that may die; an idle worker stays available for the retry.
        """
        if trial.status != trial_module.TrialStatus.STOPPED:
            return trial
        with oracle_module.LOCKS[self.oracle]:
            busy = bool(self.oracle.ongoing_trials) or bool(self.oracle._retry_queue)
            if busy:
                self.oracle.tuner_ids.add(tuner_id)
        if not busy:
            return trial
        return trial_module.Trial(self.oracle.get_space(), trial_id="idle",
                                  status=trial_module.TrialStatus.IDLE)

    def start(self) -> "WorkerWatchdog":
        oracle_chief.exit_chief = oracle_module.synchronized(_chief_may_exit)
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(min(2.0, self.timeout / 4)):
            self.check()

    def check(self) -> None:
        """End the trials of silent workers (also callable directly)."""
        now = time.monotonic()
        for tuner_id, trial in list(self.oracle.ongoing_trials.items()):
            last = max(self.seen.get(f"trial:{trial.trial_id}", 0.0),
                       self.seen.get(f"tuner:{tuner_id}", 0.0))
            if last and now - last > self.timeout:
                trial.status = trial_module.TrialStatus.INVALID
                trial.message = (f"worker {tuner_id} sent nothing for {now - last:.0f} s "
                                 f"(> {self.timeout:.0f} s): presumed lost, trial retried")
                self.oracle.end_trial(trial)
                with oracle_module.LOCKS[self.oracle]:
                    self.oracle.ongoing_trials.pop(tuner_id, None)
                    self.oracle.tuner_ids.discard(tuner_id)
                self.reaped.append(tuner_id)


def run_search(tuner: kt.Tuner, worker_timeout: float = 120.0, **fit_kwargs) -> dict[str, Any]:
    """Run (or resume) the search and account for failed trials.

    Returns
    -------
    dict
        ``{"completed": n, "failed": [(trial_id, first line of its error), ...],
        "lost_workers": [...]}``.

    Raises
    ------
    CrturbError
        If every trial failed, with the first trial's error.
    """
    distributed = bool(os.environ.get("KERASTUNER_ORACLE_IP"))
    watchdog = WorkerWatchdog(tuner.oracle, worker_timeout).start() \
        if is_chief() and distributed else None
    try:
        if distributed and not is_chief():
            _pause_when_idle(tuner.oracle)
        tuner.search(**fit_kwargs)
    except RuntimeError as err:
        if "consecutive failures" not in str(err):
            raise
    finally:
        if watchdog:
            watchdog.stop()
    if not is_chief():
        return {"completed": None, "failed": [], "lost_workers": []}
    trials = list(tuner.oracle.trials.values())
    failed = [t for t in trials if t.status in (trial_module.TrialStatus.FAILED,
                                               trial_module.TrialStatus.INVALID)]
    completed = [t for t in trials if t.status == trial_module.TrialStatus.COMPLETED]
    if trials and not completed:
        first = sorted(failed, key=lambda t: t.trial_id)[0]
        raise CrturbError(f"all {len(trials)} trial(s) failed; first error (trial "
                          f"{first.trial_id}): {_last_line(first.message)}\n\n"
                          f"{(first.message or '').strip()}")
    return {"completed": len(completed),
            "failed": [(t.trial_id, _last_line(t.message)) for t in failed],
            "lost_workers": watchdog.reaped if watchdog else []}


def _pause_when_idle(client, seconds: float = 2.0) -> None:
    """Worker side: wait a little before asking again when the chief answers IDLE."""
    original = client.create_trial

    def create_trial(tuner_id):
        trial = original(tuner_id)
        if trial.status == trial_module.TrialStatus.IDLE:
            time.sleep(seconds)
        return trial

    client.create_trial = create_trial


def _chief_may_exit(oracle) -> bool:
    """keras-tuner's exit rule for the chief, plus: no lost worker's trial waits for a retry."""
    return (len(oracle.ongoing_trials) == 0 and len(oracle.tuner_ids) == 0
            and len(oracle._retry_queue) == 0)


def _last_line(message: str | None) -> str:
    lines = [line for line in (message or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def results_table(tuner: kt.Tuner, space: dict) -> list[dict[str, Any]]:
    """One row per trial: id, status, hyperparameter values, score, epochs, seconds."""
    rows = []
    for trial_id in sorted(tuner.oracle.trials):
        trial = tuner.oracle.trials[trial_id]
        metrics = trial.metrics
        epochs = metrics.get_last_value("trial_epochs") if metrics.exists("trial_epochs") else None
        seconds = metrics.get_last_value("trial_seconds") if metrics.exists("trial_seconds") \
            else None
        row = {"trial": trial_id, "status": trial.status}
        row.update({name: trial.hyperparameters.values.get(name) for name in space})
        row.update({"score": trial.score, "epochs": int(epochs) if epochs else None,
                    "seconds": round(seconds, 1) if seconds is not None else None})
        rows.append(row)
    return rows


def write_results(rows: list[dict], out_dir: Path, objective: kt.Objective) -> dict[str, Path]:
    """Results as CSV and Markdown (best first), and a figure of score against each value."""
    from matplotlib.figure import Figure

    scored = [r for r in rows if r["score"] is not None and not math.isnan(r["score"])]
    reverse = objective.direction == "max"
    ordered = sorted(scored, key=lambda r: r["score"], reverse=reverse) + \
        [r for r in rows if r not in scored]
    columns = list(rows[0]) if rows else ["trial"]
    paths = {"csv": out_dir / "results.csv", "markdown": out_dir / "results.md",
             "figure": out_dir / "results.png"}
    with atomic_path(paths["csv"]) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(ordered)

    def cell(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in ordered]
    with atomic_path(paths["markdown"]) as tmp:
        tmp.write_text(f"Objective: {objective.name} ({objective.direction})\n\n"
                       + "\n".join(lines) + "\n")
    names = [c for c in columns if c not in ("trial", "status", "score", "epochs", "seconds")]
    fig = Figure(figsize=(3.2 * max(len(names), 1), 3.0), layout="constrained")
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, max(len(names), 1), i + 1)
        values = [r[name] for r in scored]
        ax.scatter(values, [r["score"] for r in scored], s=18)
        if values and all(isinstance(v, (int, float)) for v in values) and min(values) > 0 \
                and max(values) / min(values) > 50:
            ax.set_xscale("log")
        ax.set_xlabel(name)
        if i == 0:
            ax.set_ylabel(objective.name)
    with atomic_path(paths["figure"]) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return paths


def best_values(tuner: kt.Tuner) -> dict[str, Any]:
    """Hyperparameter values of the best completed trial."""
    best = tuner.oracle.get_best_trials(1)
    if not best:
        raise CrturbError("the search has no completed trial to retrain")
    return {k: (v.item() if isinstance(v, np.generic) else v)
            for k, v in best[0].hyperparameters.values.items()}


def save_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, default=str))
