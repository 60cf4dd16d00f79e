"""Run the benchmark suite and write one JSON file and a Markdown table.

    python -m benchmarks.run [--quick] [--isa-caps [AVX2]] [--out benchmarks/results]

Runs, each in its own process (so peak memory is per benchmark): surrogate generation, the MHD
solver's zone-cycles/s, input
pipeline (prepare + make_dataset), classifier training throughput (from disk and from memory),
the PyTorch reference network, inference, and DDIM sampling (50 steps, 64**2 and 128**2). Every
number is a median over repeats; the table names the backend, device and machine. ``--quick`` uses fewer repeats and steps (a smoke run).

The ratio of our classifier training to the PyTorch reference comes from alternating rounds
(one process each per round, 3 rounds, medians; see :func:`training_pair`), both from our
training feed (``make_dataset`` from disk, augmented) and from memory like the reference. It
depends on the CPU's vector extensions, so on a CPU with AVX-512 the pair is measured again
with every kernel library capped at AVX2 (``_report.ISA_CAPS``: oneDNN, XLA, ATen), as on an
AVX2-only CPU such as an AMD EPYC Zen 2/3; the table gives the ratios per kind. ``--isa-caps``
with no value skips that pass.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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


def training_pair(rounds: int, steps: list[str], out: Path, cap: str | None) -> dict:
    """Our classifier training and the PyTorch reference, alternated ``rounds`` times.

    Each round is one process of each (``--repeats 1``), so both sample the machine's states
    alike: PyTorch's speed on the 2-core VM is bimodal per process (about 1,550 or 2,150 img/s
    in one session), which a single process per side turns into a coin toss on the ratio.
    """
    kind = cap or "native"
    runs: dict[str, list[float]] = {"from_disk": [], "in_memory": [], "torch": []}
    for round_ in range(rounds):
        for module, extra in (("benchmarks.train_throughput", ["--classifier-only"]),
                              ("benchmarks.torch_reference", [])):
            result = _run(module, ["--repeats", "1", *steps, *extra],
                          out / f"pair_{kind}_{round_}_{module.split('.')[1]}.json", cap)
            if "error" in result:
                return {"error": f"{module}: {result['error']}"}
            rate = result["images_per_second"]
            if isinstance(rate, dict):
                runs["from_disk"].append(rate["make_dataset_spe8"])
                runs["in_memory"].append(rate["in_memory_spe8"])
            else:
                runs["torch"].append(rate)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    return {"kind": kind, "rounds": rounds, "runs": runs, "images_per_second": medians,
            "line": (f"classifier training, {rounds} alternating rounds, medians: ours "
                     f"{medians['from_disk']:.0f} img/s from disk (make_dataset, augmented), "
                     f"{medians['in_memory']:.0f} from memory; PyTorch reference "
                     f"{medians['torch']:.0f} from memory")}


def training_ratios(pairs: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Ours over PyTorch per kind of kernels: ``from_disk`` (our training feed, shuffled and
    augmented, against PyTorch from memory) and ``in_memory`` (the same feed on both sides).
    A kind whose pair failed has no ratio."""
    ratios = {}
    for kind, pair in pairs.items():
        rates = pair.get("images_per_second")
        if rates and rates.get("torch"):
            ratios[kind] = {feed: rates[feed] / rates["torch"] for feed in ("from_disk",
                                                                            "in_memory")}
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
        "generate": ("benchmarks.generate",
                     repeats + (["--sizes", "64", "--n", "4"] if args.quick else [])),
    }
    results = {}
    for name, (module, extra) in suite.items():
        print(f"running {name} ...", flush=True)
        results[name] = _run(module, extra, out / f"{name}.json")
        print("  " + results[name].get("line", f"error: {results[name].get('error')}"), flush=True)
    pairs = {}
    for cap in [None, *args.isa_caps]:
        kind = cap or "native"
        print(f"running the training pair ({kind} kernels) ...", flush=True)
        pairs[kind] = training_pair(1 if args.quick else 3, steps, out, cap)
        print("  " + pairs[kind].get("line", f"error: {pairs[kind].get('error')}"), flush=True)
        results[f"training_pair_{kind}"] = pairs[kind]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the backend's name only, no banners
    import keras

    summary = {"machine": machine(), "python": platform.python_version(),
               "keras_backend": keras.backend.backend(), "quick": args.quick,
               "results": results}
    ratios = training_ratios(pairs)
    summary["training_ratios"] = ratios
    if "native" in ratios:
        summary["ratio_train_to_torch"] = ratios["native"]["from_disk"]
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
        table += (f"\n\nTraining throughput ratio to the PyTorch reference, same run, "
                  f"alternating: {ratio['from_disk']:.2f} ours from disk (augmented), "
                  f"{ratio['in_memory']:.2f} both from memory, on {where}")
    (out / "suite.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
