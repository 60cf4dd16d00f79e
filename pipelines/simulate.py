"""Write surrogate MHD + cosmic-ray turbulence boxes as Athena++ ``.athdf`` files.

    python -m pipelines.simulate --out data/surrogate --resolution 64 --snapshots 4 \\
        --classes all --seed 0

Outputs ``OUT/<class>/cr.out1.<NNNNN>.athdf``, ``OUT/summary.json`` (configuration and measured
statistics per class) and ``OUT/overview.png`` (a slice and the spectrum of each class). A re-run
with the same flags reuses finished files; different flags on the same folder are refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from tqdm import tqdm

from crturb_keras._version import __version__
from crturb_keras.io.atomic import atomic_path
from crturb_keras.io.athena import read_athdf
from crturb_keras.plots import plot_surrogate_overview
from crturb_keras.simulate import SurrogateConfig, resolve_classes, simulate
from crturb_keras.simulate.stats import box_statistics

from ._cli import add_config_arguments, config_from_args, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.simulate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/surrogate", help="output folder (default: %(default)s)")
    parser.add_argument("--classes", default="all",
                        help="'all' or comma-separated class names (default: %(default)s)")
    add_config_arguments(parser, SurrogateConfig)
    return parser


def main(args: argparse.Namespace) -> int:
    config = config_from_args(SurrogateConfig, args)
    classes = resolve_classes(args.classes)
    total = len(classes) * config.snapshots
    with tqdm(total=total, desc="simulate", unit="snapshot", file=sys.stderr) as bar:
        def advance(name: str, index: int) -> None:
            bar.set_postfix_str(name)
            bar.update(1)

        result = simulate(config, args.out, classes, progress=advance)
    stats = {}
    firsts = {}
    for name, paths in result.files.items():
        snaps = [read_athdf(p, ["rho"]) for p in paths]
        firsts[name] = snaps[0]
        stats[name] = box_statistics(snaps).to_dict()
    summary = {
        "config": json.loads(config.to_json()),
        "classes": classes,
        "files": {n: [str(p.relative_to(result.out_dir)) for p in ps] for n, ps in result.files.items()},
        "statistics": stats,
        "version": __version__,
    }
    with atomic_path(result.out_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    plot_surrogate_overview(firsts, result.out_dir / "overview.png")
    print(f"{result.written} file(s) written, {result.reused} reused, in {result.out_dir}")
    print(f"{'class':<18} {'sigma(ln rho)':>13} {'slope':>7} {'corr(lag 1)':>11}")
    for name, s in stats.items():
        lag = f"{s['lag_correlation'][0]:.2f}" if s["lag_correlation"] else "-"
        print(f"{name:<18} {s['sigma_ln_rho']:13.3f} {s['slope']:7.2f} {lag:>11}")
    print(f"summary: {result.out_dir / 'summary.json'}; figure: {result.out_dir / 'overview.png'}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
