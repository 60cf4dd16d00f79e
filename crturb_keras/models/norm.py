"""Batch normalisation and SiLU for the conv blocks, with faster TensorFlow training paths.

On 2 CPU cores the published CNN spends about as long in BatchNorm and SiLU as in its
convolutions, because on the TensorFlow backend Keras 3 builds both from many element-wise ops,
each one more pass over the feature maps:

- ``keras.layers.BatchNormalization`` computes the batch moments with separate reductions and
  normalises element-wise. ``FusedBatchNorm`` trains with TF's ``FusedBatchNormV3`` kernel
  instead (moments and normalisation in one op, its gradient in another).
- ``keras.activations.silu`` is ``tf.nn.silu``, whose gradient recomputes the sigmoid and chains
  six element-wise ops. ``silu`` here keeps the forward pass as ``x * sigmoid(x)`` (one fused
  op with oneDNN) and computes the gradient ``dy * s * (1 + x * (1 - s))`` in one XLA-compiled
  function.

:func:`stock_network` copies a trained network into the Keras originals (same weights), the form
in which runs save ``model.keras`` and exports are written, so that they load with plain Keras.

Both give the results of the Keras originals to float32 rounding (``tests/test_models.py``):
``FusedBatchNorm`` keeps the weights, config, inference path and moving-statistics rule of its
parent (``moving = moving * momentum + batch * (1 - momentum)`` with the *biased* batch
variance, which is also what it normalises with). On JAX and PyTorch, and wherever the fused
path does not apply, both are exactly the Keras originals. This module is the one
TensorFlow-specific part of the models, kept at this edge: ``tensorflow`` is imported only when
the TensorFlow backend runs.
"""

from __future__ import annotations

import functools

import keras
from keras import layers, ops

from ..errors import ConfigError


@keras.saving.register_keras_serializable(package="crturb")
class FusedBatchNorm(layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` that trains with TF's fused kernel where it can.

    Takes the arguments of ``keras.layers.BatchNormalization``. The fused path runs in training
    on the TensorFlow backend for 4-D channels-last float32/float16/bfloat16 inputs without mask,
    renorm or synchronised statistics; everything else is the parent's ``call``. Outputs,
    gradients, moving statistics and saved weights agree with the parent's, so weights transfer
    either way.
    """

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self._fusable(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = self.moving_mean.shape[0]
        gamma = self.gamma if self.scale else tf.ones((channels,), tf.float32)
        beta = self.beta if self.center else tf.zeros((channels,), tf.float32)
        outputs, mean, variance = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=tf.cast(gamma, tf.float32), offset=tf.cast(beta, tf.float32),
            mean=tf.zeros((0,), tf.float32), variance=tf.zeros((0,), tf.float32),
            epsilon=self.epsilon, exponential_avg_factor=1.0, data_format="NHWC",
            is_training=True)[:3]
        count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:3]), tf.float32)
        variance = variance * tf.maximum(count - 1.0, 0.0) / count  # the kernel's is unbiased
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(outputs, self.compute_dtype)

    def _fusable(self, inputs, mask) -> bool:
        return (keras.backend.backend() == "tensorflow" and mask is None and not self.renorm
                and not self.synchronized and len(inputs.shape) == 4 and self.axis in (-1, 3)
                and keras.backend.standardize_dtype(inputs.dtype) in ("float16", "bfloat16",
                                                                      "float32"))


@keras.saving.register_keras_serializable(package="crturb")
def silu(x):
    """SiLU ``x * sigmoid(x)`` (Elfwing et al. 2018); the gradient is XLA-compiled on TensorFlow.

    Other backends get ``keras.ops.silu``. Only the gradient is compiled, so inference graphs
    (SavedModel) hold plain TensorFlow ops.

    Parameters
    ----------
    x : tensor
        Pre-activations, any shape.

    Returns
    -------
    tensor
        ``x * sigmoid(x)``, same shape and dtype.
    """
    if keras.backend.backend() != "tensorflow":
        return ops.silu(x)
    return _tf_silu()(x)


@functools.cache
def _tf_silu():
    import tensorflow as tf

    @tf.function(jit_compile=True)
    def gradient(x, upstream):
        s = tf.sigmoid(x)
        return upstream * s * (1.0 + x * (1.0 - s))

    @tf.custom_gradient
    def forward(x):
        return x * tf.sigmoid(x), lambda upstream: gradient(x, upstream)

    return forward


def _stock_layer(layer: layers.Layer) -> layers.Layer:
    """A fresh stock-Keras layer computing what ``layer`` computes (weights copied later)."""
    config = layer.get_config()
    if isinstance(layer, FusedBatchNorm):
        return layers.BatchNormalization.from_config(config)
    if isinstance(layer, layers.Activation) and layer.activation is silu:
        return layers.Activation.from_config({**config, "activation": "silu"})
    return layer.__class__.from_config(config)


def stock_network(model: keras.Model) -> keras.Model:
    """Copy ``model`` with stock Keras layers only and the same weights, uncompiled.

    Raises
    ------
    ConfigError
        If a layer has no stock equivalent (e.g. the periodic padding of the generative models).
    """
    copy = keras.models.clone_model(model, clone_function=_stock_layer)
    custom = sorted({type(layer).__name__ for layer in copy.layers
                     if not type(layer).__module__.startswith("keras.")})
    if custom:
        raise ConfigError(f"{model.name} holds layers with no stock Keras equivalent "
                          f"({', '.join(custom)}); it cannot be exported portably")
    copy.set_weights(model.get_weights())
    # clone_model also compiles the copy like the original (with the package's losses): the
    # stock form carries the network alone
    return keras.Model(copy.input, copy.output, name=model.name)
