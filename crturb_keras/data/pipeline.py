"""tf.data input pipelines over prepared datasets (TensorFlow at the edge; feeds every backend).

``make_dataset`` streams the ``.npy`` shards written by :func:`crturb_keras.data.writer.prepare`:
shards are read whole (one ``np.load`` each, permuted in a seeded order per epoch) and
interleaved in parallel, so classes mix evenly; tiles then pass a seeded shuffle buffer, are
batched, augmented per batch (a random symmetry per tile, seeded per batch, see
:func:`augment_tiles`) and cast from float16 storage to float32.

Augmentations are symmetries of the data, never of the physics they would break:

* flips of either image axis (mirror symmetry of statistically isotropic turbulence);
* transposes (hence all 90-degree rotations) only when images are normal to the mean field x1,
  because in planes that contain x1 the field direction is a physical, anisotropic axis;
* periodic rolls only when tiles are whole periodic slices (``tile`` equal to the box size).

The same geometric operation is applied to the image and its paired targets (map task). Datasets
work as ``model.fit`` input on the TensorFlow, JAX and PyTorch Keras backends.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from ..errors import ConfigError
from .config import KINDS
from .manifest import check_shards, load_manifest

TASKS = ("classify", "map", "generate")


def make_dataset(
    prepared_dir: str | os.PathLike,
    split: str = "train",
    task: str = "classify",
    batch_size: int = 64,
    kind: str = "slice",
    shuffle: bool | None = None,
    augment: bool | None = None,
    cache: bool = False,
    repeat: bool = False,
    one_hot: bool = False,
    conditional: bool = False,
    classes: list[str] | None = None,
    seed: int = 0,
    shuffle_buffer: int = 1024,
    drop_remainder: bool = False,
    verify: bool = False,
) -> tf.data.Dataset:
    """Batches of one split of a prepared dataset for training or evaluation.

    Parameters
    ----------
    prepared_dir : path
        Folder written by ``prepare`` / ``python -m pipelines.prepare``.
    split : {"train", "val", "test"}
    task : {"classify", "map", "generate"}
        ``classify`` yields ``(images, labels)``; ``map`` yields ``(images, targets)`` from the
        classes that carry the targets; ``generate`` yields ``images`` (or ``(images, labels)``
        with ``conditional=True``).
    batch_size : int
    kind : {"slice", "projection"}
    shuffle, augment : bool, optional
        Default: on for the train split only (never augment evaluation data by default).
    cache : bool
        Keep decoded tiles in memory after the first pass (epochs after the first skip disk).
    repeat : bool
        Repeat forever (then pass ``steps_per_epoch`` to ``fit``).
    one_hot : bool
        One-hot labels ``(n, n_classes)`` instead of indices ``(n,)``.
    classes : list of str, optional
        Restrict to these classes (labels keep their manifest indices).
    seed : int
        Seeds shard order, shuffling and augmentation.
    shuffle_buffer : int
        Tiles in the cross-shard shuffle buffer. Each shard is also permuted as a whole when
        it is read, so a small buffer mixes well; 1,024 is about 1.5x faster than 8,192 on 2
        cores (``benchmarks/input_pipeline.py``).
    verify : bool
        Check the shards' SHA-256 against the manifest before use (reads them all once); their
        dtypes, shapes, counts and labels are always checked (see
        :func:`crturb_keras.data.manifest.check_shards`).

    Returns
    -------
    tf.data.Dataset
        Images ``float32`` ``(batch, tile, tile, 1)``; labels ``int32``; targets ``float32``
        ``(batch, tile, tile, n_targets)``.
    """
    manifest = load_manifest(prepared_dir)
    if split not in manifest.shards:
        raise ConfigError(f"split must be one of {list(manifest.shards)}, got {split!r}")
    if task not in TASKS:
        raise ConfigError(f"task must be one of {TASKS}, got {task!r}")
    if kind not in KINDS or kind not in manifest.shards[split]:
        raise ConfigError(f"{prepared_dir} has no {kind!r} images; it was prepared with "
                          f"{list(manifest.shards[split])}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    shards = manifest.shards[split][kind]
    if classes is not None:
        unknown = set(classes) - set(manifest.classes)
        if unknown:
            raise ConfigError(f"unknown class(es) {sorted(unknown)}; the dataset has "
                              f"{list(manifest.classes)}")
        shards = [s for s in shards if s["class"] in classes]
    with_targets = task == "map"
    if with_targets:
        shards = [s for s in shards if s["targets"]]
        if not shards:
            raise ConfigError(f"{prepared_dir}: no {split} shards carry targets; prepare with "
                              f"--targets Ec (classes with CRs) for the map task")
    if not shards:
        raise ConfigError(f"{prepared_dir}: the {split} split holds no {kind} tiles")
    check_shards(prepared_dir, manifest, shards,
                 ("images", "labels") + (("targets",) if with_targets else ()), verify)
    shuffle = split == "train" if shuffle is None else shuffle
    augment = split == "train" if augment is None else augment
    geometry = manifest.geometry
    tile, n_targets = geometry.tile, len(geometry.targets)
    n_classes = len(manifest.classes)
    root = Path(prepared_dir)
    stems = [str(root / s["stem"]) for s in shards]
    total = sum(s["count"] for s in shards)

    passes = [0] * len(stems)

    def load(index):
        index = int(index)
        stem = stems[index]
        arrays = [np.load(stem + ".images.npy"), np.load(stem + ".labels.npy")]
        if with_targets:
            arrays.append(np.load(stem + ".targets.npy"))
        if shuffle:  # a fresh, seeded order of each shard every epoch
            order = np.random.default_rng([seed, index, passes[index]]).permutation(len(arrays[0]))
            passes[index] += 1
            arrays = [a[order] for a in arrays]
        return tuple(arrays)

    storage = tf.as_dtype(manifest.config.dtype)
    out_types = [storage, tf.int32] + ([storage] if with_targets else [])

    def read_shard(index):
        arrays = tf.numpy_function(load, [index], out_types, stateful=shuffle)
        arrays[0].set_shape([None, tile, tile, 1])
        arrays[1].set_shape([None])
        if with_targets:
            arrays[2].set_shape([None, tile, tile, n_targets])
        return tf.data.Dataset.from_tensor_slices(tuple(arrays))

    order = tf.data.Dataset.range(len(stems))
    if shuffle:
        order = order.shuffle(len(stems), seed=seed, reshuffle_each_iteration=True)
    data = order.interleave(read_shard, cycle_length=min(len(stems), 16), block_length=1,
                            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    data = data.apply(tf.data.experimental.assert_cardinality(total))
    if cache:
        data = data.cache()
    if shuffle:
        data = data.shuffle(min(shuffle_buffer, total), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        data = data.repeat()
    data = data.batch(batch_size, drop_remainder=drop_remainder,
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    rotate = geometry.rotations_allowed
    roll = geometry.periodic_tiles

    def finish(seed_value, batch):
        images, labels = batch[0], batch[1]
        targets = batch[2] if with_targets else None
        if augment:
            stacked = tf.concat([images, targets], axis=-1) if with_targets else images
            shape = stacked.shape
            stacked = tf.numpy_function(augment_tiles, [stacked, seed_value, rotate, roll],
                                        stacked.dtype, stateful=False)
            stacked.set_shape(shape)
            images = stacked[..., :1]
            targets = stacked[..., 1:] if with_targets else None
        images = tf.cast(images, tf.float32)
        targets = tf.cast(targets, tf.float32) if with_targets else None
        if one_hot:
            labels = tf.one_hot(labels, n_classes)
        if task == "classify":
            return images, labels
        if task == "map":
            return images, targets
        return (images, labels) if conditional else images

    data = tf.data.Dataset.zip((tf.data.Dataset.random(seed=seed), data))
    data = data.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _without_autotuning(data.prefetch(tf.data.AUTOTUNE))


def array_dataset(arrays, batch_size: int, shuffle: bool = False, seed: int = 0,
                  drop_remainder: bool = False) -> tf.data.Dataset:
    """Batches of in-memory arrays (any nesting, e.g. ``((latents, labels),)``) for ``fit``.

    What ``model.fit(arrays, batch_size=...)`` builds, minus tf.data's autotuner (see
    :func:`_without_autotuning`); with ``shuffle``, a fresh seeded order every epoch.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    data = tf.data.Dataset.from_tensor_slices(arrays)
    if shuffle:
        data = data.shuffle(int(data.cardinality()), seed=seed, reshuffle_each_iteration=True)
    return _without_autotuning(data.batch(batch_size, drop_remainder=drop_remainder).prefetch(2))


