"""CNN classifier of cosmic-ray transport class from density maps.

The default is the published network of Bustard & Wu 2024: ``depth`` blocks of a 3x3 stride-2
convolution, BatchNorm and SiLU with channels doubling from ``base_filters`` (8/16/32/64), average
pooling to a 4x4 grid, dropout and one dense layer giving logits (about 30k parameters at 128**2).
Knobs for capacity (depth, width) and regularisation (dropout after every block and/or after
pooling) serve the tuning and the flattened-spectrum experiments, which need less capacity.

``head="moments"`` adds tile-level moment pooling beside the pooled grid: the tile means of the
input and of its square, cube and fourth power, and of every last-block feature map and its
square (first and second moments), batch-normalised. On small physical data the published head
learnt the tile's one-point statistics (the signal a logistic regression on them reads) slowly
and unreliably; moment pooling hands them to the dense layer directly, so the convolutions add
morphology on top of what the baseline sees. All stock Keras layers, so exports stay portable.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from ..errors import ConfigError
from .blocks import BN_MOMENTUM, conv_norm_act

#: Classifier heads (see the module docstring).
HEADS = ("flatten", "moments")


def _moments(inputs: keras.KerasTensor, features: keras.KerasTensor) -> keras.KerasTensor:
    """Tile means of ``inputs ** 1..4`` and of ``features ** 1..2`` per channel, batch-normalised
    (``(n, 4 C_in + 2 C_features)``), in stock layers only."""
    powers = [inputs]
    for order in range(2, 5):
        powers.append(layers.Multiply(name=f"input_power{order}")([powers[-1], inputs]))
    squared = layers.Multiply(name="features_squared")([features, features])
    pooled = [layers.GlobalAveragePooling2D(name=f"mean_input_power{i + 1}")(p)
              for i, p in enumerate(powers)]
    pooled += [layers.GlobalAveragePooling2D(name="mean_features")(features),
               layers.GlobalAveragePooling2D(name="mean_features_squared")(squared)]
    moments = layers.Concatenate(name="moments")(pooled)
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name="moments_bn")(moments)


def build_classifier(
    n_classes: int,
    input_shape: Sequence[int] = (128, 128, 1),
    depth: int = 4,
    base_filters: int = 8,
    dropout: float = 0.35,
    block_dropout: float = 0.0,
    pooled_size: int = 4,
    head: str = "flatten",
    name: str = "crturb_classifier",
) -> keras.Model:
    """Build the classifier (functional Keras 3 model) returning logits ``(n, n_classes)``.

    Parameters
    ----------
    n_classes : int
        Number of transport classes.
    input_shape : (H, W, C)
        Tile shape; ``H`` and ``W`` must be divisible by ``2**depth * pooled_size``.
    depth : int
        Number of stride-2 conv blocks (channels ``base_filters * 2**i``).
    base_filters : int
        Channels of the first block.
    dropout : float
        Dropout rate after pooling, before the dense layer.
    block_dropout : float
        Spatial dropout after each conv block (0 = none).
    pooled_size : int
        Side of the grid that average pooling reduces the last feature map to.
    head : {"flatten", "moments"}
        ``flatten``: the published head (pooled grid -> dropout -> dense); ``moments``: the
        pooled grid and the moment pooling of the module docstring, concatenated.
    """
    height, width = int(input_shape[0]), int(input_shape[1])
    reduced = 2 ** depth
    if depth < 1 or base_filters < 1 or n_classes < 2:
        raise ConfigError(f"need depth >= 1, base_filters >= 1, n_classes >= 2; got {depth}, "
                          f"{base_filters}, {n_classes}")
    if height % (reduced * pooled_size) or width % (reduced * pooled_size):
        raise ConfigError(f"input {height}x{width} must be divisible by 2**depth * pooled_size = "
                          f"{reduced * pooled_size}; use another tile size or depth")
    if head not in HEADS:
        raise ConfigError(f"head must be one of {HEADS}, got {head!r}")
    if not (0 <= dropout < 1 and 0 <= block_dropout < 1):
        raise ConfigError(f"dropout rates must be in [0, 1), got {dropout}, {block_dropout}")
    inputs = keras.Input(shape=tuple(input_shape), name="density")
    x = inputs
    for block in range(depth):
        x = conv_norm_act(x, base_filters * 2 ** block, strides=2, activation="silu",
                          name=f"block{block + 1}")
        if block_dropout:
            x = layers.SpatialDropout2D(block_dropout, name=f"block{block + 1}_dropout")(x)
    pool = (height // reduced // pooled_size, width // reduced // pooled_size)
    last = x
    if pool != (1, 1):
        x = layers.AveragePooling2D(pool, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    if head == "moments":
        x = layers.Concatenate(name="features")([x, _moments(inputs, last)])
    x = layers.Dropout(dropout, name="dropout")(x)
    logits = layers.Dense(n_classes, name="logits", dtype="float32")(x)
    return keras.Model(inputs, logits, name=name)
