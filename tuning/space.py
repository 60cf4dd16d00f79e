"""Search spaces as data: what the tuner may vary, printed at the start and stored with results.

A space maps hyperparameter names (fields of :class:`crturb_keras.runs.training.TrainConfig`) to one of

``{"type": "int", "min": 2, "max": 4}``
``{"type": "float", "min": 1e-4, "max": 1e-2, "log": true}``
``{"type": "choice", "values": [4, 8, 16]}``
``{"type": "fixed", "value": 3}``

Users narrow or fix any entry from the command line with ``--set name=VALUE`` (fixed),
``--set name=LOW:HIGH`` (range) or ``--set name=A,B,C`` (choice).
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any, Iterable

from crturb_keras.errors import ConfigError

#: Default space of the classifier (Bustard & Wu 2024 tuned capacity, dropout and learning rate).
CLASSIFIER_SPACE: dict[str, dict[str, Any]] = {
    "depth": {"type": "int", "min": 2, "max": 5},
    "base_filters": {"type": "choice", "values": [4, 8, 16]},
    "dropout": {"type": "float", "min": 0.0, "max": 0.6},
    "learning_rate": {"type": "float", "min": 1e-4, "max": 1e-2, "log": True},
    "weight_decay": {"type": "float", "min": 1e-6, "max": 1e-3, "log": True},
    "batch_size": {"type": "choice", "values": [32, 64, 128]},
}

#: Default space of the U-net.
UNET_SPACE: dict[str, dict[str, Any]] = {
    "depth": {"type": "int", "min": 2, "max": 4},
    "base_filters": {"type": "choice", "values": [4, 8, 16]},
    "ssim_alpha": {"type": "float", "min": 0.0, "max": 1.0},
    "learning_rate": {"type": "float", "min": 1e-4, "max": 1e-2, "log": True},
}

_INTEGER_FIELDS = {"depth", "base_filters", "batch_size"}


def default_space(task: str) -> dict[str, dict[str, Any]]:
    """A fresh copy of the default space of ``task`` (``classify`` or ``map``)."""
    if task not in ("classify", "map"):
        raise ConfigError(f"task must be classify or map, got {task!r}")
    return copy.deepcopy(CLASSIFIER_SPACE if task == "classify" else UNET_SPACE)


def _number(name: str, text: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--set {name}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"--set {name}: {text!r} is not a finite number")
    return int(value) if name in _INTEGER_FIELDS else value


def apply_overrides(space: dict[str, dict], overrides: Iterable[str]) -> dict[str, dict]:
    """Narrow or fix entries of ``space`` with ``name=VALUE``, ``name=LOW:HIGH``, ``name=A,B``."""
    space = copy.deepcopy(space)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects name=value, got {item!r}")
        name, text = (part.strip() for part in item.split("=", 1))
        if name not in space:
            raise ConfigError(f"--set {name}: unknown hyperparameter; this search has "
                              f"{', '.join(space)}")
        entry = space[name]
        if ":" in text:
            low, high = (_number(name, t) for t in text.split(":", 1))
            kind = "int" if name in _INTEGER_FIELDS else "float"
            space[name] = {"type": kind, "min": low, "max": high,
                           **({"log": True} if entry.get("log") else {})}
        elif "," in text:
            space[name] = {"type": "choice", "values": [_number(name, t) for t in text.split(",")]}
        else:
            space[name] = {"type": "fixed", "value": _number(name, text)}
    validate(space)
    return space


def validate(space: dict[str, dict], max_depth: int | None = None) -> None:
    """Raise ConfigError for impossible entries (min > max, empty choices, depth the data forbids)."""
    from crturb_keras.runs.training import TrainConfig

    fields = set(TrainConfig.__dataclass_fields__)
    for name, entry in space.items():
        if name not in fields:
            raise ConfigError(f"unknown hyperparameter {name!r}; tunable: {', '.join(sorted(fields))}")
        kind = entry.get("type")
        if kind in ("int", "float"):
            if entry["min"] > entry["max"]:
                raise ConfigError(f"hyperparameter {name}: min {entry['min']} > max {entry['max']}")
            if entry.get("log") and entry["min"] <= 0:
                raise ConfigError(f"hyperparameter {name}: log sampling needs min > 0")
        elif kind == "choice":
            if not entry.get("values"):
                raise ConfigError(f"hyperparameter {name}: empty choice")
        elif kind != "fixed":
            raise ConfigError(f"hyperparameter {name}: unknown type {kind!r}")
    if max_depth is not None and "depth" in space:
        entry = space["depth"]
        deepest = {"int": entry.get("max"), "choice": max(entry.get("values", [0])),
                   "fixed": entry.get("value")}.get(entry["type"])
        if deepest is not None and deepest > max_depth:
            raise ConfigError(f"hyperparameter depth reaches {deepest}, but these tiles allow at "
                              f"most {max_depth}; narrow it with --set depth=2:{max_depth}")


def fit_to_data(space: dict[str, dict], max_depth: int, user_set: Iterable[str]) -> dict[str, dict]:
    """Clip the *default* depth range to what the tile size allows; user choices are checked."""
    space = copy.deepcopy(space)
    explicit = {item.split("=", 1)[0].strip() for item in user_set}
    entry = space.get("depth")
    if entry and "depth" not in explicit and entry["type"] == "int":
        entry["max"] = min(entry["max"], max_depth)
        entry["min"] = min(entry["min"], entry["max"])
    validate(space, max_depth=max_depth)
    return space


def register(hp, space: dict[str, dict]) -> dict[str, Any]:
    """Declare the space's hyperparameters on a keras-tuner ``HyperParameters``; return values."""
    values = {}
    for name, entry in space.items():
        kind = entry["type"]
        if kind == "int":
            values[name] = hp.Int(name, entry["min"], entry["max"])
        elif kind == "float":
            values[name] = hp.Float(name, entry["min"], entry["max"],
                                    sampling="log" if entry.get("log") else "linear")
        elif kind == "choice":
            values[name] = hp.Choice(name, entry["values"])
        else:
            values[name] = hp.Fixed(name, entry["value"])
    return values


def describe(space: dict[str, dict]) -> str:
    """Human-readable table of the space."""
    lines = [f"{'hyperparameter':<16} search"]
    for name, entry in space.items():
        kind = entry["type"]
        if kind in ("int", "float"):
            text = f"{kind} in [{entry['min']}, {entry['max']}]" + (" (log)" if entry.get("log")
                                                                     else "")
        elif kind == "choice":
            text = "one of " + ", ".join(str(v) for v in entry["values"])
        else:
            text = f"fixed at {entry['value']}"
        lines.append(f"{name:<16} {text}")
    return "\n".join(lines)


def to_json(space: dict[str, dict]) -> str:
    return json.dumps(space, indent=1, sort_keys=True)
