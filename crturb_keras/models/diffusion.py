"""Denoising diffusion (DDIM) for turbulence maps, optionally class-conditional (``keras.ops`` only).

The forward process mixes a standardised map ``x0`` with Gaussian noise,
``x_t = s(t) x0 + n(t) eps`` with ``s**2 + n**2 = 1``, on a **continuous cosine schedule**: the
angle ``phi(t) = arccos(s_max) + t (arccos(s_min) - arccos(s_max))`` grows linearly in ``t`` in
``[0, 1]`` and ``s = cos(phi)``, ``n = sin(phi)`` (Nichol & Dhariwal 2021's cosine schedule in
continuous time; ``s_max``/``s_min`` keep both ends away from the singular pure-signal and
pure-noise limits). A residual U-net predicts ``eps`` from ``(x_t, n(t)**2)``; training minimises
the mean squared error of that prediction (Ho et al. 2020). Sampling is DDIM (Song et al. 2021):
deterministic for ``eta = 0``, ancestral-like for ``eta = 1``, with any number of steps.

Why these choices for turbulence:

* **periodic boxes**: with ``circular=True`` every 3x3 convolution pads by wrapping around and
  bilinear upsampling interpolates across the wrap (pad one cell periodically, upsample, crop), so
  the network commutes with periodic shifts (by multiples of its total stride) and generated maps
  tile seamlessly, like the simulation slices; bilinear rather than nearest-neighbour upsampling
  avoids the blocky coarse-level imprint that short training leaves with the latter;
* **class conditioning with classifier-free guidance** (Ho & Salimans 2022): a learned class
  embedding is added to the noise embedding; in training the label is replaced by a "null" class
  with probability ``class_dropout``, so one network gives both ``eps(x, c)`` and ``eps(x)``, and
  sampling uses ``eps(x) + w (eps(x, c) - eps(x))`` with guidance weight ``w``;
* **EMA of weights for sampling**: the optimizer keeps an exponential moving average
  (``keras.optimizers.*(use_ema=True)``) and ``fit`` swaps it into the weights at the end.

The loss is computed inside the model (:meth:`DiffusionModel.compute_loss`), so the standard
``fit``/``evaluate`` loops of every Keras backend train it; no backend-specific ``train_step``.
"""

from __future__ import annotations

import math
from typing import Sequence

import keras
import numpy as np
from keras import layers, ops

from ..errors import ConfigError
from ..progress import progress_bar
from .blocks import CircularPad2D, conv3

PACKAGE = "crturb"


def cosine_rates(t, min_signal: float = 0.02, max_signal: float = 0.95):
    """Noise and signal rates ``(n(t), s(t))`` of the continuous cosine schedule, ``t`` in [0, 1].

    Works on numpy arrays and backend tensors alike; ``n**2 + s**2 = 1``; ``s`` falls monotonically
    from ``max_signal`` at ``t = 0`` to ``min_signal`` at ``t = 1``.
    """
    start, end = math.acos(max_signal), math.acos(min_signal)
    angle = start + t * (end - start)
    return ops.sin(angle), ops.cos(angle)


def ddim_step(x, eps, noise_rate, signal_rate, next_noise_rate, next_signal_rate,
              eta: float = 0.0, noise=None):
    """One DDIM update from ``t`` to an earlier ``t'`` (numpy arrays; rates are scalars).

    ``x0 = (x - n eps) / s``; ``sigma = eta sqrt(n'^2 / n^2) sqrt(1 - s^2 n'^2 / (s'^2 n^2))``
    (Song et al. 2021, eq. 16 written with ``alpha = s**2``);
    ``x' = s' x0 + sqrt(n'^2 - sigma^2) eps + sigma z``. Returns ``(x', x0)``.
    """
    x0 = (x - noise_rate * eps) / signal_rate
    sigma = 0.0
    if eta > 0:
        ratio = (next_noise_rate ** 2) / (noise_rate ** 2)
        sigma = eta * math.sqrt(ratio * max(0.0, 1 - (signal_rate ** 2) / (next_signal_rate ** 2)))
    direction = math.sqrt(max(0.0, next_noise_rate ** 2 - sigma ** 2))
    out = next_signal_rate * x0 + direction * eps
    if sigma > 0:
        out = out + sigma * noise
    return out, x0