def _without_autotuning(data: tf.data.Dataset) -> tf.data.Dataset:
    """``data`` with tf.data's autotuner off.

    Deleting an iterator (every fit, epoch and evaluation makes one) joins the autotuner's
    thread, which intermittently sleeps through the cancellation until its next tick (10 ms
    doubling to 60 s), blocking the caller, GIL held, for up to one period: what made benchmark
    fits "pin" at 750/1,000/1,500 img/s. ``AUTOTUNE`` parallelism arguments still run in
    parallel without it, as fast on CPU.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return data.with_options(options)


def symmetry(images: np.ndarray, choice: int) -> np.ndarray:
    """Symmetry ``choice`` (0-7) of images ``(..., H, W, C)`` as a view.

    Bit 1 flips W, bit 2 flips H, bit 4 transposes H and W (valid only normal to the mean field);
    choices 0-3 are the flips, 0-7 the whole dihedral group of the square.
    """
    if choice & 1:
        images = images[..., :, ::-1, :]
    if choice & 2:
        images = images[..., ::-1, :, :]
    if choice & 4:
        images = np.swapaxes(images, -3, -2)
    return images


def augment_tiles(batch: np.ndarray, seed: int, rotate: bool, roll: bool) -> np.ndarray:
    """A random symmetry per tile of ``(n, H, W, C)``: flips, transposes and rolls where valid.

    Done in numpy on views (one copy per tile): on 2 CPU cores this is about 3x faster than the
    equivalent vectorised TensorFlow ops (``tf.where`` over flipped copies, or ``tf.gather``
    through a permutation table), which each make several passes over the batch.
    """
    rng = np.random.default_rng(int(seed))
    choices = rng.integers(0, 8 if rotate else 4, size=len(batch))
    out = np.empty_like(batch)
    for i, choice in enumerate(choices):
        out[i] = symmetry(batch[i], int(choice))
    if roll:
        out = np.roll(out, tuple(rng.integers(0, batch.shape[1:3])), axis=(1, 2))
    return out
