"""Benchmark ``make_dataset``: images/s for 128x128 tiles in batches of 64, cold and warm.

    python -m benchmarks.input_pipeline [--snapshots 8] [--repeats 3]

Prepares surrogate data at 128**3 (tile 128, float16 shards) in a temporary folder, then times
one training epoch (shuffle + augmentation on) through ``make_dataset``:

* ``cold``: after dropping the OS page cache (when permitted: root on Linux), so shards come from
  disk;
* ``warm``: shards in the OS page cache, no tf.data cache;
* ``cached``: ``cache=True``, second epoch (tiles already decoded in memory);
* ``tfrecord``: the same tiles as a TFRecord file read with ``TFRecordDataset`` (warm), the
  alternative shard format, for the format decision.

Reports medians over repeats; writes ``benchmarks/results/input_pipeline.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._report import write_result


def _drop_page_cache() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
        return True
    except OSError:
        return False


def _epoch_rate(dataset) -> tuple[float, int]:
    start = time.perf_counter()
    n = 0
    for x, _ in dataset:
        n += int(x.shape[0])
    return n / (time.perf_counter() - start), n


def _tfrecord(prepared: Path, tf) -> Path:
    import numpy as np

    path = prepared / "train.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for stem in sorted((prepared / "train" / "slice").glob("*.images.npy")):
            images = np.load(stem)
            labels = np.load(str(stem).replace(".images.", ".labels."))
            for image, label in zip(images, labels):
                feature = {
                    "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
                }
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature))
                             .SerializeToString())
    return path


def _tfrecord_dataset(path: Path, tile: int, tf):
    spec = {"image": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64)}

    def parse(batch):
        parsed = tf.io.parse_example(batch, spec)
        images = tf.io.decode_raw(parsed["image"], tf.float16)
        images = tf.reshape(images, [-1, tile, tile, 1])
        return tf.cast(images, tf.float32), tf.cast(parsed["label"], tf.int32)

    return (tf.data.TFRecordDataset(str(path), num_parallel_reads=tf.data.AUTOTUNE)
            .shuffle(8192, seed=0).batch(64).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.input_pipeline",
                                     description=__doc__)
    parser.add_argument("--snapshots", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/input_pipeline.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    from crturb_keras.data import discover_sources, make_dataset, prepare
    from crturb_keras.data import PrepareConfig
    from crturb_keras.simulate import SurrogateConfig, simulate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        simulate(SurrogateConfig(resolution=128, snapshots=args.snapshots), root / "sim")
        start = time.perf_counter()
        manifest = prepare(discover_sources([str(root / "sim")]), root / "prep",
                           PrepareConfig(tile=128), progress=False)
        prepare_seconds = time.perf_counter() - start
        prepared = root / "prep"
        tiles = sum(manifest.counts["train"]["slice"].values())

        def train(cache=False):
            return make_dataset(prepared, "train", "classify", batch_size=64, cache=cache)

        cold, warm, cached, record = [], [], [], []
        dropped = False
        for _ in range(args.repeats):
            dropped = _drop_page_cache()
            cold.append(_epoch_rate(train())[0])
            warm.append(_epoch_rate(train())[0])
            ds = train(cache=True)
            _epoch_rate(ds)
            cached.append(_epoch_rate(ds)[0])
        path = _tfrecord(prepared, tf)
        for _ in range(args.repeats):
            record.append(_epoch_rate(_tfrecord_dataset(path, 128, tf))[0])
    result = {
        "benchmark": "input_pipeline", "tile": 128, "batch": 64, "train_tiles": tiles,
        "dtype": "float16", "prepare_seconds_128cubed": prepare_seconds,
        "page_cache_dropped_for_cold": dropped, "repeats": args.repeats,
        "images_per_second": {"cold": statistics.median(cold), "warm": statistics.median(warm),
                              "cached": statistics.median(cached),
                              "tfrecord_warm": statistics.median(record)},
        "runs": {"cold": cold, "warm": warm, "cached": cached, "tfrecord_warm": record},
        "tensorflow": tf.__version__, "cpus": os.cpu_count(),
    }
    write_result(args.out, result)
    rates = result["images_per_second"]
    print(f"input_pipeline 128x128 batch 64, {tiles} train tiles (median of {args.repeats}): "
          f"cold {rates['cold']:.0f} img/s{'' if dropped else ' (page cache not dropped)'}, "
          f"warm {rates['warm']:.0f}, cached {rates['cached']:.0f}, "
          f"tfrecord {rates['tfrecord_warm']:.0f}; prepare {prepare_seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
