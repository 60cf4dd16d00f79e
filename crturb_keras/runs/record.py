"""A run directory's ``config.json``, typed: what every reader of a run (evaluation, export,
prediction, interpretation, sampling) needs, checked once when it is read.

Training (:mod:`crturb_keras.runs.training`, :mod:`crturb_keras.generative.training`) writes
it through :func:`write_record`, which checks it first; :func:`read_record` is the one reader.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import safe_name
from ..errors import ConfigError, DataFormatError

#: Tasks a run record may name.
TASKS = ("classify", "map", "generate")


@dataclass(frozen=True)
class InputNormalization:
    """How training inputs were transformed: ``log10`` (if ``log10``), then, for
    ``method == "standardize"``, ``(x - mean) / std`` with the training split's statistics."""

    method: str
    log10: bool
    mean: float = 0.0
    std: float = 1.0

    @classmethod
    def from_dict(cls, values: dict) -> "InputNormalization":
        return cls(str(values["method"]), bool(values["log10"]), float(values.get("mean", 0.0)),
                   float(values.get("std", 1.0)))


@dataclass(frozen=True)
class TargetNormalization:
    """How a target field was transformed: ``log10`` (if ``log10``), then standardised."""

    log10: bool
    mean: float
    std: float

    @classmethod
    def from_dict(cls, values: dict) -> "TargetNormalization":
        return cls(bool(values["log10"]), float(values["mean"]), float(values["std"]))


@dataclass(frozen=True)
class RunRecord:
    """``RUN/config.json``, typed.

    Attributes
    ----------
    path : Path
        The run directory.
    task : {"classify", "map", "generate"}
    config : dict
        The training configuration (``TrainConfig`` or ``GenerateConfig`` fields).
    data_path : str
        The prepared dataset it was trained on.
    classes : dict of str to int
        Class name -> output index.
    classes_used : tuple of str
        Classes that had training tiles (the map task: those with targets).
    targets : tuple of str
        Target fields of a U-net run (empty otherwise).
    tile : int
        Tile side (px).
    normalization : InputNormalization
    target_normalization : dict of str to TargetNormalization
    reference_statistics : dict or None
        Percentiles of the training tiles' statistics (see :mod:`crturb_keras.domain`); None
        for runs recorded before the check existed.
    training : dict
        What happened in training (epochs, best epoch, losses, ...).
    versions : dict
        Versions of the package and its libraries.
    raw : dict
        The JSON as written.
    """

    path: Path = field(compare=False)
    task: str
    config: dict[str, Any]
    data_path: str
    classes: dict[str, int]
    classes_used: tuple[str, ...]
    targets: tuple[str, ...]
    tile: int
    normalization: InputNormalization
    target_normalization: dict[str, TargetNormalization]
    reference_statistics: dict | None
    training: dict[str, Any]
    versions: dict[str, Any]
    raw: dict = field(repr=False, compare=False)

    @property
    def kind(self) -> str:
        """Image kind trained on (``slice`` or ``projection``)."""
        return str(self.config["kind"])

    @property
    def class_names(self) -> list[str]:
        """Class names in output order."""
        return sorted(self.classes, key=self.classes.get)

    def prepared_data(self, purpose: str = "evaluate") -> str:
        """The prepared dataset's folder, which must still exist for ``purpose``."""
        if not Path(self.data_path).exists():
            raise ConfigError(f"{self.path}: its prepared data {self.data_path} is gone; prepare "
                              f"it again (same settings) to {purpose}")
        return self.data_path

    @property
    def temperature(self) -> float:
        """Softmax temperature of a classifier, fitted on the validation split after training
        (probabilities are ``softmax(logits / T)``); 1.0 for runs recorded before it existed."""
        return float(self.training.get("temperature") or 1.0)

    @property
    def normalization_dict(self) -> dict[str, Any]:
        """The normalisation as the prepared data's manifest stores it (inputs and targets)."""
        return self.raw["data"]["normalization"]

    @classmethod
    def from_dict(cls, values: dict, run_dir: str | os.PathLike) -> "RunRecord":
        """Type and check a record (``run_dir``: the run directory, named in errors)."""
        path = Path(run_dir) / "config.json"
        try:
            data, config = values["data"], values["config"]
            task = config["task"]
            if task not in TASKS:
                raise ValueError(f"unknown task {task!r}")
            for name in [*data["classes"], *data.get("classes_used", [])]:
                safe_name(name, str(path))
            needed = [("config", "model")] if task == "generate" else [("data", "targets")]
            for section, key in needed:
                if key not in values[section]:
                    raise KeyError(f"{section}.{key}")
            norm = data["normalization"]
            targets = tuple(data.get("targets", ()))
            target_norm = {t: TargetNormalization.from_dict(norm["targets"][t]) for t in targets} \
                if task == "map" else {}
            return cls(Path(run_dir), task, config, str(data["path"]),
                       {str(k): int(v) for k, v in data["classes"].items()},
                       tuple(data.get("classes_used", ())), targets, int(data["tile"]),
                       InputNormalization.from_dict(norm["input"]), target_norm,
                       data.get("reference_statistics"), values.get("training", {}),
                       values.get("versions", {}), values)
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise DataFormatError(f"{path}: damaged run record ({err!r}); train again") from None


def write_record(folder: str | os.PathLike, values: dict, run_dir: str | os.PathLike) -> RunRecord:
    """Write ``values`` as ``folder/config.json`` (the run directory under its temporary name)
    after checking that it reads back as a record; return the typed record of ``run_dir``."""
    record = RunRecord.from_dict(json.loads(json.dumps(values)), run_dir)
    (Path(folder) / "config.json").write_text(json.dumps(values, indent=2))
    return record


def read_record(run_dir: str | os.PathLike) -> RunRecord:
    """A run directory's ``config.json``, checked: its task, the keys readers use, and its class
    names (they may name files).

    Raises
    ------
    ConfigError
        If there is no ``config.json``.
    DataFormatError
        If it is not JSON, lacks a key that readers use, names an unknown task, or a class name
        in it is not a safe name.
    """
    path = Path(run_dir) / "config.json"
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{run_dir}: not a run directory (no config.json); train first") from None
    except (ValueError, OSError) as err:  # incl. JSONDecodeError
        raise DataFormatError(f"{path}: damaged run record ({err!r}); train again") from None
    if not isinstance(values, dict):
        raise DataFormatError(f"{path}: damaged run record (not a JSON object); train again")
    return RunRecord.from_dict(values, run_dir)


def training_line(run_dir: str | os.PathLike, trained: bool = True) -> str:
    """One line on a finished run: its folder, best epoch and validation loss (classifier and
    U-net) or final validation loss and samples figure (generative); ``trained=False`` says it
    was finished before and kept."""
    record = read_record(run_dir)
    values = record.training
    kept = "" if trained else "finished before, kept; "
    if record.task == "generate":
        return (f"run directory: {run_dir} ({kept}{values['epochs_run']} epochs, val loss "
                f"{values['final_val_loss']:.4f}; samples in "
                f"{Path(run_dir) / 'figures' / 'samples.png'})")
    return (f"run directory: {run_dir} ({kept}best epoch {values['best_epoch']} of "
            f"{values['epochs_run']}, val loss {values['best_val_loss']:.4f})")
