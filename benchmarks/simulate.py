"""Benchmark the surrogate simulator: seconds and peak memory for a 5-class run per resolution.

    python -m benchmarks.simulate [--resolutions 64,128] [--snapshots 4] [--repeats 3]

Each repeat runs in a fresh process (so peak RSS belongs to that run alone) and writes its
``.athdf`` files to a temporary folder. Reports medians; writes
``benchmarks/results/simulate.json`` and prints one line per resolution.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile

from ._report import write_result

_CHILD = """
import json, resource, sys, time
from crturb_keras.simulate import SurrogateConfig, simulate
config = SurrogateConfig(resolution={resolution}, snapshots={snapshots}, seed={seed})
start = time.perf_counter()
simulate(config, sys.argv[1], "all")
seconds = time.perf_counter() - start
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "peak_rss_mib": peak_mib}}))
"""


def measure(resolution: int, snapshots: int, seed: int) -> dict:
    """One run of all five classes in a child process: wall seconds and peak RSS (MiB)."""
    with tempfile.TemporaryDirectory() as out:
        code = _CHILD.format(resolution=resolution, snapshots=snapshots, seed=seed)
        done = subprocess.run([sys.executable, "-c", code, out], capture_output=True, text=True,
                              check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simulate", description=__doc__)
    parser.add_argument("--resolutions", default="64,128")
    parser.add_argument("--snapshots", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/simulate.json")
    args = parser.parse_args(argv)
    results = []
    for resolution in (int(r) for r in args.resolutions.split(",")):
        runs = [measure(resolution, args.snapshots, seed) for seed in range(args.repeats)]
        seconds = statistics.median(r["seconds"] for r in runs)
        peak = statistics.median(r["peak_rss_mib"] for r in runs)
        cells = 5 * args.snapshots * resolution ** 3
        results.append({"resolution": resolution, "classes": 5, "snapshots": args.snapshots,
                        "repeats": args.repeats, "median_seconds": seconds,
                        "median_peak_rss_mib": peak, "mcells_per_second": cells / seconds / 1e6,
                        "runs": runs})
        print(f"simulate {resolution}^3 x 5 classes x {args.snapshots} snapshots: "
              f"{seconds:.2f} s median, peak RSS {peak:.0f} MiB, "
              f"{cells / seconds / 1e6:.1f} Mcells/s (n={args.repeats})")
    report = {"benchmark": "simulate", "python": platform.python_version(), "results": results}
    write_result(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
