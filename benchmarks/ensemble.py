"""Benchmark batched ensembles: M runs in one compiled loop against the same M runs one at a time.

    python -m benchmarks.ensemble [--resolutions 16,32] [--members 1,3,9,15]
        [--classes MHD,CR_Streaming] [--time 0.3] [--rounds 3] [--precision float32]

For each class, resolution and member count M, M driving seeds of the class start from one
chunk (to t = 0.05, which compiles both ways and is not timed); then each round advances them
by ``--time`` once one at a time (``Solver.advance``) and once together
(``advance_members``), alternating which goes first. Reports medians of the wall seconds,
the aggregate zone-cycles/s (member steps x N^3 / seconds) and the ratio; writes
``benchmarks/results/ensemble.json`` and prints one line per case, the CPU named.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time

from ._report import machine, write_result


def measure(name: str, resolution: int, members: int, args: argparse.Namespace) -> dict:
    """Median seconds and aggregate zone-cycles/s of ``members`` runs alone and together."""
    import jax

    from crturb_keras.simulate.mhd import MHDConfig, preset_config
    from crturb_keras.simulate.mhd.solver import Solver, advance_members

    base = MHDConfig(resolution=resolution, precision=args.precision)
    solvers = [Solver(dataclasses.replace(preset_config(name, base), seed=k))
               for k in range(members)]
    dedts = [s.config.initial_dedt for s in solvers]
    alone = [s.advance(s.start(), 0.05, d) for s, d in zip(solvers, dedts)]
    together = advance_members(solvers, [s.start() for s in solvers], 0.05, dedts)
    seconds: dict[str, list[float]] = {"alone": [], "together": []}
    steps: dict[str, list[int]] = {"alone": [], "together": []}
    target = 0.05
    for round_ in range(args.rounds):
        target += args.time
        for way in (("alone", "together") if round_ % 2 == 0 else ("together", "alone")):
            before = sum(int(c.steps) for c in (alone if way == "alone" else together))
            start = time.perf_counter()
            if way == "alone":
                alone = [s.advance(c, target, d) for s, c, d in zip(solvers, alone, dedts)]
                jax.block_until_ready(alone)
            else:
                together = advance_members(solvers, together, target, dedts)
                jax.block_until_ready(together)
            seconds[way].append(time.perf_counter() - start)
            steps[way].append(sum(int(c.steps) for c in (alone if way == "alone" else together))
                              - before)
    cells = resolution ** 3
    out = {"class": name, "resolution": resolution, "members": members, "seconds": seconds,
           "steps": steps}
    for way in seconds:
        median = statistics.median(seconds[way])
        out[f"median_seconds_{way}"] = median
        out[f"zone_cycles_per_second_{way}"] = statistics.median(steps[way]) * cells / median
    out["speedup"] = out["median_seconds_alone"] / out["median_seconds_together"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ensemble", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolutions", default="16,32")
    parser.add_argument("--members", default="1,3,9,15")
    parser.add_argument("--classes", default="MHD,CR_Streaming")
    parser.add_argument("--time", type=float, default=0.3, help="simulated time per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--precision", choices=("float32", "float64"), default="float32")
    parser.add_argument("--out", default="benchmarks/results/ensemble.json")
    args = parser.parse_args(argv)
    cases = []
    cpu = machine()["cpu"]
    for name in args.classes.split(","):
        for resolution in (int(r) for r in args.resolutions.split(",")):
            for members in (int(m) for m in args.members.split(",")):
                case = measure(name, resolution, members, args)
                cases.append(case)
                print(f"ensemble {name} {resolution}^3 x{members} ({args.precision}) on {cpu}: "
                      f"alone {case['zone_cycles_per_second_alone']:.3g}, together "
                      f"{case['zone_cycles_per_second_together']:.3g} zone-cycles/s, "
                      f"{case['speedup']:.2f}x (medians of {args.rounds} alternating rounds)",
                      flush=True)
    write_result(args.out, {"benchmark": "ensemble", "precision": args.precision,
                            "time_per_round": args.time, "rounds": args.rounds, "cases": cases})
    return 0


if __name__ == "__main__":
    sys.exit(main())
