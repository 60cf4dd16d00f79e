"""Benchmark a solver campaign run in one process against worker processes (``--workers``).

    python -m benchmarks.campaign [--resolution 16] [--classes MHD,CR_Advect] [--seeds 2]
        [--t-start 1] [--workers 2] [--rounds 2]

Each round runs the same campaign (classes x seeds, fresh output folders) once with
``workers=1`` and once with ``--workers`` processes, alternating which goes first, each in its
own Python process (compilation included: a campaign pays it once per process). Reports the
median wall seconds of each and their ratio; writes ``benchmarks/results/campaign.json`` and
prints one line.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from ._report import machine, write_result

_CHILD = """
import sys
from crturb_keras.simulate.campaign import mhd_campaign
from crturb_keras.simulate.mhd import MHDConfig
base = MHDConfig(resolution={resolution}, t_start={t_start}, dt_output=0.5, outputs=1)
mhd_campaign(base, sys.argv[1], "{classes}", {seeds}, workers={workers})
"""


def measure(workers: int, args: argparse.Namespace) -> float:
    """Wall seconds of one campaign in a fresh process with ``workers`` worker processes."""
    code = _CHILD.format(resolution=args.resolution, t_start=args.t_start,
                         classes=args.classes, seeds=args.seeds, workers=workers)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, out], check=True, capture_output=True)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.campaign", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=16)
    parser.add_argument("--classes", default="MHD,CR_Advect")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--t-start", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/campaign.json")
    args = parser.parse_args(argv)
    times: dict[int, list[float]] = {1: [], args.workers: []}
    for round_ in range(args.rounds):
        order = (1, args.workers) if round_ % 2 == 0 else (args.workers, 1)
        for workers in order:
            times[workers].append(measure(workers, args))
    one, many = statistics.median(times[1]), statistics.median(times[args.workers])
    runs = len(args.classes.split(",")) * args.seeds
    report = {"benchmark": "campaign", "machine": machine(), "resolution": args.resolution,
              "classes": args.classes, "seeds": args.seeds, "runs": runs,
              "t_end": args.t_start, "workers": args.workers, "rounds": args.rounds,
              "seconds": {str(k): v for k, v in times.items()},
              "median_seconds_one_process": one,
              "median_seconds_workers": many, "speedup": one / many}
    write_result(args.out, report)
    print(f"campaign {runs} runs at {args.resolution}^3 to t = {args.t_start:g} on "
          f"{machine()['cpu']}: one process {one:.1f} s, {args.workers} workers {many:.1f} s, "
          f"{one / many:.2f}x (medians of {args.rounds} alternating rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
