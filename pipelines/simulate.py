"""Simulate MHD turbulence boxes and write them as Athena++ ``.athdf`` files.

    python -m pipelines.simulate --solver surrogate --out data/surrogate --resolution 64
    python -m pipelines.simulate --solver mhd --out data/mhd --resolution 32 --mach 0.5 --beta 10

``--solver surrogate`` (default) draws the fast Gaussian-field surrogate of the five classes
(``OUT/<class>/cr.out1.<NNNNN>.athdf``). ``--solver mhd`` runs the driven isothermal MHD solver
(VL2 + PLM + HLLD + constrained transport, JAX) into ``OUT/<name>/``: outputs from ``t_start`` on
every ``dt_output``, a history file ``cr.hst`` and ``history.png``; a killed run resumes from its
checkpoint. Both write ``OUT/summary.json`` (configuration and measured statistics) and
``OUT/overview.png``. A re-run with the same flags reuses finished files; different flags on the
same folder are refused. ``--solver mhd --help`` lists the solver's flags.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from crturb_keras._version import __version__
from crturb_keras.io.atomic import atomic_path
from crturb_keras.io.athena import read_athdf
from crturb_keras.plots import plot_surrogate_overview
from crturb_keras.simulate import SurrogateConfig, resolve_classes, simulate
from crturb_keras.simulate.stats import box_statistics, turbulence_statistics

from ._cli import add_config_arguments, config_from_args, run

SOLVERS = ("surrogate", "mhd")
MHD_FIELDS = ["rho", "vel1", "vel2", "vel3", "Bcc1", "Bcc2", "Bcc3"]


def build_parser(solver: str = "surrogate") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.simulate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--solver", choices=SOLVERS, default="surrogate",
                        help="surrogate (fast Gaussian fields) or mhd (the MHD solver)")
    parser.add_argument("--out", default=f"data/{solver}", help="output folder (default: %(default)s)")
    if solver == "mhd":
        from crturb_keras.simulate.mhd import MHDConfig

        parser.add_argument("--name", default="MHD",
                            help="class name: the run's sub-folder (default: %(default)s)")
        add_config_arguments(parser, MHDConfig)
    else:
        parser.add_argument("--classes", default="all",
                            help="'all' or comma-separated class names (default: %(default)s)")
        add_config_arguments(parser, SurrogateConfig)
    return parser


def _write_summary(out_dir: Path, config_json: str, stats: dict, files: dict) -> Path:
    summary = {
        "config": json.loads(config_json),
        "classes": list(files),
        "files": {n: [str(Path(p).relative_to(out_dir)) for p in ps] for n, ps in files.items()},
        "statistics": stats,
        "version": __version__,
    }
    with atomic_path(out_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    return out_dir / "summary.json"


def main_surrogate(args: argparse.Namespace) -> int:
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
    _write_summary(result.out_dir, config.to_json(), stats, result.files)
    plot_surrogate_overview(firsts, result.out_dir / "overview.png")
    print(f"{result.written} file(s) written, {result.reused} reused, in {result.out_dir}")
    print(f"{'class':<18} {'sigma(ln rho)':>13} {'slope':>7} {'corr(lag 1)':>11}")
    for name, s in stats.items():
        lag = f"{s['lag_correlation'][0]:.2f}" if s["lag_correlation"] else "-"
        print(f"{name:<18} {s['sigma_ln_rho']:13.3f} {s['slope']:7.2f} {lag:>11}")
    print(f"summary: {result.out_dir / 'summary.json'}; figure: {result.out_dir / 'overview.png'}")
    return 0


def main_mhd(args: argparse.Namespace) -> int:
    from crturb_keras.simulate.mhd import MHDConfig, simulate_mhd

    config = config_from_args(MHDConfig, args)
    out_dir = Path(args.out)
    with tqdm(total=round(config.t_end, 6), desc=f"mhd {args.name} {config.resolution}^3",
              unit="t", file=sys.stderr, bar_format="{l_bar}{bar}| t={n:.2f}/{total:g} "
              "[{elapsed}<{remaining}{postfix}]") as bar:
        def advance(report) -> None:
            if report.resumed_from is not None:
                bar.write(f"resuming {args.name} from its checkpoint at t = {report.resumed_from:.3f}")
            bar.n = round(min(report.time, config.t_end), 6)
            if report.zone_cycles_per_second:
                bar.set_postfix_str(f"{report.steps} steps, "
                                    f"{report.zone_cycles_per_second:.2e} zone-cycles/s", refresh=False)
            bar.refresh()

        result = simulate_mhd(config, out_dir, args.name, progress=advance)
    snaps = [read_athdf(p, MHD_FIELDS) for p in result.files]
    stats = {args.name: turbulence_statistics(snaps, config.sound_speed)}
    _write_summary(out_dir, config.to_json(), stats, {args.name: result.files})
    plot_surrogate_overview({args.name: snaps[0]}, out_dir / "overview.png")
    if result.reused:
        print(f"{args.name}: reused the finished run in {result.folder}")
    else:
        resumed = (f", resumed from t = {result.resumed_from:.3f}"
                   if result.resumed_from is not None else "")
        print(f"{args.name}: {len(result.files)} output(s) in {result.folder} ({result.steps} steps, "
              f"{result.wall_seconds:.0f} s, {result.zone_cycles_per_second:.3g} zone-cycles/s"
              f"{resumed}; injection rate {result.dedt:.4g})")
    print(f"{'class':<18} {'M_s':>6} {'M_A':>6} {'beta':>6} {'sigma(ln rho)':>13} {'slope':>7} "
          f"{'anisotropy':>10}")
    for name, s in stats.items():
        print(f"{name:<18} {s['mach_sonic']:6.3f} {s['mach_alfven']:6.3f} {s['beta']:6.2f} "
              f"{s['sigma_ln_rho']:13.3f} {s['slope']:7.2f} {s['anisotropy']:10.2f}")
    print(f"history: {result.history}; summary: {out_dir / 'summary.json'}; "
          f"figures: {out_dir / 'overview.png'}, {result.folder / 'history.png'}")
    return 0


def main(args: argparse.Namespace) -> int:
    return main_mhd(args) if args.solver == "mhd" else main_surrogate(args)


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--solver", choices=SOLVERS, default="surrogate")
    known, _ = first.parse_known_args(argv)
    return run(main, build_parser(known.solver), argv)


if __name__ == "__main__":
    sys.exit(cli())
