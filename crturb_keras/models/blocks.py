"""Small layer factories shared by the models (``keras.layers`` only, so every backend works)."""

from __future__ import annotations

import keras
from keras import layers

from .norm import FusedBatchNorm, silu


def conv_norm_act(x, filters: int, strides: int = 1, activation: str = "silu",
                  norm: str = "batch", name: str = "") -> keras.KerasTensor:
    """3x3 convolution (no bias when normalised) -> BatchNorm / none -> activation.

    BatchNorm is ``FusedBatchNorm`` and ``"silu"`` is ``norm.silu``: the Keras originals' maths
    with faster training on TensorFlow (see ``crturb_keras.models.norm``).
    """
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=norm == "none",
                      name=f"{name}_conv")(x)
    if norm == "batch":
        x = FusedBatchNorm(name=f"{name}_bn")(x)
    return layers.Activation(silu if activation == "silu" else activation,
                             name=f"{name}_{activation}")(x)
