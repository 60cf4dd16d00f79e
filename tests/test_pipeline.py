"""tf.data pipelines: shapes, labels, determinism, physical augmentation, model.fit on backends."""

from __future__ import annotations


import numpy as np
import pytest
import tensorflow as tf

from crturb_keras.data import make_dataset
from crturb_keras.data.pipeline import augment_tiles
from crturb_keras.data import PrepareConfig, load_manifest
from crturb_keras.errors import ConfigError

from helpers import surrogate_dataset


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return surrogate_dataset(tmp_path_factory.mktemp("pipe"),
                             PrepareConfig(tile=16, targets=("Ec",), shard_size=50))


def test_classify_batches_and_labels(prepared):
    manifest = load_manifest(prepared).to_dict()
    total = sum(manifest["counts"]["test"]["slice"].values())
    ds = make_dataset(prepared, "test", "classify", batch_size=32)
    images, labels = [], []
    for x, y in ds:
        assert x.dtype == tf.float32 and x.shape[1:] == (16, 16, 1)
        images.append(x.numpy())
        labels.append(y.numpy())
    labels = np.concatenate(labels)
    assert len(labels) == total and int(ds.cardinality()) == -(-total // 32)
    counts = {name: int((labels == i).sum()) for name, i in manifest["classes"].items()}
    assert counts == manifest["counts"]["test"]["slice"]
    # Evaluation data is neither shuffled nor augmented: it equals the stored tiles, pixel for
    # pixel, in the pipeline's deterministic order (the shards read round-robin, one tile each
    # in turn). Mutations caught: a flip, a roll or any reordering of the evaluation stream,
    # which an order-free comparison of per-tile sums let through.
    shards = manifest["shards"]["test"]["slice"]
    assert len(shards) <= 16          # one interleave cycle holds every shard
    tiles = [np.load(str(prepared / s["stem"]) + ".images.npy").astype(np.float32) for s in shards]
    tags = [np.load(str(prepared / s["stem"]) + ".labels.npy") for s in shards]
    order = [(k, i) for i in range(max(len(t) for t in tiles)) for k in range(len(tiles))
             if i < len(tiles[k])]
    np.testing.assert_array_equal(np.concatenate(images), np.stack([tiles[k][i] for k, i in order]))
    np.testing.assert_array_equal(labels, np.array([tags[k][i] for k, i in order]))
    x, y = next(iter(make_dataset(prepared, "val", "classify", batch_size=8, one_hot=True)))
    assert y.shape == (8, 5) and np.allclose(y.numpy().sum(axis=1), 1)


def test_map_and_generate_tasks(prepared):
    x, t = next(iter(make_dataset(prepared, "train", "map", batch_size=16)))
    assert x.shape == (16, 16, 16, 1) and t.shape == (16, 16, 16, 1)
    x, y = next(iter(make_dataset(prepared, "train", "generate", batch_size=4, conditional=True,
                                  classes=["CR_Streaming"])))
    assert x.shape == (4, 16, 16, 1) and set(y.numpy()) == {4}
    only = next(iter(make_dataset(prepared, "train", "generate", batch_size=4)))
    assert only.shape == (4, 16, 16, 1)
    with pytest.raises(ConfigError, match="no train shards carry targets"):
        make_dataset(prepared, "train", "map", classes=["MHD"])
    with pytest.raises(ConfigError, match="projection"):
        make_dataset(prepared, "train", kind="projection")
    with pytest.raises(ConfigError, match="task must be one of"):
        make_dataset(prepared, "train", task="segment")


def test_paired_augmentation_keeps_targets_aligned(prepared):
    # log Ec is linear in log rho for CR_Advect, so every augmented pair must stay linear
    ds = make_dataset(prepared, "train", "map", batch_size=64, classes=["CR_Advect"], augment=True)
    for x, t in ds.take(3):
        for xi, ti in zip(x.numpy(), t.numpy()):
            assert np.corrcoef(xi.ravel(), ti.ravel())[0, 1] > 0.999


def test_same_seed_same_batches_and_shuffling(prepared):
    def first(seed):
        return next(iter(make_dataset(prepared, "train", "classify", batch_size=16, seed=seed)))

    a, b, c = first(1), first(1), first(2)
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    assert not np.array_equal(a[0].numpy(), c[0].numpy())
    assert len(set(a[1].numpy())) > 1  # classes are mixed within a batch


def test_augmentation_respects_the_mean_field_axis():
    tile = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    batch = np.repeat(tile, 64, axis=0)
    variants = lambda out: {tuple(t.ravel()) for t in out}  # noqa: E731
    image = tile[0, ..., 0]
    mirrors = {tuple(v.ravel()) for v in (image, image[::-1], image[:, ::-1], image[::-1, ::-1])}
    assert variants(augment_tiles(batch, 3, rotate=False, roll=False)) == mirrors
    rotations = variants(augment_tiles(batch, 3, rotate=True, roll=False))
    assert len(rotations) == 8 and mirrors < rotations  # the full dihedral group
    np.testing.assert_array_equal(augment_tiles(batch, 5, True, True),
                                  augment_tiles(batch, 5, True, True))
    rolled = augment_tiles(batch[:1], 0, rotate=False, roll=True)
    assert sorted(rolled.ravel()) == sorted(image.ravel())  # a periodic roll keeps every pixel


def test_training_stream_is_augmented_by_symmetries_of_stored_tiles(prepared):
    """Every training tile is one of the 8 flips/rotations of a stored training tile (images
    normal to x1), and most are not the identity (7 of 8 expected). Mutations caught: the
    augmentation switched off in the training stream, or one that is not a symmetry."""
    manifest = load_manifest(prepared).to_dict()
    stored = np.concatenate([np.load(str(prepared / s["stem"]) + ".images.npy")
                             for s in manifest["shards"]["train"]["slice"]]).astype(np.float32)
    known = {tile.tobytes() for tile in stored}
    x, _ = next(iter(make_dataset(prepared, "train", "classify", batch_size=64)))
    identity = 0
    for tile in x.numpy():
        image = tile[..., 0]
        variants = [np.rot90(flipped, k) for flipped in (image, image[::-1]) for k in range(4)]
        found = [np.ascontiguousarray(v)[..., None].tobytes() in known for v in variants]
        assert any(found)
        identity += tile.tobytes() in known
    assert identity < 0.5 * len(x)


def test_array_dataset_batches_shuffles_per_epoch_and_skips_the_autotuner():
    from crturb_keras.data.pipeline import array_dataset

    x = np.arange(10, dtype=np.float32)[:, None]
    labels = np.arange(10, dtype=np.int32)
    plain = array_dataset(((x, labels),), batch_size=4)
    batches = [b for (b,) in plain]
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), labels)
    assert plain.options().autotune.enabled is False

    def epochs(seed):
        data = array_dataset((x, labels), batch_size=10, shuffle=True, seed=seed)
        return [next(iter(data))[1].numpy() for _ in range(2)]

    first, second = epochs(3)
    assert sorted(first) == list(range(10)) and not np.array_equal(first, second)
    np.testing.assert_array_equal(epochs(3)[0], first)        # same seed, same order
    assert not np.array_equal(epochs(4)[0], first)
    with pytest.raises(ConfigError, match="batch_size"):
        array_dataset(x, batch_size=0)


