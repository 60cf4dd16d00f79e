"""Benchmark training throughput of the default classifier (128x128 tiles, batch 64).

    python -m benchmarks.train_throughput [--steps 60] [--repeats 3] [--classifier-only]

Two feeds of the same model: ``make_dataset`` streaming prepared float16 shards from disk
(shuffle + augmentation, as in training), and the same tiles from memory as float32
(``array_dataset``: shuffled, not augmented; an upper bound with no input work), each with
``steps_per_execution`` 1 and 8 (the training default); also classifier inference (batch 256)
and U-net training (128**2, batch 16) from memory (``array_dataset``). Images/s are medians over
repeats of ``steps`` batches after a warm-up. Inference is timed with ``model.predict`` and with
``crturb_keras.predict_batches`` (what the package's evaluation and interpretation use).
``--classifier-only`` skips inference and the U-net: ``python -m benchmarks.run`` alternates it
with ``benchmarks.torch_reference`` for the training ratio. Writes
``benchmarks/results/train_throughput.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ._report import write_result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_throughput",
                                     description=__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--classifier-only", action="store_true",
                        help="measure classifier training only (no inference, no U-net)")
    parser.add_argument("--out", default="benchmarks/results/train_throughput.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from crturb_keras.data import discover_sources, make_dataset, prepare
    from crturb_keras.data.pipeline import array_dataset
    from crturb_keras.data import PrepareConfig, load_manifest, load_split
    from crturb_keras.simulate import SurrogateConfig, simulate
    from crturb_keras.runs.training import TrainConfig, build_model

    def rate(model, data):
        """Images/s of ``args.steps`` batches of a repeating dataset, after 8 warm-up batches."""
        model.fit(data, steps_per_epoch=8, epochs=1, verbose=0)
        start = time.perf_counter()
        model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
        return 64 * args.steps / (time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        simulate(SurrogateConfig(resolution=128, snapshots=4), root / "sim")
        prepare(discover_sources([str(root / "sim")]), root / "prep", PrepareConfig(tile=128),
                progress=False)
        manifest = load_manifest(root / "prep")
        gpu = keras.backend.backend() == "tensorflow" and bool(
            __import__("tensorflow").config.list_physical_devices("GPU"))
        if gpu:  # the training defaults on a GPU: mixed precision (XLA via jit_compile="auto")
            keras.mixed_precision.set_dtype_policy("mixed_float16")
        stream = make_dataset(root / "prep", "train", "classify", batch_size=64, repeat=True)
        arrays = load_split(root / "prep", "train")
        memory = array_dataset((arrays["images"].astype("float32"), arrays["labels"]),
                               batch_size=64, shuffle=True).repeat()
        runs: dict[str, list[float]] = {}
        for _ in range(args.repeats):
            for spe in (1, 8):
                model = build_model(TrainConfig(data=str(root / "prep"),
                                                steps_per_execution=spe), manifest)
                runs.setdefault(f"make_dataset_spe{spe}", []).append(rate(model, stream))
                runs.setdefault(f"in_memory_spe{spe}", []).append(rate(model, memory))
        from crturb_keras.models import MapLoss, build_unet, predict_batches

        images = arrays["images"][:1024]
        for _ in range(0 if args.classifier_only else args.repeats):
            start = time.perf_counter()
            model.predict(images, batch_size=256, verbose=0)
            runs.setdefault("inference", []).append(len(images) / (time.perf_counter() - start))
            predict_batches(model, images[:256])  # compiles predict_on_batch for 256
            start = time.perf_counter()
            predict_batches(model, images, 256)
            runs.setdefault("inference_predict_batches", []).append(
                len(images) / (time.perf_counter() - start))
            unet = build_unet((128, 128, 1), ("Ec",))
            unet.compile(keras.optimizers.AdamW(1e-3), MapLoss(0.5), steps_per_execution=8)
            tiles = images[:512].astype("float32")
            maps = array_dataset((tiles, tiles * 0.5), batch_size=16)
            unet.fit(maps.take(8), verbose=0)
            start = time.perf_counter()
            unet.fit(maps, verbose=0)
            runs.setdefault("unet_training", []).append(512 / (time.perf_counter() - start))
    medians = {name: statistics.median(values) for name, values in runs.items()}
    result = {
        "benchmark": "train_throughput", "model": "default classifier (depth 4, 8 filters)",
        "parameters": model.count_params(), "tile": 128, "batch": 64, "steps": args.steps,
        "repeats": args.repeats, "backend": keras.backend.backend(), "gpu": gpu,
        "mixed_precision": gpu, "jit_compile": gpu,
        "images_per_second": {"make_dataset_from_disk": medians["make_dataset_spe8"],
                              "in_memory": medians["in_memory_spe8"], **medians},
        "runs": runs,
        "published_pytorch_images_per_second": [1100, 1550],
    }
    write_result(args.out, result)
    line = (f"train_throughput classifier 128x128 batch 64 ({keras.backend.backend()}, median of "
            f"{args.repeats}): make_dataset {medians['make_dataset_spe1']:.0f} img/s "
            f"({medians['make_dataset_spe8']:.0f} with steps_per_execution=8), in-memory "
            f"{medians['in_memory_spe1']:.0f} ({medians['in_memory_spe8']:.0f})")
    if not args.classifier_only:
        line += (f"; inference {medians['inference']:.0f} img/s with model.predict, "
                 f"{medians['inference_predict_batches']:.0f} with predict_batches; U-net "
                 f"training (128^2, batch 16) {medians['unet_training']:.0f} img/s")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
