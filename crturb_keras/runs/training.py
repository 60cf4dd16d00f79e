"""Train the classifier or the U-net on a prepared dataset and write a run directory.

A run directory holds ``config.json`` (the TrainConfig, the data it used, versions),
``history.csv``, ``model.keras`` (weights of the best validation epoch), ``figures/`` and, after
:func:`crturb_keras.runs.evaluation.evaluate` and :func:`crturb_keras.runs.export.export`,
``metrics.json`` and ``saved_model/``. It is built under a temporary name and renamed when training
is complete; an existing run directory is never overwritten. A run that was killed resumes from its
last finished epoch when the same command is given again (:mod:`crturb_keras.runs.resume`).

Model selection uses the **validation** split only (early stopping with ``restore_best_weights``,
learning-rate reduction on plateau); the test split is touched only
by the evaluation.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import shutil
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .. import distribute
from .._version import __version__
from ..checks import check_finite
from ..data.pipeline import make_dataset
from ..data import Manifest, load_manifest, load_split
from ..domain import reference_statistics
from ..errors import ConfigError, DataFormatError, DivergenceError
from ..io.atomic import atomic_dir
from ..metrics import fit_temperature
from ..models import MapLoss, build_classifier, build_unet, ssim
from ..models.cnn import HEADS
from ..models.inference import predict_batches
from ..models.norm import stock_network
from ..plots import plot_learning_curves
from .record import RunRecord, read_record, write_record
from .resume import (ResumeCheckpoint, fingerprint, history_rows, read_state, restore,
                     resume_folder)

TASKS = ("classify", "map")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (each field is a ``pipelines.train`` flag).

    Attributes
    ----------
    data : str
        Prepared dataset folder.
    out : str
        Run directory to create.
    task : {"classify", "map"}
        Classifier of transport class, or U-net from density to the prepared targets.
    kind : {"slice", "projection"}
        Image kind to train on.
    epochs, batch_size : int
        Upper bound on epochs (early stopping ends sooner) and batch size.
    learning_rate, weight_decay : float
        AdamW settings.
    depth, base_filters : int
        Model capacity (see the model builders).
    dropout, block_dropout : float
        Classifier dropout after pooling and after each block.
    head : {"flatten", "moments"}
        Classifier head: the published pooled grid, or that plus tile-level moment pooling
        (see :mod:`crturb_keras.models.cnn`).
    upsample : {"resize", "transpose"}
        U-net upsampling.
    ssim_alpha : float
        Weight of ``1 - SSIM`` in the U-net loss (>= 0).
    patience, lr_patience : int
        Epochs without validation improvement before stopping / halving the learning rate.
    class_weights : {"auto", "none"}
        ``auto`` weights classes inversely to their training counts when these differ by > 5 %.
    mixed_precision : {"auto", "on", "off"}
        ``auto``: ``mixed_float16`` when a GPU is visible to TensorFlow.
    jit_compile : {"auto", "on", "off"}
        ``auto``: XLA on GPU, off on CPU (on 2 CPU cores XLA trained the CNN ~35 % slower).
    tensorboard : bool
        Write TensorBoard logs to ``RUN/logs``.
    steps_per_epoch : int
        0 = whole training split per epoch.
    steps_per_execution : int
        Batches per compiled call: fewer Python round trips per step. On 2 CPU cores 8 was never
        slower than 1 and up to 1.7x faster for the default CNN fed by ``make_dataset`` (noisy
        medians, ``benchmarks/train_throughput.py``); epoch-level callbacks are unaffected. On
        the PyTorch backend, whose Keras trainer takes one batch per call, 1 is used.
    distribute : {"none", "mirrored", "data-parallel"}
        Multi-device training (see :mod:`crturb_keras.distribute`): ``batch_size`` is then per
        replica and the learning rate is scaled by the number of replicas.
    seed : int
        Seeds weights, shuffling and augmentation (>= 0).
    verify : bool
        Check the SHA-256 of every shard used against the manifest before training (their
        shapes, dtypes and counts are always checked).

    Every float must be finite; a run whose loss becomes NaN or infinite is stopped
    (``TerminateOnNaN``) and refused with a :class:`~crturb_keras.errors.DivergenceError`.
    """

    data: str = "data/prepared"
    out: str = "runs/classify"
    task: str = "classify"
    kind: str = "slice"
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    depth: int = 4
    base_filters: int = 8
    dropout: float = 0.35
    block_dropout: float = 0.0
    head: str = "flatten"
    upsample: str = "resize"
    ssim_alpha: float = 0.5
    patience: int = 6
    lr_patience: int = 3
    class_weights: str = "auto"
    mixed_precision: str = "auto"
    jit_compile: str = "auto"
    tensorboard: bool = False
    steps_per_epoch: int = 0
    steps_per_execution: int = 8
    distribute: str = "none"
    seed: int = 0
    verify: bool = False

    def __post_init__(self) -> None:
        check_finite(self, "training")
        problems = []
        if self.task not in TASKS:
            problems.append(f"task must be one of {TASKS}, got {self.task!r}")
        for name in ("epochs", "batch_size", "depth", "base_filters", "patience", "lr_patience",
                     "steps_per_execution"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.learning_rate <= 0 or self.weight_decay < 0:
            problems.append("learning_rate must be > 0 and weight_decay >= 0")
        for name in ("ssim_alpha", "steps_per_epoch", "seed"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("dropout", "block_dropout"):
            if not 0 <= getattr(self, name) < 1:
                problems.append(f"{name} must be in [0, 1), got {getattr(self, name)}")
        for name, allowed in (("class_weights", ("auto", "none")),
                              ("distribute", distribute.MODES), ("head", HEADS),
                              ("mixed_precision", ("auto", "on", "off")),
                              ("jit_compile", ("auto", "on", "off"))):
            if getattr(self, name) not in allowed:
                problems.append(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if problems:
            raise ConfigError("invalid training configuration: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _gpu_visible() -> bool:
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _class_weights(counts: dict[str, int], classes: dict[str, int],
                   mode: str) -> dict[int, float] | None:
    """Weights inverse to the training ``counts`` per class name (keyed by class index), when
    ``mode`` is ``auto`` and the counts differ by more than 5 %."""
    if mode == "none" or not counts or max(counts.values()) <= 1.05 * min(counts.values()):
        return None
    total = sum(counts.values())
    return {classes[c]: total / (len(counts) * n) for c, n in counts.items()}


def build_model(config: TrainConfig, manifest: Manifest, replicas: int = 1) -> keras.Model:
    """The compiled model a config asks for, shaped by the prepared data.

    With ``replicas`` > 1 the learning rate is scaled linearly (one replica's batch is
    ``config.batch_size``).
    """
    tile = manifest.geometry.tile
    shape = (tile, tile, manifest.geometry.channels)
    optimizer = keras.optimizers.AdamW(config.learning_rate * replicas,
                                       weight_decay=config.weight_decay)
    if config.task == "classify":
        model = build_classifier(len(manifest.classes), shape, depth=config.depth,
                                 base_filters=config.base_filters, dropout=config.dropout,
                                 block_dropout=config.block_dropout, head=config.head)
        model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], jit_compile=_jit(config),
                      steps_per_execution=batches_per_call(config.steps_per_execution))
    else:
        targets = manifest.geometry.targets
        if not targets:
            raise ConfigError(f"{config.data}: prepared without targets; prepare with --targets "
                              f"Ec,magnetic_energy_density for the map task")
        model = build_unet(shape, targets, depth=config.depth, base_filters=config.base_filters,
                           upsample=config.upsample)
        model.compile(optimizer, MapLoss(config.ssim_alpha), metrics=["mse", ssim],
                      jit_compile=_jit(config),
                      steps_per_execution=batches_per_call(config.steps_per_execution))
    return model


def batches_per_call(requested: int) -> int:
    """``steps_per_execution`` for this backend: ``requested``, or 1 on PyTorch (Keras's PyTorch
    trainer refuses more)."""
    return 1 if keras.backend.backend() == "torch" else requested


def _jit(config: TrainConfig) -> bool:
    return config.jit_compile == "on" or (config.jit_compile == "auto" and _gpu_visible())


def fit_inputs(config: TrainConfig, manifest: Manifest, replicas: int = 1):
    """The training and validation datasets and the class weights (None: unweighted) of a run.

    Shared by :func:`train` and the tuner's trials, so both see the same data the same way.
    """
    task = "classify" if config.task == "classify" else "map"
    common = dict(task=task, batch_size=config.batch_size * replicas, kind=config.kind,
                  seed=config.seed, verify=config.verify)
    train_data = make_dataset(config.data, "train", repeat=config.steps_per_epoch > 0, **common)
    val_data = make_dataset(config.data, "val", **common)
    weights = _class_weights(manifest.counts["train"][config.kind], manifest.classes,
                             config.class_weights) \
        if task == "classify" else None
    return train_data, val_data, weights


def schedule_callbacks(config: TrainConfig) -> tuple[keras.callbacks.EarlyStopping,
                                                     keras.callbacks.ReduceLROnPlateau]:
    """Early stopping (best validation weights restored) and learning-rate halving on plateau,
    both on ``val_loss``: the schedule of every run and every tuner trial."""
    return (keras.callbacks.EarlyStopping("val_loss", patience=config.patience,
                                          restore_best_weights=True),
            keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5,
                                              patience=config.lr_patience))


def check_new_run(out: Path, data: str, kind: str) -> dict:
    """Refuse an existing run directory or data without ``kind`` images; return the manifest."""
    if out.exists():
        raise ConfigError(f"{out}: exists; a finished run is never overwritten; choose another "
                          f"--out (or delete it)")
    manifest = load_manifest(data)
    if kind not in manifest.counts["train"]:
        raise ConfigError(f"{data}: no {kind!r} images (has {list(manifest.counts['train'])})")
    return manifest


def check_converged(model: keras.Model, losses: Mapping[str, Sequence[float]], what: str,
                    config: Any) -> None:
    """Refuse a fit whose training or validation loss, or whose weights, are NaN or infinite.

    ``losses`` maps ``loss`` and ``val_loss`` to their values per epoch (``History.history``).

    Called before anything of a run is saved, so a diverged run never looks finished.

    Raises
    ------
    DivergenceError
        Naming the first non-finite loss, the learning rate and the data to check.
    """
    def refuse(problem: str) -> DivergenceError:
        return DivergenceError(f"{config.out}: {what} diverged ({problem}), so no run was "
                               f"written; lower --learning-rate (now {config.learning_rate}), or "
                               f"check that {config.data} holds finite tiles (prepare it again)")

    for name in ("loss", "val_loss"):
        values = losses.get(name, [])
        bad = [epoch for epoch, value in enumerate(values) if not math.isfinite(value)]
        if bad:
            raise refuse(f"its {name} became {values[bad[0]]} in epoch {bad[0] + 1}")
    if not all(np.isfinite(w).all() for w in model.get_weights()):
        raise refuse("its weights hold NaN or infinite values")


def versions() -> dict[str, str]:
    """Package, Keras, backend and Python versions recorded in every run's ``config.json``."""
    return {"crturb_keras": __version__, "keras": keras.__version__,
            "backend": keras.backend.backend(), "python": platform.python_version()}


def validation_temperature(model: keras.Model, config: TrainConfig) -> float:
    """Temperature scaling of a trained classifier, fitted on its validation split (the split
    that chose its epoch; the test split stays unseen): see
    :func:`crturb_keras.metrics.fit_temperature`."""
    val = load_split(config.data, "val", config.kind)
    return fit_temperature(val["labels"], predict_batches(model, val["images"]))


def train(config: TrainConfig, verbose: int = 2) -> Path:
    """Train as configured; return the finished run directory.

    Raises
    ------
    ConfigError
        If the run directory exists, the data lacks what the task needs, or options are invalid.
    DivergenceError
        If the loss or the weights became NaN or infinite (nothing is written then).
    """
    out = Path(config.out)
    manifest = check_new_run(out, config.data, config.kind)
    keras.utils.set_random_seed(config.seed)
    mixed = config.mixed_precision == "on" or (config.mixed_precision == "auto" and _gpu_visible())
    keras.mixed_precision.set_dtype_policy("mixed_float16" if mixed else "float32")
    task = "classify" if config.task == "classify" else "map"
    scope, replicas = distribute.setup(config.distribute)
    train_data, val_data, weights = fit_inputs(config, manifest, replicas)
    with scope:
        model = build_model(config, manifest, replicas)

    folder = resume_folder(out)
    key = fingerprint({k: v for k, v in config.to_dict().items() if k != "verify"},
                      manifest.to_dict())
    try:
        with atomic_dir(out) as tmp:
            (tmp / "figures").mkdir()
            state = read_state(folder, key)
            if state is not None:
                with scope:
                    restore(model, folder, state)
                if verbose:
                    print(f"resuming the unfinished run kept in {folder} after epoch "
                          f"{state['epochs_done']}")
            stopping, reduce_lr = schedule_callbacks(config)
            callbacks = [stopping, keras.callbacks.CSVLogger(str(folder / "history.csv"),
                                                             append=True), reduce_lr]
            if config.tensorboard:
                callbacks.append(keras.callbacks.TensorBoard(str(tmp / "logs")))
            callbacks += [ResumeCheckpoint(folder, key, stopping, reduce_lr, state),
                          keras.callbacks.TerminateOnNaN()]
            done = 0 if state is None else state["epochs_done"]
            if state is not None and (state["stopped"] or done >= config.epochs):
                model.set_weights(state["best_weights"])  # it had ended: nothing left to train
            else:
                model.fit(train_data, validation_data=val_data, epochs=config.epochs,
                          initial_epoch=done, steps_per_epoch=config.steps_per_epoch or None,
                          class_weight=weights, callbacks=callbacks, verbose=verbose,
                          shuffle=False)
            rows = history_rows(folder / "history.csv")
            losses = {name: [row[name] for row in rows] for name in ("loss", "val_loss")}
            check_converged(model, losses, "training", config)
            stock_network(model).save(tmp / "model.keras")  # loads without this package
            shutil.copyfile(folder / "history.csv", tmp / "history.csv")
            best = int(np.argmin(losses["val_loss"]))
            temperature = validation_temperature(model, config) if task == "classify" else None
            used = [c for c, n in manifest.counts["train"][config.kind].items() if n] \
                if task == "classify" else sorted({s["class"] for s in
                                                   manifest.shards["train"][config.kind]
                                                   if s["targets"]})
            record = {
                "config": config.to_dict(),
                "data": {"path": str(Path(config.data).resolve()), "classes": manifest.classes,
                         "classes_used": used, "targets": manifest.geometry.targets,
                         "normalization": manifest.normalization[config.kind],
                         "tile": manifest.geometry.tile,
                         "reference_statistics": reference_statistics(
                             config.data, manifest, config.kind, config.seed)},
                "training": {"epochs_run": len(rows), "resumed_after_epoch": done or None,
                             "best_epoch": best + 1,
                             "best_val_loss": losses["val_loss"][best],
                             "class_weights": weights, "mixed_precision": mixed,
                             "jit_compile": _jit(config), "parameters": model.count_params(),
                             "distribute": config.distribute, "replicas": replicas,
                             "global_batch": config.batch_size * replicas,
                             "learning_rate_used": config.learning_rate * replicas,
                             "temperature": temperature},
                "versions": versions(),
            }
            write_record(tmp, record, out)
            plot_learning_curves(tmp / "history.csv", tmp / "figures" / "learning_curves.png")
    except DivergenceError:
        shutil.rmtree(folder, ignore_errors=True)  # a diverged run is not worth resuming
        raise
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
        distribute.teardown(config.distribute)
    shutil.rmtree(folder, ignore_errors=True)
    return out


def load_model_file(path: str | os.PathLike) -> keras.Model:
    """A model saved by this package (loaded in Keras safe mode, uncompiled).

    Raises
    ------
    DataFormatError
        If the file is missing, truncated, or not a model this package can load safely.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: missing; the run directory is incomplete: train again")
    try:
        return keras.saving.load_model(path, compile=False)
    except (ValueError, OSError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as err:
        raise DataFormatError(f"{path}: cannot load the model ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''}); it is truncated "
                              f"or was not saved by crturb-keras: train again") from None


def load_run(run_dir: str | os.PathLike) -> tuple[RunRecord, keras.Model]:
    """Read a run directory's ``config.json`` and its best model, checked against each other.

    Raises
    ------
    ConfigError
        If it is a generative run (see :func:`crturb_keras.generative.load_generator`).
    DataFormatError
        If the record or the model is damaged, or the model's tile size or outputs disagree
        with the task, classes and targets the record names.
    """
    record = read_record(run_dir)
    if record.task == "generate":
        raise ConfigError(f"{run_dir}: a generative run; use pipelines.generate (or "
                          f"crturb_keras.generative.load_generator) for it")
    path = Path(run_dir) / "model.keras"
    model = load_model_file(path)
    outputs = len(record.classes) if record.task == "classify" else len(record.targets)
    if model.output_shape[-1] != outputs or model.input_shape[1] != record.tile:
        raise DataFormatError(
            f"{path}: takes {model.input_shape[1]}-px tiles and gives {model.output_shape[-1]} "
            f"output(s), but {Path(run_dir) / 'config.json'} records a {record.task} run on "
            f"{record.tile}-px tiles with {outputs} "
            f"{'classes' if record.task == 'classify' else 'targets'}; the run directory was "
            f"changed: train again")
    return record, model