@keras.saving.register_keras_serializable(package=PACKAGE)
class SinusoidalEmbedding(layers.Layer):
    """``(n, 1, 1, 1)`` noise variance -> ``(n, 1, 1, dims)`` sines and cosines of it.

    Frequencies are spaced geometrically between 1 and ``max_frequency`` so both the coarse level
    of noise and its fine differences near zero are resolved.
    """

    def __init__(self, dims: int = 32, max_frequency: float = 1000.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dims, self.max_frequency = int(dims), float(max_frequency)

    def call(self, variance):
        half = self.dims // 2
        frequencies = ops.exp(ops.linspace(0.0, math.log(self.max_frequency), half))
        angles = 2.0 * math.pi * ops.cast(variance, "float32") * frequencies
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2 * (self.dims // 2))

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": self.dims, "max_frequency": self.max_frequency}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConditionBias(layers.Layer):
    """Add a learned projection of the conditioning vector ``(n, 1, 1, E)`` to every pixel."""

    def __init__(self, width: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.width = int(width)
        self.dense = layers.Dense(self.width, name="project")

    def build(self, x_shape, condition_shape):
        self.dense.build(condition_shape)

    def call(self, x, condition):
        return x + ops.cast(self.dense(condition), x.dtype)

    def compute_output_shape(self, x_shape, condition_shape):
        return x_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width}


def _residual_block(x, condition, width: int, groups: int, circular: bool, name: str):
    residual = x if x.shape[-1] == width else layers.Conv2D(width, 1, name=f"{name}_skip")(x)
    h = layers.GroupNormalization(groups, name=f"{name}_norm1")(x)
    h = layers.Activation("silu", name=f"{name}_act1")(h)
    h = conv3(width, circular, f"{name}_conv1")(h)
    h = ConditionBias(width, name=f"{name}_cond")(h, condition)
    h = layers.GroupNormalization(groups, name=f"{name}_norm2")(h)
    h = layers.Activation("silu", name=f"{name}_act2")(h)
    h = conv3(width, circular, f"{name}_conv2")(h)
    return layers.Add(name=f"{name}_add")([h, residual])


def build_denoiser(
    image_shape: Sequence[int] = (64, 64, 1),
    widths: Sequence[int] = (32, 64, 96),
    block_depth: int = 2,
    embedding_dims: int = 32,
    n_classes: int = 0,
    circular: bool = True,
    groups: int = 8,
    name: str = "denoiser",
) -> keras.Model:
    """Residual U-net ``eps(x_t, n**2[, class])`` for DDIM.

    Parameters
    ----------
    image_shape : (H, W, C)
        ``H`` and ``W`` divisible by ``2**(len(widths) - 1)``.
    widths : sequence of int
        Channels per resolution level (each divisible by ``groups``).
    block_depth : int
        Residual blocks per level on each side.
    embedding_dims : int
        Size of the sinusoidal noise embedding (and of the class embedding).
    n_classes : int
        0 for an unconditional model; otherwise labels ``0..n_classes-1`` plus the null label
        ``n_classes`` used for classifier-free guidance.
    circular : bool
        Periodic padding and periodic bilinear upsampling (seamless tiles of periodic boxes).

    Returns
    -------
    keras.Model
        Inputs ``[noisy (n, H, W, C), noise_variance (n, 1, 1, 1)]`` (+ ``labels (n,)`` int32 when
        conditional); output the predicted noise ``(n, H, W, C)`` in float32.
    """
    height, width, channels = (int(v) for v in image_shape)
    stride = 2 ** (len(widths) - 1)
    if not widths or block_depth < 1 or embedding_dims < 2 or n_classes < 0:
        raise ConfigError(f"need widths, block_depth >= 1, embedding_dims >= 2, n_classes >= 0; "
                          f"got {list(widths)}, {block_depth}, {embedding_dims}, {n_classes}")
    if height % stride or width % stride:
        raise ConfigError(f"denoiser input {height}x{width} must be divisible by {stride} "
                          f"(2**(levels-1)); use fewer widths or another tile size")
    if any(w % groups for w in widths):
        raise ConfigError(f"every width must be divisible by {groups} (group normalisation); "
                          f"got {list(widths)}")
    noisy = keras.Input((height, width, channels), name="noisy")
    variance = keras.Input((1, 1, 1), name="noise_variance")
    inputs = [noisy, variance]
    condition = SinusoidalEmbedding(embedding_dims, name="noise_embedding")(variance)
    if n_classes:
        labels = keras.Input((), dtype="int32", name="labels")
        inputs.append(labels)
        classes = layers.Embedding(n_classes + 1, condition.shape[-1], name="class_embedding")(labels)
        classes = layers.Reshape((1, 1, condition.shape[-1]), name="class_grid")(classes)
        condition = layers.Add(name="condition_sum")([condition, classes])
    condition = layers.Dense(4 * embedding_dims, activation="silu", name="condition_mlp1")(condition)
    condition = layers.Dense(4 * embedding_dims, name="condition_mlp2")(condition)

    x = layers.Conv2D(widths[0], 1, name="stem")(noisy)
    skips = []
    for level, w in enumerate(widths[:-1]):
        for block in range(block_depth):
            x = _residual_block(x, condition, w, groups, circular, f"down{level}_{block}")
            skips.append(x)
        x = layers.AveragePooling2D(2, name=f"down{level}_pool")(x)
    for block in range(block_depth):
        x = _residual_block(x, condition, widths[-1], groups, circular, f"mid_{block}")
    for level in reversed(range(len(widths) - 1)):
        if circular:  # bilinear on the wrapped grid, then cut the wrapped margin off again
            x = CircularPad2D(1, name=f"up{level}_wrap")(x)
            x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{level}_resize")(x)
            x = layers.Cropping2D(2, name=f"up{level}_crop")(x)
        else:
            x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{level}_resize")(x)
        for block in range(block_depth):
            x = layers.Concatenate(name=f"up{level}_{block}_concat")([x, skips.pop()])
            x = _residual_block(x, condition, widths[level], groups, circular, f"up{level}_{block}")
    eps = layers.Conv2D(channels, 1, kernel_initializer="zeros", name="noise", dtype="float32")(x)
    return keras.Model(inputs, eps, name=name)


@keras.saving.register_keras_serializable(package=PACKAGE)
class DiffusionModel(keras.Model):
    """DDIM wrapper around a denoiser: trains with ``fit(images)``, samples with :meth:`generate`.

    Parameters
    ----------
    network : keras.Model
        From :func:`build_denoiser` (conditional when it has a ``labels`` input).
    data_mean, data_std : float
        Standardisation of the training maps (``x0 = (image - mean) / std``).
    class_dropout : float
        Probability of training a conditional model on the null label (classifier-free guidance).
    min_signal, max_signal : float
        Ends of the cosine schedule.
    seed : int
        Seeds the noise and times drawn in training.

    Notes
    -----
    ``fit`` inputs are images ``(n, H, W, C)``, or ``(images, labels)`` packed as one ``x`` for a
    conditional network. ``call`` returns the predicted and the true noise concatenated along the
    channel axis; :meth:`compute_loss` is their mean squared difference.
    """

    def __init__(self, network: keras.Model, data_mean: float = 0.0, data_std: float = 1.0,
                 class_dropout: float = 0.1, min_signal: float = 0.02, max_signal: float = 0.95,
                 seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 < min_signal < max_signal < 1 or not 0 <= class_dropout < 1 or data_std <= 0:
            raise ConfigError(f"need 0 < min_signal < max_signal < 1, 0 <= class_dropout < 1, "
                              f"data_std > 0; got {min_signal}, {max_signal}, {class_dropout}, "
                              f"{data_std}")
        self.network = network
        self.data_mean, self.data_std = float(data_mean), float(data_std)
        self.class_dropout = float(class_dropout)
        self.min_signal, self.max_signal = float(min_signal), float(max_signal)
        self.seed = int(seed)
        self.n_classes = self._n_classes(network)
        self.seed_generator = keras.random.SeedGenerator(seed)

    @staticmethod
    def _n_classes(network: keras.Model) -> int:
        if len(network.inputs) < 3:
            return 0
        return int(network.get_layer("class_embedding").input_dim) - 1

    @property
    def conditional(self) -> bool:
        return self.n_classes > 0

    def rates(self, t):
        """``(noise_rate, signal_rate)`` at times ``t`` of this model's schedule."""
        return cosine_rates(t, self.min_signal, self.max_signal)

    def call(self, inputs, training: bool = False):
        if self.conditional:
            images, labels = inputs
        else:
            images = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
        x0 = (ops.cast(images, "float32") - self.data_mean) / self.data_std
        n = ops.shape(x0)[0]
        t = keras.random.uniform((n, 1, 1, 1), seed=self.seed_generator)
        noise_rate, signal_rate = self.rates(t)
        eps = keras.random.normal(ops.shape(x0), seed=self.seed_generator)
        noisy = signal_rate * x0 + noise_rate * eps
        network_inputs = [noisy, noise_rate ** 2]
        if self.conditional:
            labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
            if training and self.class_dropout > 0:
                drop = keras.random.uniform((n,), seed=self.seed_generator) < self.class_dropout
                labels = ops.where(drop, self.n_classes, labels)
            network_inputs.append(labels)
        predicted = ops.cast(self.network(network_inputs, training=training), "float32")
        return ops.concatenate([predicted, eps], axis=-1)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        channels = ops.shape(y_pred)[-1] // 2
        loss = ops.mean(ops.square(y_pred[..., :channels] - y_pred[..., channels:]))
        for extra in self.losses:
            loss = loss + extra
        return loss

    def generate(self, n: int, steps: int = 50, labels: Sequence[int] | int | None = None,
                 guidance: float = 1.0, eta: float = 0.0, seed: int = 0, batch_size: int = 64,
                 initial_noise: np.ndarray | None = None, progress: bool = False) -> np.ndarray:
        """Sample ``n`` maps ``(n, H, W, C)`` in data units with ``steps`` DDIM steps.

        Parameters
        ----------
        labels : int or sequence of int, optional
            Class of each sample (required for a conditional model; one int for all).
        guidance : float
            Classifier-free guidance weight ``w``: 0 is unconditional, 1 purely conditional,
            > 1 sharpens the class (conditional models only).
        eta : float
            0 for deterministic DDIM, 1 for DDPM-like stochastic steps.
        seed : int
            Seeds the initial noise (and the noise of ``eta > 0``): same seed, same samples.
        initial_noise : array ``(n, H, W, C)``, optional
            Start from this noise instead of drawing it.
        progress : bool
            Show a progress bar over sampling steps.
        """
        if n < 1 or steps < 1 or eta < 0:
            raise ConfigError(f"need n >= 1, steps >= 1, eta >= 0; got {n}, {steps}, {eta}")
        shape = tuple(int(v) for v in self.network.inputs[0].shape[1:])
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, *shape)).astype("float32") if initial_noise is None else \
            np.asarray(initial_noise, dtype="float32")
        if x.shape != (n, *shape):
            raise ConfigError(f"initial_noise must have shape {(n, *shape)}, got {x.shape}")
        if self.conditional:
            if labels is None:
                raise ConfigError("a class-conditional model needs labels (class indices)")
            labels = np.broadcast_to(np.asarray(labels, dtype="int32"), (n,)).copy()
            if labels.min() < 0 or labels.max() >= self.n_classes:
                raise ConfigError(f"labels must be in 0..{self.n_classes - 1}, got {labels}")
        elif labels is not None:
            raise ConfigError("this diffusion model is unconditional; do not pass labels")
        times = np.linspace(1.0, 0.0, steps + 1)
        rates = [tuple(float(v) for v in ops.convert_to_numpy(ops.stack(self.rates(t))))
                 for t in times]
        iterator = range(steps)
        if progress:
            iterator = progress_bar(iterator, desc="DDIM steps", unit="step")
        x0 = x
        for step in iterator:
            (noise_rate, signal_rate), (next_noise, next_signal) = rates[step], rates[step + 1]
            eps = np.concatenate([self._eps(x[i:i + batch_size], noise_rate,
                                            None if labels is None else labels[i:i + batch_size],
                                            guidance) for i in range(0, n, batch_size)])
            noise = rng.standard_normal(x.shape).astype("float32") if eta > 0 else None
            x, x0 = ddim_step(x, eps, noise_rate, signal_rate, next_noise, next_signal, eta, noise)
        return (x0 * self.data_std + self.data_mean).astype("float32")

    def _eps(self, x: np.ndarray, noise_rate: float, labels: np.ndarray | None,
             guidance: float) -> np.ndarray:
        variance = np.full((len(x), 1, 1, 1), noise_rate ** 2, dtype="float32")
        if labels is None:
            return np.asarray(self.network.predict_on_batch([x, variance]))
        if guidance == 1.0:
            return np.asarray(self.network.predict_on_batch([x, variance, labels]))
        null = np.full_like(labels, self.n_classes)
        both = self.network.predict_on_batch([np.concatenate([x, x]),
                                              np.concatenate([variance, variance]),
                                              np.concatenate([labels, null])])
        conditional, unconditional = np.split(np.asarray(both), 2)
        return unconditional + guidance * (conditional - unconditional)

    def get_config(self) -> dict:
        return {
            "network": keras.saving.serialize_keras_object(self.network),
            "data_mean": self.data_mean, "data_std": self.data_std,
            "class_dropout": self.class_dropout, "min_signal": self.min_signal,
            "max_signal": self.max_signal, "seed": self.seed, "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> "DiffusionModel":
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)
