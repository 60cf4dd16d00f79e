"""Run the benchmark suite and write one JSON file and a Markdown table.

    python -m benchmarks.run [--quick] [--isa-caps [AVX2]] [--out benchmarks/results]

Runs, each in its own process (so peak memory is per benchmark): surrogate generation, the MHD
solver's zone-cycles/s, input
pipeline (prepare + make_dataset), classifier training throughput (from disk and from memory),
the PyTorch reference network, inference, and DDIM sampling (50 steps, 64**2 and 128**2). Every
number is a median over repeats; the table names the backend, device and machine. ``--quick`` uses fewer repeats and steps (a smoke run).

The ratio of our classifier training to the PyTorch reference depends on the CPU's vector
extensions, so on a CPU with AVX-512 the training pair is measured a second time with every
kernel library capped at AVX2 (``_report.ISA_CAPS``: oneDNN, XLA, ATen), as on an AVX2-only CPU
such as an AMD EPYC Zen 2/3; the table gives one ratio per kind. ``--isa-caps`` with no value
skips that pass.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from ._report import ISA_CAPS, capped_env, describe, kernel_caps, machine


def _run(module: str, args: list[str], out: Path, cap: str | None = None) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", module, *args, "--out", str(out)],
                          capture_output=True, text=True,
                          env=dict(capped_env(cap), TF_CPP_MIN_LOG_LEVEL="3"))
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    result = json.loads(out.read_text())
    result["wall_seconds"] = time.perf_counter() - start
    result["line"] = done.stdout.strip().splitlines()[-1]
    return result


def training_ratios(results: dict, caps: list[str]) -> dict[str, float]:
    """Our training images/s (``make_dataset`` from disk) over PyTorch's, per kind of kernels.

    ``results`` holds ``train_throughput`` / ``torch_reference`` (native) and
    ``train_throughput_<cap>`` / ``torch_reference_<cap>`` per cap; a kind with a failed or
    missing benchmark has no ratio.
    """
    ratios = {}
    for kind, suffix in [("native", "")] + [(cap, f"_{cap}") for cap in caps]:
        train = results.get(f"train_throughput{suffix}", {}).get("images_per_second", {})
        torch_rate = results.get(f"torch_reference{suffix}", {}).get("images_per_second")
        if train and torch_rate:
            ratios[kind] = train["make_dataset_from_disk"] / torch_rate
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--isa-caps", nargs="*", choices=sorted(ISA_CAPS), default=None,
                        help="also measure the training pair with kernels capped at these "
                             "instruction sets (default: AVX2 when this CPU has AVX-512 and "
                             "nothing is capped already; give none to skip)")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    if args.isa_caps is None:
        args.isa_caps = ["AVX2"] if machine()["avx512"] and not kernel_caps() else []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    repeats = ["--repeats", "1" if args.quick else "3"]
    steps = ["--steps", "20" if args.quick else "60"]
    suite = {
        "simulate": ("benchmarks.simulate",
                     repeats + ["--resolutions", "64" if args.quick else "64,128"]),
        "mhd": ("benchmarks.mhd", repeats + ["--resolutions", "32" if args.quick else "32,64,128"]),
        "mhd_cosmic_rays": ("benchmarks.mhd", repeats + [
            "--preset", "CR_Diff_Fiducial", "--resolutions", "32" if args.quick else "32,64"]),
        "input_pipeline": ("benchmarks.input_pipeline",
                           repeats + ["--snapshots", "2" if args.quick else "8"]),
        "train_throughput": ("benchmarks.train_throughput", repeats + steps),
        "torch_reference": ("benchmarks.torch_reference", repeats + steps),
        "generate": ("benchmarks.generate",
                     repeats + (["--sizes", "64", "--n", "4"] if args.quick else [])),
    }
    results = {}
    for name, (module, extra) in suite.items():
        print(f"running {name} ...", flush=True)
        results[name] = _run(module, extra, out / f"{name}.json")
        print("  " + results[name].get("line", f"error: {results[name].get('error')}"), flush=True)
    for cap in args.isa_caps:
        for name, module, extra in (("train_throughput", "benchmarks.train_throughput",
                                     repeats + steps + ["--classifier-only"]),
                                    ("torch_reference", "benchmarks.torch_reference",
                                     repeats + steps)):
            key = f"{name}_{cap}"
            print(f"running {name} with kernels capped at {cap} ...", flush=True)
            results[key] = _run(module, extra, out / f"{key}.json", cap)
            print("  " + results[key].get("line", f"error: {results[key].get('error')}"),
                  flush=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the backend's name only, no banners
    import keras

    summary = {"machine": machine(), "python": platform.python_version(),
               "keras_backend": keras.backend.backend(), "quick": args.quick,
               "results": results}
    ratios = training_ratios(results, args.isa_caps)
    summary["training_ratios"] = ratios
    if "native" in ratios:
        summary["ratio_train_to_torch"] = ratios["native"]
    (out / "suite.json").write_text(json.dumps(summary, indent=2))
    rows = [f"| {name} | {r.get('line', r.get('error'))} |" for name, r in results.items()]
    table = "\n".join([f"Machine: {describe()}; backend {summary['keras_backend']}"
                       + (" (quick run)" if args.quick else ""), "",
                       "| benchmark | result |", "|---|---|", *rows])
    info = summary["machine"]
    for kind, ratio in ratios.items():
        where = (f"{info['cpu']} (AVX-512 {'yes' if info['avx512'] else 'NO'}"
                 + (f", kernels capped at {kind}: as on an AVX2-only CPU)" if kind != "native"
                    else ")"))
        table += (f"\n\nTraining throughput ratio, ours (make_dataset, from disk) / PyTorch "
                  f"reference, same run: {ratio:.2f} on {where}")
    (out / "suite.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
