"""tf.data input pipelines over prepared datasets (TensorFlow at the edge; feeds every backend).

``make_dataset`` streams the ``.npy`` shards written by :func:`crturb_keras.data.writer.prepare`
a batch at a time: each pass over the data takes the shards in a seeded random order,
``WINDOW`` (16) at a time, read whole (one sequential ``np.load`` each, kept while in use), and
draws the window's tiles in a random permutation, so classes mix evenly (:func:`epoch_order`);
each batch is gathered in one numpy call that also applies a random symmetry per tile
(:func:`symmetric_batch`), then cast from float16 storage to float32. One tf.data element per
batch, not per tile: on 2 cores that halves the pipeline's CPU time (2.75 against 4.2 ms per
batch of 64 128**2 tiles) and speeds training from disk by 7 % (README "Benchmarks").

Augmentations are symmetries of the data, never of the physics they would break:

* flips of either image axis (mirror symmetry of statistically isotropic turbulence);
* transposes (hence all 90-degree rotations) only when images are normal to the mean field x1,
  because in planes that contain x1 the field direction is a physical, anisotropic axis;
* periodic rolls only when tiles are whole periodic slices (``tile`` equal to the box size).

The same geometric operation is applied to the image and its paired targets (map task). Datasets
work as ``model.fit`` input on the TensorFlow, JAX and PyTorch Keras backends.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf

from ..errors import ConfigError
from .config import KINDS
from .manifest import check_shards, load_manifest

TASKS = ("classify", "map", "generate")

#: Shards read whole into memory together; tiles are shuffled across all of them at once.
WINDOW = 16


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
        Keep every shard in memory after its first read (epochs after the first skip disk);
        otherwise at most ``2 * WINDOW`` shards are held.
    repeat : bool
        Repeat forever (then pass ``steps_per_epoch`` to ``fit``).
    one_hot : bool
        One-hot labels ``(n, n_classes)`` instead of indices ``(n,)``.
    classes : list of str, optional
        Restrict to these classes (labels keep their manifest indices).
    seed : int
        Seeds shard order, shuffling and augmentation; every pass (each new iterator, each
        repetition) draws its own order and symmetries from it.
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
    counts = [int(s["count"]) for s in shards]
    total = sum(counts)
    batches = total // batch_size if drop_remainder else -(-total // batch_size)
    if batches == 0:
        raise ConfigError(f"{prepared_dir}: the {split} split holds {total} tiles, fewer than "
                          f"one batch of {batch_size} with drop_remainder")
    rotate = geometry.rotations_allowed
    roll = geometry.periodic_tiles
    storage = tf.as_dtype(manifest.config.dtype)
    loaded = _ShardCache(stems, with_targets, None if cache else 2 * WINDOW)

    @functools.lru_cache(maxsize=2)
    def plan(key: int) -> tuple[np.ndarray, np.ndarray]:
        return epoch_order(counts, np.random.default_rng([seed, key]) if shuffle else None)

    def gather(key, index):
        key, index = int(key), int(index)
        shard_ids, rows = plan(key)
        part = slice(index * batch_size, (index + 1) * batch_size)
        shard_ids, rows = shard_ids[part], rows[part]
        arrays = {int(k): loaded.get(int(k)) for k in np.unique(shard_ids)}
        rng = np.random.default_rng([seed, key, index]) if augment else None
        fields = [{k: a[0] for k, a in arrays.items()}]
        fields += [{k: a[2] for k, a in arrays.items()}] if with_targets else []
        out = symmetric_batch(fields, shard_ids, rows, rng, rotate, roll)
        labels = np.array([arrays[int(k)][1][r] for k, r in zip(shard_ids, rows)], np.int32)
        return (out[0], labels) + ((out[1],) if with_targets else ())

    out_types = [storage, tf.int32] + ([storage] if with_targets else [])

    def read_batch(key, index):
        arrays = tf.numpy_function(gather, [key, index], out_types, stateful=False)
        arrays[0].set_shape([None, tile, tile, 1])
        arrays[1].set_shape([None])
        if with_targets:
            arrays[2].set_shape([None, tile, tile, n_targets])
        return tuple(arrays)

    # one key per pass over the data (each iterator, and each repetition, draws a new one), so
    # every epoch has its own seeded order and symmetries
    keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    data = keys.flat_map(lambda key: tf.data.Dataset.range(batches).map(lambda i: (key, i)))
    data = data.apply(tf.data.experimental.assert_cardinality(batches))
    if repeat:
        data = data.repeat()

    def finish(*batch):
        images, labels = batch[0], batch[1]
        targets = batch[2] if with_targets else None
        images = tf.cast(images, tf.float32)
        targets = tf.cast(targets, tf.float32) if with_targets else None
        if one_hot:
            labels = tf.one_hot(labels, n_classes)
        if task == "classify":
            return images, labels
        if task == "map":
            return images, targets
        return (images, labels) if conditional else images

    data = data.map(read_batch, num_parallel_calls=2, deterministic=True)
    data = data.map(finish, num_parallel_calls=2, deterministic=True)
    return _without_autotuning(data.prefetch(4))


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
    """A random symmetry per tile of ``(n, H, W, C)``: flips, transposes and rolls where valid
    (see :func:`symmetric_batch`; seeded by ``seed``)."""
    n = len(batch)
    return symmetric_batch([{0: batch}], np.zeros(n, int), np.arange(n),
                           np.random.default_rng(int(seed)), rotate, roll)[0]


def symmetric_batch(fields: Sequence[Mapping[int, np.ndarray]], shard_ids: np.ndarray,
                    rows: np.ndarray, rng: np.random.Generator | None, rotate: bool,
                    roll: bool) -> list[np.ndarray]:
    """Gather tiles ``fields[f][shard_ids[i]][rows[i]]`` into batches, each under a random symmetry.

    One symmetry per tile (bits of :func:`symmetry`: flips, and transposes only when
    ``rotate``), the same for every field (image and its targets), and with ``roll`` one random
    periodic shift for the whole batch; ``rng=None`` copies the tiles as stored. Gathering and
    transforming is one copy per tile: on 2 CPU cores about 3x faster than the vectorised
    TensorFlow equivalents (``tf.where`` over flipped copies, ``tf.gather`` through a
    permutation table), which make several passes over the batch.

    Returns
    -------
    list of ndarray
        One ``(n, H, W, C_f)`` batch per field.
    """
    n = len(rows)
    first = next(iter(fields[0].values()))
    outs = [np.empty((n, *next(iter(f.values())).shape[1:]), first.dtype) for f in fields]
    choices = (rng.integers(0, 8 if rotate else 4, size=n) if rng is not None
               else np.zeros(n, int))
    for i in range(n):
        k, r, choice = int(shard_ids[i]), int(rows[i]), int(choices[i])
        for field, out in zip(fields, outs):
            out[i] = symmetry(field[k][r], choice)
    if roll and rng is not None:
        shift = tuple(int(v) for v in rng.integers(0, first.shape[1:3]))
        outs = [np.roll(out, shift, axis=(1, 2)) for out in outs]
    return outs


def epoch_order(counts: Sequence[int], rng: np.random.Generator | None,
                window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """The order of one pass over shards holding ``counts`` tiles: ``(shard ids, rows)``.

    With ``rng``: shards in a random order, taken ``window`` at a time, the tiles of each
    window in a random permutation (classes mix across the window's shards). Without: windows
    in stored order, each read round-robin (one tile of each shard in turn).
    """
    counts = np.asarray(counts, int)
    order = rng.permutation(len(counts)) if rng is not None else np.arange(len(counts))
    ids, rows = [], []
    for start in range(0, len(order), window):
        members = order[start:start + window]
        k = np.concatenate([np.full(counts[m], m) for m in members])
        r = np.concatenate([np.arange(counts[m]) for m in members])
        if rng is not None:
            pick = rng.permutation(len(k))
        else:  # round-robin: by row, then by the shard's place in the window
            pick = np.lexsort((np.repeat(np.arange(len(members)), counts[members]), r))
        ids.append(k[pick])
        rows.append(r[pick])
    return np.concatenate(ids), np.concatenate(rows)


class _ShardCache:
    """Shards' arrays ``(images, labels[, targets])`` read on first use; the least recently
    used beyond ``capacity`` shards are dropped (``None``: keep all). Thread-safe."""

    def __init__(self, stems: Sequence[str], with_targets: bool, capacity: int | None) -> None:
        self.stems, self.with_targets, self.capacity = list(stems), with_targets, capacity
        self._arrays: dict[int, tuple] = {}
        self._lock = threading.Lock()

    def get(self, index: int) -> tuple:
        with self._lock:
            arrays = self._arrays.pop(index, None)
            if arrays is None:
                stem = self.stems[index]
                names = ("images", "labels") + (("targets",) if self.with_targets else ())
                arrays = tuple(np.load(f"{stem}.{name}.npy") for name in names)
            self._arrays[index] = arrays  # now the most recently used
            if self.capacity is not None and len(self._arrays) > self.capacity:
                del self._arrays[next(iter(self._arrays))]
            return arrays