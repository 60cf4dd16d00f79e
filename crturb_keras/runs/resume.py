"""Resume a killed training run from its last finished epoch.

While :func:`crturb_keras.runs.training.train` runs, a hidden folder ``.NAME.resume`` beside the run
directory holds, after every epoch: the weights with the optimizer state (step count, moments,
learning rate) in ``last.weights.h5``, the best weights so far in ``best.weights.h5``, the
history in ``history.csv`` and ``state.json`` (epochs done, early-stopping and learning-rate
counters, a fingerprint of the settings and the prepared data). Every file is replaced
atomically, so a process killed at any instant leaves a consistent epoch behind. The same command
given again continues from there; other settings or re-prepared data are refused, since mixing
two runs would make a model nobody asked for. The folder is removed when the run finishes or
diverges.

A resumed run is equivalent to an uninterrupted one, not bit-identical: its input pipeline
starts its shuffling sequence anew.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import keras

from ..errors import ConfigError
from ..io.atomic import atomic_path

STATE, LAST, BEST, HISTORY = "state.json", "last.weights.h5", "best.weights.h5", "history.csv"


def resume_folder(out: str | Path) -> Path:
    """The hidden folder that holds an unfinished run of the run directory ``out``."""
    out = Path(out)
    return out.with_name(f".{out.name}.resume")


def fingerprint(settings: dict[str, Any], manifest: dict[str, Any]) -> str:
    """SHA-256 of the settings and the prepared data's manifest: what a resumed run must share."""
    text = json.dumps({"settings": settings, "manifest": manifest}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_state(folder: Path, expected: str) -> dict[str, Any] | None:
    """The saved state of an unfinished run in ``folder``; None when there is none to resume.

    A folder without a complete first epoch (killed before it ended) is removed.

    Raises
    ------
    ConfigError
        If the unfinished run had other settings or other prepared data.
    """
    if not folder.is_dir():
        return None
    try:
        state = json.loads((folder / STATE).read_text())
        complete = all((folder / name).is_file() for name in (LAST, BEST, HISTORY))
    except (OSError, ValueError):
        state, complete = None, False
    if not state or not complete:
        shutil.rmtree(folder)
        return None
    if state.get("fingerprint") != expected:
        raise ConfigError(f"{folder}: holds an unfinished run with other settings or other "
                          f"prepared data; give the same command as before to resume it, or "
                          f"delete {folder} to start afresh")
    return state


def history_rows(path: Path) -> list[dict[str, float]]:
    """The rows of a ``CSVLogger`` history file as floats (``epoch`` counted from 0)."""
    with open(path, newline="") as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def truncate_history(path: Path, epochs: int) -> None:
    """Keep the first ``epochs`` rows of a history file (a killed epoch may have logged a row)."""
    with open(path, newline="") as handle:
        lines = handle.read().splitlines(keepends=True)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(lines[:epochs + 1]))


class ResumeCheckpoint(keras.callbacks.Callback):
    """Save what :func:`read_state` needs after every epoch; restore the callbacks' counters.

    Place it after the ``EarlyStopping`` and ``ReduceLROnPlateau`` callbacks it records, so that
    their ``on_train_begin`` resets run first and their ``on_epoch_end`` updates are saved.

    Parameters
    ----------
    folder : Path
        The resume folder (created if missing).
    fingerprint : str
        See :func:`fingerprint`.
    early_stopping, reduce_lr : keras.callbacks.Callback
        The run's callbacks whose counters survive a restart.
    state : dict or None
        A state read by :func:`read_state` to restore, with ``best_weights`` (a list of arrays)
        added by :func:`restore`.
    """

    def __init__(self, folder: Path, fingerprint: str, early_stopping: keras.callbacks.EarlyStopping,
                 reduce_lr: keras.callbacks.ReduceLROnPlateau, state: dict | None = None) -> None:
        super().__init__()
        self.folder, self.fingerprint, self.state = folder, fingerprint, state
        self.early_stopping, self.reduce_lr = early_stopping, reduce_lr
        folder.mkdir(parents=True, exist_ok=True)

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.state is None:
            return
        stopping, lr = self.state["early_stopping"], self.state["reduce_lr"]
        self.early_stopping.wait, self.early_stopping.best = stopping["wait"], stopping["best"]
        self.early_stopping.best_epoch = stopping["best_epoch"]
        self.early_stopping.best_weights = self.state["best_weights"]
        self.reduce_lr.wait, self.reduce_lr.best = lr["wait"], lr["best"]
        self.reduce_lr.cooldown_counter = lr["cooldown_counter"]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.early_stopping.best_epoch == epoch:
            with atomic_path(self.folder / BEST) as tmp:
                self.model.save_weights(tmp)
        with atomic_path(self.folder / LAST) as tmp:
            self.model.save_weights(tmp)
        stopping, lr = self.early_stopping, self.reduce_lr
        state = {
            "fingerprint": self.fingerprint, "epochs_done": epoch + 1,
            "stopped": bool(self.model.stop_training),
            "early_stopping": {"wait": stopping.wait, "best": _number(stopping.best),
                               "best_epoch": stopping.best_epoch},
            "reduce_lr": {"wait": lr.wait, "best": _number(lr.best),
                          "cooldown_counter": lr.cooldown_counter},
        }
        with atomic_path(self.folder / STATE) as tmp:
            tmp.write_text(json.dumps(state, indent=2))


def restore(model: keras.Model, folder: Path, state: dict[str, Any]) -> None:
    """Load the saved weights and optimizer state into ``model`` (compiled, same architecture)
    and add the best weights to ``state``; the history is cut to the saved epochs."""
    model.optimizer.build(model.trainable_variables)
    model.load_weights(folder / BEST)
    state["best_weights"] = model.get_weights()
    model.load_weights(folder / LAST)
    truncate_history(folder / HISTORY, state["epochs_done"])


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
