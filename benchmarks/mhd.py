"""Speed of the MHD solver: zone-cycles per second (cells x steps / wall second) and peak memory.

    python -m benchmarks.mhd [--resolutions 32,64,128] [--steps 20] [--min-steps 2] [--repeats 3]
                             [--precision float32] [--preset MHD] [--out benchmarks/results/mhd.json]

Each resolution runs driven turbulence (HLLD, VL2 + CT, Ornstein-Uhlenbeck driving) from a
random state; the first chunk (compilation) is timed separately, then ``--repeats`` chunks of
``--steps`` steps; the median is reported. Peak memory is the process's peak RSS on a CPU and
JAX's ``peak_bytes_in_use`` on a GPU. Reference (issue 12): Athena++ on one core of this kind of
machine does about 5.5e5 zone-cycles/s for isothermal MHD at 32^3, and its two-moment CR build
about 3.8e5 (issue 13): ``--preset CR_Diff_Fiducial`` measures the coupled MHD + CR step.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

import jax

from benchmarks._report import describe, write_result
from crturb_keras.simulate.mhd import MHDConfig, Solver
from crturb_keras.simulate.mhd.presets import PRESET_CLASSES, preset_config
from crturb_keras.simulate.mhd.problems import random_state


def _peak_memory_mib() -> float:
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(resolution: int, steps: int, repeats: int, precision: str, riemann: str,
            preset: str = "MHD") -> dict:
    """Compile time, median zone-cycles/s over ``repeats`` chunks, peak memory."""
    solver = Solver(preset_config(preset, MHDConfig(resolution=resolution, precision=precision,
                                                    riemann=riemann)))
    carry = solver.start(random_state(resolution))
    started = time.perf_counter()
    carry = solver.advance(carry, 1e9, dedt=0.1, max_steps=1)
    jax.block_until_ready(carry.state.rho)
    compile_seconds = time.perf_counter() - started
    rates = []
    for _ in range(repeats):
        first = int(carry.steps)
        started = time.perf_counter()
        carry = solver.advance(carry, 1e9, dedt=0.1, max_steps=steps)
        done = int(carry.steps) - first
        rates.append(done * resolution ** 3 / (time.perf_counter() - started))
    return {"resolution": resolution, "steps": steps, "repeats": repeats,
            "compile_seconds": compile_seconds, "zone_cycles_per_second": statistics.median(rates),
            "all_rates": rates, "peak_memory_mib": _peak_memory_mib()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mhd", description=__doc__)
    parser.add_argument("--resolutions", default="32,64,128")
    parser.add_argument("--steps", type=int, default=20,
                        help="steps per timed chunk at 32^3, scaled by (32/N)^3 (same work per chunk)")
    parser.add_argument("--min-steps", type=int, default=2, help="at least this many steps per chunk")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--riemann", default="hlld")
    parser.add_argument("--preset", default="MHD", choices=PRESET_CLASSES,
                        help="class preset (CR classes run the coupled MHD + cosmic-ray step)")
    parser.add_argument("--out", default="benchmarks/results/mhd.json")
    args = parser.parse_args(argv)
    device = jax.devices()[0]
    results = []
    for n in (int(v) for v in args.resolutions.split(",")):
        steps = max(args.min_steps, round(args.steps * (32 / n) ** 3))
        results.append(measure(n, steps, args.repeats, args.precision, args.riemann, args.preset))
        r = results[-1]
        print(f"{n}^3: {r['zone_cycles_per_second']:.3g} zone-cycles/s, compile "
              f"{r['compile_seconds']:.1f} s, peak {r['peak_memory_mib']:.0f} MiB", flush=True)
    summary = {"device": f"{device.platform}: {device.device_kind}", "devices": len(jax.devices()),
               "processor": describe(),
               "jax": jax.__version__, "precision": args.precision, "riemann": args.riemann,
               "preset": args.preset, "results": results}
    write_result(args.out, summary)
    print(f"mhd ({args.preset}): " + ", ".join(f"{r['resolution']}^3 {r['zone_cycles_per_second']:.3g}"
                              for r in results)
          + f" zone-cycles/s on {summary['device']} ({summary['processor']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