def test_every_epoch_reads_each_tile_once_in_a_new_order(prepared):
    """Each pass (a new iterator, or a repetition) is a fresh, seeded permutation of all tiles.
    Mutations caught: one order for every epoch (the per-pass key ignored), tiles dropped or
    repeated by the windowed gather."""
    manifest = load_manifest(prepared)
    total = sum(manifest.counts["train"]["slice"].values())

    def tiles(dataset, n_batches):
        batches = list(dataset.take(n_batches))
        return np.concatenate([x.numpy() for x, _ in batches])

    data = make_dataset(prepared, "train", "classify", batch_size=total, augment=False)
    first, second = tiles(data, 1), tiles(data, 1)
    key = lambda images: sorted(t.tobytes() for t in images)  # noqa: E731
    assert len(first) == total and key(first) == key(second)   # the same tiles, once each
    assert not np.array_equal(first, second)                    # in a new order
    again = make_dataset(prepared, "train", "classify", batch_size=total, augment=False)
    np.testing.assert_array_equal(tiles(again, 1), first)       # same seed, same first epoch
    repeated = tiles(make_dataset(prepared, "train", "classify", batch_size=total,
                                  augment=False, repeat=True), 2)
    np.testing.assert_array_equal(repeated[:total], first)
    assert key(repeated[total:]) == key(first) and not np.array_equal(repeated[total:], first)
