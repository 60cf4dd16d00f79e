"""Train and sample the generative models: DDIM, class-conditional DDIM, latent diffusion.

Three models share one DDIM (:mod:`crturb_keras.models.diffusion`):

* ``ddim``: unconditional, on the prepared (standardised ``log10 rho``) tiles;
* ``cddim``: class-conditional with classifier-free guidance ("give me CR_Streaming maps");
* ``ldm``: latent diffusion, the class-conditional DDIM trained on the latent grid of a
  variational autoencoder (:mod:`crturb_keras.models.autoencoder`) trained first on the same tiles.

A run directory holds ``config.json``, ``model.keras`` (the diffusion model with the exponential
moving average of its weights), ``autoencoder.keras`` (``ldm``), ``history.csv``
(``autoencoder_history.csv``) and ``figures/`` with learning curves and a grid of samples. It is
built under a temporary name and renamed when complete; an existing run is never overwritten.
Training images stream from :func:`crturb_keras.data.pipeline.make_dataset` (with the symmetry
augmentations of the data); the validation loss is the same noise-prediction loss on the
validation split.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np

from ..checks import check_finite, safe_name
from ..data.pipeline import array_dataset, make_dataset, symmetry
from ..data import load_split
from ..errors import ConfigError
from ..io.atomic import atomic_dir
from ..metrics import vrmse
from ..models.autoencoder import VariationalAutoencoder, build_autoencoder
from ..models.diffusion import DiffusionModel, build_denoiser
from ..plots import plot_learning_curves, plot_sample_grid
from ..runs.training import (
    batches_per_call,
    check_converged,
    check_new_run,
    load_model_file,
    versions,
)
from ..runs.record import RunRecord, read_record, write_record

MODELS = ("ddim", "cddim", "ldm")


@dataclass(frozen=True)
class GenerateConfig:
    """Everything a generative training run depends on (each field is a ``pipelines.train`` flag
    with ``--task generate``).

    Attributes
    ----------
    data, out : str
        Prepared dataset folder; run directory to create.
    task : {"generate"}
        Always ``generate`` (it selects these flags in ``pipelines.train``).
    model : {"ddim", "cddim", "ldm"}
        Unconditional DDIM, class-conditional DDIM with classifier-free guidance, or latent
        diffusion (DDIM in the latent space of a variational autoencoder).
    kind : {"slice", "projection"}
        Image kind to learn.
    classes : tuple of str
        Train on these classes only (empty: all).
    epochs, batch_size : int
        Diffusion training epochs and batch size (at most the number of training tiles:
        incomplete training batches are dropped; validation batches may be incomplete).
    learning_rate, weight_decay : float
        AdamW settings.
    widths, block_depth, embedding_dims : tuple of int, int, int
        Denoiser capacity: channels per level, residual blocks per level, size of the noise
        (and class) embedding (see ``build_denoiser``).
    circular : {"auto", "on", "off"}
        Periodic padding (seamless tiles). ``auto``: on when the prepared tiles are whole periodic
        slices, off for tiles cut from inside a box. A periodic network trained on non-periodic
        tiles learns that maps hold a seam but cannot know where the tile edge is, so it draws
        straight, axis-aligned discontinuities at random positions (seen on the default
        surrogate's 64-px tiles of 128³ boxes).
    class_dropout : float
        Fraction of training labels replaced by the null class (classifier-free guidance).
    ema : float
        Momentum of the weight average used for sampling.
    min_signal, max_signal : float
        Ends of the cosine schedule.
    latent_channels, autoencoder_widths, kl_weight, autoencoder_epochs, latent_widths : int, tuple, float, int, tuple
        ``ldm`` only: the autoencoder (``len(autoencoder_widths)`` halvings) and the latent
        denoiser's widths.
    sample_steps, guidance : int, float
        DDIM steps and guidance weight of the sample grid written with the run.
    steps_per_epoch : int
        0 = whole training split per epoch.
    steps_per_execution : int
        Batches per compiled call (1 on the PyTorch backend).
    jit_compile : {"auto", "on", "off"}
        ``auto``: XLA on (TensorFlow). The denoiser trained ~1.4x faster with XLA on 2 CPU cores.
    seed : int
        Seeds weights, noise, shuffling and augmentation (>= 0).

    Every float must be finite; a run whose loss becomes NaN or infinite is stopped
    (``TerminateOnNaN``) and refused with a :class:`~crturb_keras.errors.DivergenceError`.
    """

    data: str = "data/prepared"
    out: str = "runs/generate"
    task: str = "generate"
    model: str = "ddim"
    kind: str = "slice"
    classes: tuple[str, ...] = ()
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    widths: tuple[int, ...] = (32, 64, 96, 128)
    block_depth: int = 2
    embedding_dims: int = 32
    circular: str = "auto"
    class_dropout: float = 0.1
    ema: float = 0.999
    min_signal: float = 0.02
    max_signal: float = 0.95
    latent_channels: int = 4
    autoencoder_widths: tuple[int, ...] = (32, 64, 128)
    kl_weight: float = 1e-4
    autoencoder_epochs: int = 20
    latent_widths: tuple[int, ...] = (64, 128)
    sample_steps: int = 50
    guidance: float = 1.0
    steps_per_epoch: int = 0
    steps_per_execution: int = 8
    jit_compile: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        check_finite(self, "generative")
        for name in self.classes:
            safe_name(name, "--classes", error=ConfigError)
        problems = []
        if self.task != "generate":
            problems.append(f"task must be 'generate', got {self.task!r}")
        if self.model not in MODELS:
            problems.append(f"model must be one of {MODELS}, got {self.model!r}")
        for name in ("epochs", "batch_size", "block_depth", "embedding_dims", "latent_channels",
                     "autoencoder_epochs", "sample_steps", "steps_per_execution"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if not self.widths or not self.latent_widths or not self.autoencoder_widths:
            problems.append("widths, latent_widths and autoencoder_widths must be non-empty")
        if self.learning_rate <= 0 or self.weight_decay < 0 or not 0 <= self.ema < 1:
            problems.append("need learning_rate > 0, weight_decay >= 0, 0 <= ema < 1")
        if not 0 < self.min_signal < self.max_signal < 1 or not 0 <= self.class_dropout < 1:
            problems.append("need 0 < min_signal < max_signal < 1 and 0 <= class_dropout < 1")
        for name in ("kl_weight", "steps_per_epoch", "seed"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("jit_compile", "circular"):
            if getattr(self, name) not in ("auto", "on", "off"):
                problems.append(f"{name} must be auto|on|off, got {getattr(self, name)!r}")
        if problems:
            raise ConfigError("invalid generative configuration: " + "; ".join(problems))

    @property
    def conditional(self) -> bool:
        return self.model in ("cddim", "ldm")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Generator:
    """A trained generative run: sample maps per class in the prepared data's units.

    Attributes
    ----------
    diffusion : DiffusionModel
    autoencoder : VariationalAutoencoder or None
        Present for latent diffusion (samples are decoded).
    classes : dict
        Class name -> label index (the prepared data's).
    record : RunRecord
        The run's ``config.json``.
    """

    diffusion: DiffusionModel
    autoencoder: VariationalAutoencoder | None
    classes: dict[str, int]
    record: RunRecord

    @property
    def conditional(self) -> bool:
        return self.diffusion.conditional

    def sample(self, n: int, class_name: str | None = None, steps: int = 50,
               guidance: float = 1.0, eta: float = 0.0, seed: int = 0,
               progress: bool = False) -> np.ndarray:
        """``n`` maps ``(n, tile, tile, 1)``; ``class_name`` is required for conditional models."""
        if not (math.isfinite(guidance) and math.isfinite(eta)):
            raise ConfigError(f"guidance and eta must be finite, got {guidance} and {eta}")
        labels = None
        if self.conditional:
            if class_name not in self.classes:
                raise ConfigError(f"choose --class from {sorted(self.classes)} for this "
                                  f"class-conditional model (got {class_name!r})")
            labels = self.classes[class_name]
        elif class_name is not None:
            raise ConfigError(f"{self.record.config['model']} is unconditional; drop --class")
        out = self.diffusion.generate(n, steps=steps, labels=labels, guidance=guidance, eta=eta,
                                      seed=seed, progress=progress)
        return self.autoencoder.decode(out) if self.autoencoder is not None else out


def _jit(config: GenerateConfig) -> bool:
    return config.jit_compile == "on" or (config.jit_compile == "auto"
                                          and keras.backend.backend() == "tensorflow")


def _optimizer(config: GenerateConfig, ema: bool) -> keras.optimizers.Optimizer:
    return keras.optimizers.AdamW(config.learning_rate, weight_decay=config.weight_decay,
                                  use_ema=ema and config.ema > 0, ema_momentum=config.ema)


def _moments(images: np.ndarray) -> tuple[float, float]:
    return float(images.mean()), float(max(images.std(), 1e-6))


def _datasets(config: GenerateConfig, classes: list[str] | None, pack: str):
    """Train/val tf.data datasets shaped for ``fit``: ``pack`` is ``x`` / ``xy`` / ``x_label``.

    Incomplete training batches are dropped (every step sees ``batch_size`` tiles); the last
    validation batch is kept however small, so a validation split smaller than one batch still
    gives a validation loss.
    """
    common = dict(task="generate", batch_size=config.batch_size, kind=config.kind,
                  seed=config.seed, classes=classes, conditional=pack == "x_label")
    out = []
    for split in ("train", "val"):
        training = split == "train"
        data = make_dataset(config.data, split, repeat=training and config.steps_per_epoch > 0,
                            drop_remainder=training, **common)
        if pack == "xy":
            data = data.map(lambda images: (images, images))
        elif pack == "x_label":
            data = data.map(lambda images, labels: ((images, labels),))
        out.append(data)
    return out


def _encode_symmetries(autoencoder: VariationalAutoencoder, split: dict,
                       rotate: bool) -> tuple[np.ndarray, np.ndarray]:
    """Latents of every training tile under each valid symmetry (flips; transposes if allowed).

    The latent denoiser sees a fixed set of latents, so the augmentation that ``make_dataset``
    gives the image-space models is applied here once, in image space, before encoding (without
    it the latent model overfitted: validation loss rose after ~10 of 40 epochs).
    """
    latents = [autoencoder.encode(np.ascontiguousarray(symmetry(split["images"], choice)))
               for choice in range(8 if rotate else 4)]
    return np.concatenate(latents), np.tile(split["labels"], len(latents))


def train_generator(config: GenerateConfig, verbose: int = 2) -> Path:
    """Train the configured generative model; return the finished run directory.

    Raises
    ------
    ConfigError
        If the run directory exists, the data lacks the kind/classes, the training split is
        smaller than one batch, or the tiles do not fit the chosen widths.
    DivergenceError
        If a loss or the weights became NaN or infinite (nothing is written then).
    """
    out = Path(config.out)
    manifest = check_new_run(out, config.data, config.kind)
    classes = list(config.classes) or None
    keras.utils.set_random_seed(config.seed)
    train_images = load_split(config.data, "train", config.kind, classes=classes)
    if len(train_images["images"]) < config.batch_size:
        raise ConfigError(f"{config.data}: {len(train_images['images'])} training tiles "
                          f"({config.kind}, classes {', '.join(classes or ['all'])}) do not fill "
                          f"one batch of batch_size {config.batch_size}; lower --batch-size to "
                          f"{len(train_images['images'])} or less, or train on more classes")
    present = set(np.unique(train_images["labels"]).tolist())
    used = [name for name, index in manifest.classes.items() if index in present]
    mean, std = _moments(train_images["images"])
    tile = manifest.geometry.tile
    shape = (tile, tile, manifest.geometry.channels)
    n_classes = len(manifest.classes) if config.conditional else 0
    circular = config.circular == "on" or (config.circular == "auto"
                                           and manifest.geometry.periodic_tiles)

    training: dict[str, Any] = {}
    with atomic_dir(out) as tmp:
        (tmp / "figures").mkdir()
        autoencoder = None
        if config.model == "ldm":
            autoencoder = build_autoencoder(shape, config.autoencoder_widths,
                                            config.latent_channels, config.kl_weight,
                                            circular, mean, std, config.seed)
            autoencoder.compile(_optimizer(config, ema=False), loss="mse",
                                jit_compile=_jit(config),
                                steps_per_execution=batches_per_call(config.steps_per_execution))
            train_data, val_data = _datasets(config, classes, "xy")
            history = autoencoder.fit(
                train_data, validation_data=val_data, epochs=config.autoencoder_epochs,
                steps_per_epoch=config.steps_per_epoch or None, verbose=verbose, shuffle=False,
                callbacks=[keras.callbacks.CSVLogger(str(tmp / "autoencoder_history.csv")),
                           keras.callbacks.TerminateOnNaN()])
            check_converged(autoencoder, history.history, "autoencoder training", config)
            autoencoder.save(tmp / "autoencoder.keras")
            val_split = load_split(config.data, "val", config.kind, classes=classes)
            val, val_labels = val_split["images"], val_split["labels"]
            recon = autoencoder.decode(autoencoder.encode(val))
            training["autoencoder_val_vrmse"] = vrmse(val, recon)
            training["latent_shape"] = list(autoencoder.encoder.outputs[0].shape[1:-1]) + \
                [config.latent_channels]
            latents, latent_labels = _encode_symmetries(
                autoencoder, train_images, manifest.geometry.rotations_allowed)
            training["latent_training_copies"] = len(latents) // len(train_images["images"])
            val_latents = autoencoder.encode(val)
            mean, std = _moments(latents)
            shape = latents.shape[1:]
        widths = config.latent_widths if config.model == "ldm" else config.widths
        network = build_denoiser(shape, widths, config.block_depth, config.embedding_dims,
                                 n_classes, circular)
        diffusion = DiffusionModel(network, mean, std, config.class_dropout, config.min_signal,
                                   config.max_signal, config.seed)
        diffusion.compile(_optimizer(config, ema=True), jit_compile=_jit(config),
                          steps_per_execution=batches_per_call(config.steps_per_execution))
        callbacks = [keras.callbacks.CSVLogger(str(tmp / "history.csv")),
                     keras.callbacks.TerminateOnNaN()]
        if config.model == "ldm":
            history = diffusion.fit(
                array_dataset(((latents, latent_labels),), config.batch_size, shuffle=True,
                              seed=config.seed),
                validation_data=array_dataset(((val_latents, val_labels),), config.batch_size),
                epochs=config.epochs, callbacks=callbacks, verbose=verbose)
        else:
            train_data, val_data = _datasets(config, classes,
                                             "x_label" if config.conditional else "x")
            history = diffusion.fit(train_data, validation_data=val_data, epochs=config.epochs,
                                    steps_per_epoch=config.steps_per_epoch or None,
                                    callbacks=callbacks, verbose=verbose, shuffle=False)
        check_converged(diffusion, history.history, "diffusion training", config)
        diffusion.save(tmp / "model.keras")
        record = {
            "config": config.to_dict(),
            "data": {"path": str(Path(config.data).resolve()), "classes": manifest.classes,
                     "classes_used": used, "normalization": manifest.normalization[config.kind],
                     "tile": tile},
            "training": {**training, "epochs_run": len(history.history["loss"]),
                         "final_loss": float(history.history["loss"][-1]),
                         "final_val_loss": float(history.history["val_loss"][-1]),
                         "parameters": network.count_params(),
                         "autoencoder_parameters": (autoencoder.count_params()
                                                    if autoencoder is not None else 0),
                         "jit_compile": _jit(config), "circular": circular,
                         "data_mean": diffusion.data_mean,
                         "data_std": diffusion.data_std},
            "versions": versions(),
        }
        typed = write_record(tmp, record, out)
        plot_learning_curves(tmp / "history.csv", tmp / "figures" / "learning_curves.png")
        generator = Generator(diffusion, autoencoder, dict(manifest.classes), typed)
        write_sample_grid(generator, tmp / "figures" / "samples.png", config.data, config.kind,
                          steps=config.sample_steps, guidance=config.guidance, seed=config.seed)
    return out


def write_sample_grid(generator: Generator, path: str | os.PathLike, data: str, kind: str,
                      n: int = 6, steps: int = 50, guidance: float = 1.0, seed: int = 0) -> Path:
    """PNG grid: per class (or once, unconditional) ``n`` real test tiles beside ``n`` samples.

    Fewer than ``n`` per row when the test split holds fewer tiles.
    """
    used = generator.record.classes_used
    rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in (used if generator.conditional else ["all classes"]):
        real = load_split(data, "test", kind, classes=None if name == "all classes" else [name])
        count = min(n, len(real["images"]))
        pick = np.random.default_rng(seed).choice(len(real["images"]), count, replace=False)
        fake = generator.sample(count, name if generator.conditional else None, steps=steps,
                                guidance=guidance, seed=seed)
        rows[name] = (real["images"][pick, ..., 0], fake[..., 0])
    return plot_sample_grid(rows, path)


def load_generator(run_dir: str | os.PathLike) -> Generator:
    """The generator of a finished ``--task generate`` run directory."""
    run = Path(run_dir)
    record = read_record(run)
    if record.task != "generate":
        raise ConfigError(f"{run}: a {record.task!r} run, not a generative one; "
                          f"train with --task generate")
    diffusion = load_model_file(run / "model.keras")
    autoencoder = None
    if record.config["model"] == "ldm":
        autoencoder = load_model_file(run / "autoencoder.keras")
    return Generator(diffusion, autoencoder, dict(record.classes), record)


def class_names(generator: Generator, requested: Sequence[str] | None = None) -> list[str]:
    """Classes to sample: ``requested`` (checked) or every class the run was trained on."""
    used = generator.record.classes_used
    if not requested:
        return list(used)
    unknown = [c for c in requested if c not in used]
    if unknown:
        raise ConfigError(f"class(es) {unknown} not in this run; it was trained on {used}")
    return list(requested)
