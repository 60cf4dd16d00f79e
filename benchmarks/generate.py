"""Benchmark DDIM sampling: samples/s for 50 steps at 64**2 and 128**2 (and training images/s).

    python -m benchmarks.generate [--sizes 64,128] [--steps 50] [--n 16] [--repeats 3]

Two denoisers: the package default (widths 32/64/96/128, two residual blocks per level) and the
small one the CPU runs of the notes used (16/32/64/64, one block). Sampling is class-conditional
with guidance (two network passes per step, the expensive case) and without (one pass); weights
are untrained (cost does not depend on them). On a GPU the training defaults apply (mixed
precision). Medians over repeats; writes ``benchmarks/results/generate.json`` and one line per
configuration.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

from ._report import write_result

DENOISERS = {"default": dict(widths=(32, 64, 96, 128), block_depth=2, embedding_dims=32),
             "small": dict(widths=(16, 32, 64, 64), block_depth=1, embedding_dims=16)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generate", description=__doc__)
    parser.add_argument("--sizes", default="64,128")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--n", type=int, default=16, help="samples per batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/generate.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    from crturb_keras.models.diffusion import DiffusionModel, build_denoiser

    gpu = keras.backend.backend() == "tensorflow" and bool(
        __import__("tensorflow").config.list_physical_devices("GPU"))
    if gpu:
        keras.mixed_precision.set_dtype_policy("mixed_float16")
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        for name, options in DENOISERS.items():
            keras.utils.set_random_seed(0)
            model = DiffusionModel(build_denoiser((size, size, 1), n_classes=5, **options))
            for guidance in (2.0, 1.0):  # trace the predict function for both batch shapes
                model.generate(args.n, steps=1, labels=0, guidance=guidance)
            timings = {}
            for label, guidance in (("guided", 2.0), ("conditional", 1.0)):
                seconds = []
                for repeat in range(args.repeats):
                    start = time.perf_counter()
                    model.generate(args.n, steps=args.steps, labels=repeat % 5,
                                   guidance=guidance, seed=repeat)
                    seconds.append(time.perf_counter() - start)
                timings[label] = args.n / statistics.median(seconds)
            model.compile(keras.optimizers.AdamW(1e-3, use_ema=True), jit_compile="auto"
                          if gpu else keras.backend.backend() == "tensorflow")
            images = np.random.default_rng(0).standard_normal((8 * 16, size, size, 1))
            labels = np.arange(len(images)) % 5
            model.fit((images[:32], labels[:32]), batch_size=16, epochs=1, verbose=0)
            start = time.perf_counter()
            model.fit((images, labels), batch_size=16, epochs=1, verbose=0)
            train_rate = len(images) / (time.perf_counter() - start)
            row = {"size": size, "denoiser": name, **{k: list(v) if isinstance(v, tuple) else v
                                                      for k, v in options.items()},
                   "parameters": model.network.count_params(), "steps": args.steps, "n": args.n,
                   "repeats": args.repeats, "samples_per_second_guided": timings["guided"],
                   "samples_per_second_conditional": timings["conditional"],
                   "train_images_per_second": train_rate}
            results.append(row)
            print(f"DDIM {size}^2 {name} ({row['parameters']:,} params): "
                  f"{timings['guided']:.2f} samples/s guided, {timings['conditional']:.2f} "
                  f"unguided ({args.steps} steps, median of {args.repeats}); training "
                  f"{train_rate:.0f} img/s", flush=True)
    write_result(args.out, {"benchmark": "generate", "backend": keras.backend.backend(), "gpu": gpu,
                            "python": platform.python_version(), "results": results})
    print(f"DDIM {args.steps}-step guided samples/s: " + "; ".join(
        f"{r['size']}^2 {r['denoiser']} {r['samples_per_second_guided']:.2f}" for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
