"""Benchmark the solver's CPU compiler options: compile seconds and step speed with
``solver.CPU_COMPILER_OPTIONS`` against XLA's defaults.

    python -m benchmarks.compile [--resolutions 16,32,64] [--presets MHD,CR_Streaming]
        [--precision float32] [--steps 20] [--repeats 3] [--rounds 2]

Every measurement runs in a fresh process on all cores (as ``pipelines.simulate`` runs):
``benchmarks.mhd``'s worker, which times the first chunk (compilation and one step) and then the
median of ``--repeats`` chunks of ``--steps`` steps from a random driven state. Each round
measures both ways, alternating which goes first; medians over ``--rounds``. Writes
``benchmarks/results/compile.json`` and prints one line per case, the CPU named.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from ._report import machine, write_result

WAYS = ("tuned", "defaults")


def worker(way: str, preset: str, resolution: int, args: argparse.Namespace) -> dict:
    """``benchmarks.mhd``'s measurement in a fresh process, the loop compiled ``way``."""
    code = ("import sys; from crturb_keras.simulate.mhd import solver; "
            + ("solver._advance_cpu = solver._advance; " if way == "defaults" else "")
            + "from benchmarks.mhd import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run(
        [sys.executable, "-c", code, "--worker", "--resolutions", str(resolution), "--steps",
         str(args.steps), "--min-steps", str(args.steps), "--repeats", str(args.repeats),
         "--precision", args.precision, "--preset", preset],
        env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark worker failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolutions", default="16,32,64")
    parser.add_argument("--presets", default="MHD,CR_Streaming")
    parser.add_argument("--precision", choices=("float32", "float64"), default="float32")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/compile.json")
    args = parser.parse_args(argv)
    cpu = machine()["cpu"]
    cases = []
    for preset in args.presets.split(","):
        for resolution in (int(r) for r in args.resolutions.split(",")):
            runs: dict[str, list[dict]] = {way: [] for way in WAYS}
            for round_ in range(args.rounds):
                for way in WAYS if round_ % 2 == 0 else WAYS[::-1]:
                    runs[way].append(worker(way, preset, resolution, args))
            case = {"preset": preset, "resolution": resolution, "runs": runs}
            for way in WAYS:
                case[f"compile_seconds_{way}"] = statistics.median(
                    r["compile_seconds"] for r in runs[way])
                case[f"zone_cycles_per_second_{way}"] = statistics.median(
                    r["zone_cycles_per_second"] for r in runs[way])
            case["compile_ratio"] = case["compile_seconds_defaults"] / case["compile_seconds_tuned"]
            case["speed_ratio"] = (case["zone_cycles_per_second_tuned"]
                                   / case["zone_cycles_per_second_defaults"])
            cases.append(case)
            print(f"compile {preset} {resolution}^3 ({args.precision}) on {cpu}: compile "
                  f"{case['compile_seconds_tuned']:.2f} s tuned vs "
                  f"{case['compile_seconds_defaults']:.2f} s defaults "
                  f"({case['compile_ratio']:.2f}x faster), steps "
                  f"{case['zone_cycles_per_second_tuned']:.3g} vs "
                  f"{case['zone_cycles_per_second_defaults']:.3g} zone-cycles/s "
                  f"({case['speed_ratio']:.2f}x; medians of {args.rounds} alternating rounds)",
                  flush=True)
    write_result(args.out, {"benchmark": "compile", "precision": args.precision,
                            "rounds": args.rounds, "cases": cases})
    return 0


if __name__ == "__main__":
    sys.exit(main())
