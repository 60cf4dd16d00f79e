"""Small layers and layer factories shared by the models (``keras.layers``/``keras.ops``; every backend)."""

from __future__ import annotations

from typing import Callable

import keras
from keras import layers, ops

from .norm import FusedBatchNorm, silu


#: Moving-statistics momentum of the BatchNorm layers: PyTorch's default (0.1 there, which
#: weights the new batch; Keras counts the old statistics, hence 0.9), as in the published
#: network. Keras's own 0.99 needs a few hundred steps before inference-mode outputs mean
#: anything, i.e. more than a whole training run on a small dataset (the CNN then scored 0.54
#: where a logistic regression on tile statistics scored 0.96 on the main job's data).
BN_MOMENTUM = 0.9


def conv_norm_act(x, filters: int, strides: int = 1, activation: str = "silu",
                  norm: str = "batch", name: str = "") -> keras.KerasTensor:
    """3x3 convolution (no bias when normalised) -> BatchNorm / none -> activation.

    BatchNorm is ``FusedBatchNorm`` and ``"silu"`` is ``norm.silu``: the Keras originals' maths
    with faster training on TensorFlow (see ``crturb_keras.models.norm``).
    """
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=norm == "none",
                      name=f"{name}_conv")(x)
    if norm == "batch":
        x = FusedBatchNorm(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.Activation(silu if activation == "silu" else activation,
                             name=f"{name}_{activation}")(x)


@keras.saving.register_keras_serializable(package="crturb")
class CircularPad2D(layers.Layer):
    """Pad ``(n, H, W, C)`` by ``width`` pixels on each side, wrapping around (periodic box)."""

    def __init__(self, width: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.width = int(width)

    def call(self, x):
        p = self.width
        x = ops.concatenate([x[:, -p:], x, x[:, :p]], axis=1)
        return ops.concatenate([x[:, :, -p:], x, x[:, :, :p]], axis=2)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        grow = 2 * self.width
        return (n, None if h is None else h + grow, None if w is None else w + grow, c)

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width}


def conv3(width: int, circular: bool, name: str, strides: int = 1) -> Callable:
    """3x3 convolution with periodic (wrap-around) or zero ``same`` padding."""
    conv = layers.Conv2D(width, 3, strides=strides, padding="valid" if circular else "same",
                         name=name)
    if not circular:
        return conv
    pad = CircularPad2D(1, name=f"{name}_wrap")
    return lambda x: conv(pad(x))
