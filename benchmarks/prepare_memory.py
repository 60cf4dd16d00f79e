"""Peak memory and time of ``prepare`` for one large snapshot, extrapolated to 512**3.

    python -m benchmarks.prepare_memory [--resolution 256]

Simulates one ``CR_Advect`` snapshot (rho and Ec are read), then prepares it in a fresh process
with one worker, measuring that process's peak RSS. The cube-sized part of the memory grows as
``N**3``, so the figure for 512**3 is ``baseline + (peak - baseline) * (512 / N)**3``, where the
baseline is the peak RSS of the same process after imports only. Writes
``benchmarks/results/prepare_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from ._report import write_result

_CHILD = """
import json, sys, time
from crturb_keras.data import discover_sources, prepare
from crturb_keras.data import PrepareConfig
def high_water_mib():  # VmHWM belongs to this address space (ru_maxrss survives exec on Linux)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
base = high_water_mib()
start = time.perf_counter()
prepare(discover_sources([sys.argv[1]]), sys.argv[2],
        PrepareConfig(tile=64, kinds=("slice", "projection"), targets=("Ec",)), progress=False,
        workers=1)
seconds = time.perf_counter() - start
peak = high_water_mib()
print(json.dumps({"baseline_mib": base, "peak_mib": peak, "seconds": seconds}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.prepare_memory",
                                     description=__doc__)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--out", default="benchmarks/results/prepare_memory.json")
    args = parser.parse_args(argv)
    from crturb_keras.simulate import SurrogateConfig, simulate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        simulate(SurrogateConfig(resolution=args.resolution, snapshots=1), root / "sim",
                 "CR_Advect")
        done = subprocess.run([sys.executable, "-c", _CHILD, str(root / "sim"),
                               str(root / "prep")], capture_output=True, text=True, check=True)
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    scale = (512 / args.resolution) ** 3
    extrapolated = measured["baseline_mib"] + (measured["peak_mib"] - measured["baseline_mib"]) * scale
    result = {"benchmark": "prepare_memory", "resolution": args.resolution, **measured,
              "extrapolated_peak_mib_512": extrapolated,
              "settings": "1 snapshot, rho + Ec, slices + 8-cell projections, 64 px tiles"}
    write_result(args.out, result)
    print(f"prepare_memory {args.resolution}^3 snapshot: peak RSS {measured['peak_mib']:.0f} MiB "
          f"(imports {measured['baseline_mib']:.0f} MiB) in {measured['seconds']:.1f} s; "
          f"512^3 extrapolated: {extrapolated / 1024:.1f} GiB per worker")
    return 0


if __name__ == "__main__":
    sys.exit(main())
