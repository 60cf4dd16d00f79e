"""Benchmark training throughput of the default classifier (128x128 tiles, batch 64).

    python -m benchmarks.train_throughput [--steps 60] [--repeats 3]

Two feeds of the same model: ``make_dataset`` streaming prepared float16 shards from disk
(shuffle + augmentation, as in training), and the same tiles from memory (``model.fit`` on numpy
arrays). Images/s are medians over repeats of ``steps`` batches after one warm-up epoch; the
published PyTorch network does about 1,100-1,550 img/s on this 2-core machine. Writes
``benchmarks/results/train_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_throughput",
                                     description=__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/train_throughput.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from crturb_keras.data import discover_sources, make_dataset, prepare
    from crturb_keras.data.store import PrepareConfig, load_split
    from crturb_keras.simulate import SurrogateConfig, simulate
    from crturb_keras.training import TrainConfig, build_model

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

    def rate(model, fit_args, fit_kwargs):
        timer = Timer()
        model.fit(*fit_args, epochs=1, steps_per_epoch=args.steps + 5, verbose=0,
                  callbacks=[timer], **fit_kwargs)
        steps = timer.times[5:]  # skip the first batches (tracing, pipeline start)
        return 64 * (len(steps) - 1) / (steps[-1] - steps[0])

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        simulate(SurrogateConfig(resolution=128, snapshots=4), root / "sim")
        prepare(discover_sources([str(root / "sim")]), root / "prep", PrepareConfig(tile=128),
                progress=False)
        from crturb_keras.data.store import load_manifest

        manifest = load_manifest(root / "prep")
        config = TrainConfig(data=str(root / "prep"))
        model = build_model(config, manifest)
        stream = make_dataset(root / "prep", "train", "classify", batch_size=64, repeat=True)
        model.fit(stream, epochs=1, steps_per_epoch=10, verbose=0)
        arrays = load_split(root / "prep", "train")
        disk, memory = [], []
        for _ in range(args.repeats):
            disk.append(rate(model, (stream,), {}))
            memory.append(rate(model, (arrays["images"], arrays["labels"]),
                               {"batch_size": 64, "shuffle": True}))
    result = {
        "benchmark": "train_throughput", "model": "default classifier (depth 4, 8 filters)",
        "parameters": model.count_params(), "tile": 128, "batch": 64, "steps": args.steps,
        "repeats": args.repeats, "backend": keras.backend.backend(), "jit_compile": False,
        "images_per_second": {"make_dataset_from_disk": statistics.median(disk),
                              "numpy_in_memory": statistics.median(memory)},
        "runs": {"make_dataset_from_disk": disk, "numpy_in_memory": memory},
        "published_pytorch_images_per_second": [1100, 1550],
        "machine": platform.platform(), "cpus": os.cpu_count(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    fed = result["images_per_second"]
    print(f"train_throughput classifier 128x128 batch 64 ({keras.backend.backend()}, median of "
          f"{args.repeats}): make_dataset {fed['make_dataset_from_disk']:.0f} img/s, in-memory "
          f"{fed['numpy_in_memory']:.0f} img/s; ratio to PyTorch 1,100-1,550 img/s: "
          f"{fed['make_dataset_from_disk'] / 1550:.2f}-{fed['make_dataset_from_disk'] / 1100:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
