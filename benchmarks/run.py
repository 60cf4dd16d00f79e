"""Run the benchmark suite and write one JSON file and a Markdown table.

    python -m benchmarks.run [--quick] [--out benchmarks/results]

Runs, each in its own process (so peak memory is per benchmark): surrogate generation, the MHD
solver's zone-cycles/s, input
pipeline (prepare + make_dataset), classifier training throughput (from disk and from memory),
the PyTorch reference network, inference, and DDIM sampling (50 steps, 64**2 and 128**2). Every
number is a median over repeats; the table names the backend, device and machine. ``--quick`` uses fewer repeats and steps (a smoke run).
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

from ._report import describe, machine


def _run(module: str, args: list[str], out: Path) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", module, *args, "--out", str(out)],
                          capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    result = json.loads(out.read_text())
    result["wall_seconds"] = time.perf_counter() - start
    result["line"] = done.stdout.strip().splitlines()[-1]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
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
    import keras

    summary = {"machine": machine(), "python": platform.python_version(),
               "keras_backend": keras.backend.backend(), "quick": args.quick,
               "results": results}
    train = results.get("train_throughput", {}).get("images_per_second", {})
    torch_rate = results.get("torch_reference", {}).get("images_per_second")
    if train and torch_rate:
        summary["ratio_train_to_torch"] = train["make_dataset_from_disk"] / torch_rate
    (out / "suite.json").write_text(json.dumps(summary, indent=2))
    rows = [f"| {name} | {r.get('line', r.get('error'))} |" for name, r in results.items()]
    table = "\n".join([f"Machine: {describe()}; backend {summary['keras_backend']}"
                       + (" (quick run)" if args.quick else ""), "",
                       "| benchmark | result |", "|---|---|", *rows])
    if "ratio_train_to_torch" in summary:
        table += (f"\n\nTraining throughput ratio, ours (make_dataset, from disk) / PyTorch "
                  f"reference, same run: {summary['ratio_train_to_torch']:.2f} on "
                  f"{summary['machine']['cpu']} (AVX-512 "
                  f"{'yes' if summary['machine']['avx512'] else 'NO'})")
    (out / "suite.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
