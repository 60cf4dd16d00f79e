"""Multi-device training on existing engines: tf.distribute (TensorFlow) and keras.distribution (JAX).

``mirrored``
    ``tf.distribute.MirroredStrategy`` over all local GPUs (or, with none, all logical CPU
    devices): TensorFlow backend, one host. (``MultiWorkerMirroredStrategy`` with Keras 3 has open
    upstream bugs, keras-team/keras#20585, so multi-host runs use JAX.)
``data-parallel``
    ``keras.distribution.DataParallel`` over all devices: JAX backend; across hosts when the
    ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` / ``KERAS_DISTRIBUTION_NUM_PROCESSES`` /
    ``KERAS_DISTRIBUTION_PROCESS_ID`` variables are set (``keras.distribution.initialize`` wraps
    ``jax.distributed.initialize``), one process per host with the same command.

Scaling rule: ``batch_size`` is per replica, so the global batch is ``batch_size * replicas``, and
the learning rate is multiplied by ``replicas`` (linear scaling rule, Goyal et al. 2017).
"""

from __future__ import annotations

import contextlib
import os
from typing import ContextManager

import keras

from .errors import ConfigError

MODES = ("none", "mirrored", "data-parallel")


def setup(mode: str) -> tuple[ContextManager, int]:
    """Prepare the distribution; return the scope to build and compile in, and the replica count."""
    if mode not in MODES:
        raise ConfigError(f"distribute must be one of {MODES}, got {mode!r}")
    backend = keras.backend.backend()
    if mode == "none":
        return contextlib.nullcontext(), 1
    if mode == "mirrored":
        if backend != "tensorflow":
            raise ConfigError(f"--distribute mirrored needs KERAS_BACKEND=tensorflow (this is "
                              f"{backend!r}); use --distribute data-parallel on JAX")
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
        return strategy.scope(), strategy.num_replicas_in_sync
    if backend != "jax":
        raise ConfigError(f"--distribute data-parallel needs KERAS_BACKEND=jax (this is "
                          f"{backend!r}); use --distribute mirrored on TensorFlow")
    if os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"):
        keras.distribution.initialize()
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return contextlib.nullcontext(), len(devices)


def teardown(mode: str) -> None:
    """Undo :func:`setup`'s global state (the JAX distribution)."""
    if mode == "data-parallel":
        keras.distribution.set_distribution(None)
