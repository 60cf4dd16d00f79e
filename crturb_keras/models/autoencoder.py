"""Convolutional variational autoencoder: the latent space of the latent diffusion model.

The encoder halves the map ``downsample`` times with stride-2 convolutions and returns the mean
and log-variance of a diagonal Gaussian over a latent grid ``(H / 2**downsample, W / 2**downsample,
latent_channels)`` (128**2 -> 16**2 x 4 with the defaults); the decoder mirrors it with
nearest-neighbour upsampling and convolutions. Training minimises the reconstruction mean squared
error plus ``kl_weight`` times the KL divergence to a unit Gaussian (Kingma & Welling 2014); the
small KL weight keeps the latent scale bounded without blurring the maps (Rombach et al. 2022 use
the same trade-off). Maps are standardised with ``data_mean``/``data_std`` inside the model, and
convolutions can wrap around (``circular=True``) for periodic boxes.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import layers, ops

from ..errors import ConfigError
from .blocks import conv3
from .diffusion import PACKAGE


def build_encoder(image_shape: Sequence[int], widths: Sequence[int] = (32, 64, 128),
                  latent_channels: int = 4, circular: bool = True) -> keras.Model:
    """``(n, H, W, C)`` -> ``(n, H/2**L, W/2**L, 2 * latent_channels)`` (mean, log-variance)."""
    height, width, channels = (int(v) for v in image_shape)
    stride = 2 ** len(widths)
    if not widths or height % stride or width % stride or latent_channels < 1:
        raise ConfigError(f"autoencoder input {height}x{width} must be divisible by {stride} "
                          f"(2**len(widths)) and latent_channels >= 1")
    x = inputs = keras.Input((height, width, channels), name="image")
    for level, w in enumerate(widths):
        x = layers.Activation("silu", name=f"enc{level}_act1")(conv3(w, circular, f"enc{level}_conv1")(x))
        x = layers.Activation("silu", name=f"enc{level}_act2")(
            conv3(w, circular, f"enc{level}_down", strides=2)(x))
    stats = layers.Conv2D(2 * latent_channels, 1, name="latent_stats", dtype="float32")(x)
    return keras.Model(inputs, stats, name="encoder")


def build_decoder(latent_shape: Sequence[int], channels: int = 1,
                  widths: Sequence[int] = (32, 64, 128), circular: bool = True) -> keras.Model:
    """``(n, h, w, latent_channels)`` -> ``(n, h * 2**L, w * 2**L, channels)``."""
    x = inputs = keras.Input(tuple(int(v) for v in latent_shape), name="latent")
    for level in reversed(range(len(widths))):
        x = layers.Activation("silu", name=f"dec{level}_act1")(
            conv3(widths[level], circular, f"dec{level}_conv1")(x))
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"dec{level}_up")(x)
        x = layers.Activation("silu", name=f"dec{level}_act2")(
            conv3(widths[level], circular, f"dec{level}_conv2")(x))
    out = conv3(channels, circular, "reconstruction")(x)
    return keras.Model(inputs, layers.Activation("linear", dtype="float32", name="image")(out),
                       name="decoder")


@keras.saving.register_keras_serializable(package=PACKAGE)
class VariationalAutoencoder(keras.Model):
    """Encoder + decoder trained with ``fit(images, images)`` (MSE) plus the KL term.

    ``call`` returns the reconstruction in data units; :meth:`encode` and :meth:`decode` map
    between data-unit maps and latent means in batches (numpy in, numpy out).
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, kl_weight: float = 1e-4,
                 data_mean: float = 0.0, data_std: float = 1.0, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        if kl_weight < 0 or data_std <= 0:
            raise ConfigError(f"need kl_weight >= 0 and data_std > 0, got {kl_weight}, {data_std}")
        self.encoder, self.decoder = encoder, decoder
        self.kl_weight, self.seed = float(kl_weight), int(seed)
        self.data_mean, self.data_std = float(data_mean), float(data_std)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training: bool = False):
        x = (ops.cast(images, "float32") - self.data_mean) / self.data_std
        mean, log_var = ops.split(ops.cast(self.encoder(x, training=training), "float32"), 2, axis=-1)
        log_var = ops.clip(log_var, -20.0, 10.0)
        z = mean
        if training:
            z = mean + ops.exp(0.5 * log_var) * keras.random.normal(ops.shape(mean),
                                                                    seed=self.seed_generator)
        kl = -0.5 * ops.mean(1.0 + log_var - ops.square(mean) - ops.exp(log_var))
        self.add_loss(self.kl_weight * kl)
        recon = ops.cast(self.decoder(z, training=training), "float32")
        return recon * self.data_std + self.data_mean

    def encode(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Latent means ``(n, h, w, latent_channels)`` of maps ``(n, H, W, C)`` in data units."""
        out = []
        for i in range(0, len(images), batch_size):
            x = (np.asarray(images[i:i + batch_size], "float32") - self.data_mean) / self.data_std
            stats = np.asarray(self.encoder.predict_on_batch(x))
            out.append(stats[..., :stats.shape[-1] // 2])
        return np.concatenate(out)

    def decode(self, latents: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Maps ``(n, H, W, C)`` in data units from latents ``(n, h, w, latent_channels)``."""
        out = [np.asarray(self.decoder.predict_on_batch(np.asarray(latents[i:i + batch_size],
                                                                   "float32")))
               for i in range(0, len(latents), batch_size)]
        return np.concatenate(out) * self.data_std + self.data_mean

    def get_config(self) -> dict:
        return {"encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
                "kl_weight": self.kl_weight, "data_mean": self.data_mean,
                "data_std": self.data_std, "seed": self.seed, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "VariationalAutoencoder":
        config = dict(config)
        for part in ("encoder", "decoder"):
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)


def build_autoencoder(image_shape: Sequence[int], widths: Sequence[int] = (32, 64, 128),
                      latent_channels: int = 4, kl_weight: float = 1e-4, circular: bool = True,
                      data_mean: float = 0.0, data_std: float = 1.0,
                      seed: int = 0) -> VariationalAutoencoder:
    """A :class:`VariationalAutoencoder` for maps of ``image_shape`` ``(H, W, C)``."""
    encoder = build_encoder(image_shape, widths, latent_channels, circular)
    latent_shape = encoder.outputs[0].shape[1:-1] + (latent_channels,)
    decoder = build_decoder(latent_shape, int(image_shape[-1]), widths, circular)
    return VariationalAutoencoder(encoder, decoder, kl_weight, data_mean, data_std, seed)
