"""Benchmark a solver campaign two ways: worker processes, or runs batched into ensembles.

    python -m benchmarks.campaign [--compare workers|batch] [--resolution 16]
        [--classes MHD,CR_Advect] [--seeds 2] [--t-start 1] [--outputs 1] [--workers 2]
        [--rounds 2] [--baseline-src PATH]

``--compare workers`` (default): the campaign in one process (one run at a time) against
``--workers`` processes. ``--compare batch``: one run at a time (``batch=1``) against the runs of
one shape advanced together (``batch=0``, the default of ``pipelines.simulate``), one process.
The main job's simulation is ``--compare batch --classes MHD,CR_Advect,CR_Streaming --seeds 3
--t-start 5 --outputs 4``. Each round runs the same campaign (classes x seeds, fresh output
folders) both ways, alternating which goes first, each in its own Python process (compilation
included: a campaign pays it once per process). Reports the median wall seconds of each and
their ratio; writes ``benchmarks/results/campaign.json`` (or ``--out``) and prints one line.
``--baseline-src`` runs the baseline way with the package of another checkout (e.g. ``git
worktree add /tmp/before <commit>``), for before-and-after figures of a change in one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._report import machine, write_result

_CHILD = """
import sys
from crturb_keras.simulate.campaign import mhd_campaign
from crturb_keras.simulate.mhd import MHDConfig
base = MHDConfig(resolution={resolution}, t_start={t_start}, dt_output=0.5, outputs={outputs})
mhd_campaign(base, sys.argv[1], "{classes}", {seeds}, workers={workers}, batch={batch})
"""


def measure(workers: int, batch: int, args: argparse.Namespace, src: Path | None = None
            ) -> float:
    """Wall seconds of one campaign in a fresh process with ``workers`` worker processes and at
    most ``batch`` runs per ensemble, with the package of checkout ``src`` (default: this
    one)."""
    code = _CHILD.format(resolution=args.resolution, t_start=args.t_start, outputs=args.outputs,
                         classes=args.classes, seeds=args.seeds, workers=workers, batch=batch)
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, out], check=True, capture_output=True,
                       cwd=src, env=env)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.campaign", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", choices=("workers", "batch"), default="workers")
    parser.add_argument("--resolution", type=int, default=16)
    parser.add_argument("--classes", default="MHD,CR_Advect")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--t-start", type=float, default=1.0)
    parser.add_argument("--outputs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline-src", type=Path, default=None, metavar="PATH",
                        help="run the baseline with the package of this checkout")
    parser.add_argument("--out", default="benchmarks/results/campaign.json")
    args = parser.parse_args(argv)
    if args.baseline_src is not None and not (args.baseline_src / "crturb_keras").is_dir():
        parser.error(f"--baseline-src {args.baseline_src}: no crturb_keras package there; give "
                     f"a checkout of this repository")
    # Each way: (label, workers, batch); the first is the baseline.
    ways = ([("one process", 1, 1), (f"{args.workers} workers", args.workers, 1)]
            if args.compare == "workers" else
            [("one run at a time", 1, 1), ("ensembles", 1, 0)])
    if args.baseline_src is not None:
        ways[0] = (f"{ways[0][0]} ({args.baseline_src.name})", *ways[0][1:])
    times: dict[str, list[float]] = {label: [] for label, _, _ in ways}
    for round_ in range(args.rounds):
        for label, workers, batch in (ways if round_ % 2 == 0 else ways[::-1]):
            src = args.baseline_src if label == ways[0][0] else None
            times[label].append(measure(workers, batch, args, src))
    (base_label, *_), (new_label, *_) = ways
    base, new = statistics.median(times[base_label]), statistics.median(times[new_label])
    runs = len(args.classes.split(",")) * args.seeds
    t_end = args.t_start + 0.5 * (args.outputs - 1)
    report = {"benchmark": "campaign", "compare": args.compare, "machine": machine(),
              "resolution": args.resolution, "classes": args.classes, "seeds": args.seeds,
              "runs": runs, "t_end": t_end, "outputs": args.outputs, "workers": args.workers,
              "rounds": args.rounds, "seconds": times, "baseline": base_label, "new": new_label,
              "baseline_src": str(args.baseline_src) if args.baseline_src else None,
              "median_seconds_baseline": base, "median_seconds_new": new, "speedup": base / new}
    write_result(args.out, report)
    print(f"campaign {runs} runs at {args.resolution}^3 to t = {t_end:g} on "
          f"{machine()['cpu']}: {base_label} {base:.1f} s, {new_label} {new:.1f} s, "
          f"{base / new:.2f}x (medians of {args.rounds} alternating rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
