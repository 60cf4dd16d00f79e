"""Simulate MHD + cosmic-ray turbulence boxes of the five transport classes as Athena++ ``.athdf``.

    python -m pipelines.simulate --out data/mhd --resolution 32
    python -m pipelines.simulate --classes MHD,CR_Streaming --beta 1 --vmax 20
    python -m pipelines.simulate --solver surrogate --out data/surrogate --resolution 64
    python -m pipelines.simulate --athinput athinput.turb --out runs/turb

``--athinput FILE`` runs the driven-turbulence problem an Athena++ input file describes (mesh,
EOS, ``<turbulence>``, ``<problem>``, ``<cr>``, output dt, tlim; see
``crturb_keras.simulate.mhd.athinput``) and writes its outputs into OUT with Athena++'s names and
units; only ``--precision`` and ``--checkpoint-interval`` may be given with it.

``--solver mhd`` (default) runs the driven isothermal MHD solver with two-moment cosmic rays
(VL2 + PLM + HLLD + constrained transport; Jiang & Oh 2018 CR transport; JAX) once per class
into ``OUT/<class>/``: outputs from ``t_start`` on every ``dt_output``, a history file ``cr.hst``
and ``history.png``; a killed run resumes from its checkpoint. Each class is a preset of the CR
flags (``--cr-pressure-ratio``, ``--kappa-par``, ``--streaming``); giving one of those flags
overrides it for every class. ``--solver surrogate`` draws the fast Gaussian-field surrogate
(a test fixture, not physics). Both write ``OUT/summary.json`` (configuration and measured
statistics) and ``OUT/overview.png``. A re-run with the same flags reuses finished files;
different flags on the same folder are refused. ``--solver surrogate --help`` lists the
surrogate's flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from crturb_keras._version import __version__
from crturb_keras.errors import ConfigError
from crturb_keras.io.athena import read_athdf
from crturb_keras.io.atomic import atomic_path
from crturb_keras.plots import plot_surrogate_overview
from crturb_keras.simulate import SurrogateConfig, resolve_classes, simulate
from crturb_keras.simulate.stats import box_statistics, turbulence_statistics

from ._cli import _boolean, add_config_arguments, config_from_args, run

SOLVERS = ("mhd", "surrogate")
MHD_FIELDS = ["rho", "vel1", "vel2", "vel3", "Bcc1", "Bcc2", "Bcc3"]
#: Solver flags that each class preset sets unless given explicitly.
PRESET_FLAGS = ("cr_pressure_ratio", "kappa_par", "streaming")


def build_parser(solver: str = "mhd") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.simulate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--solver", choices=SOLVERS, default="mhd",
                        help="mhd (the MHD + cosmic-ray solver, default) or surrogate (fast "
                             "Gaussian fields, a test fixture)")
    parser.add_argument("--out", default=f"data/{solver}", help="output folder (default: %(default)s)")
    parser.add_argument("--classes", default="all",
                        help="'all' or comma-separated class names (default: %(default)s)")
    if solver == "mhd":
        from crturb_keras.simulate.mhd import MHDConfig

        add_config_arguments(parser, MHDConfig, skip=PRESET_FLAGS)
        parser.add_argument("--seeds", type=int, default=1,
                            help="independent runs per class with seeds seed, seed+1, ... "
                                 "(in OUT/<class>/seed<k>/ when more than one; prepare "
                                 "--split-by realization then splits by run) "
                                 "(default: %(default)s)")
        parser.add_argument("--cr-pressure-ratio", type=float, default=None,
                            help="initial P_c / P_g (default: the class preset, 0 or 1)")
        parser.add_argument("--kappa-par", type=float, default=None,
                            help="CR diffusivity along B in L c_s (default: the class preset)")
        parser.add_argument("--streaming", type=_boolean, default=None,
                            help="CR streaming true/false (default: the class preset)")
        parser.add_argument("--athinput", default=None, metavar="FILE",
                            help="run an Athena++ input file instead of the class presets")
    else:
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


def _run_class(config, out_dir: Path, name: str, run: str):
    from crturb_keras.simulate.mhd import simulate_mhd

    with tqdm(total=round(config.t_end, 6), desc=f"{name} {config.resolution}^3",
              unit="t", file=sys.stderr, bar_format="{l_bar}{bar}| t={n:.2f}/{total:g} "
              "[{elapsed}<{remaining}{postfix}]") as bar:
        def advance(report) -> None:
            if report.resumed_from is not None:
                bar.write(f"resuming {name} from its checkpoint at t = {report.resumed_from:.3f}")
            bar.n = round(min(report.time, config.t_end), 6)
            if report.zone_cycles_per_second:
                bar.set_postfix_str(f"{report.steps} steps, "
                                    f"{report.zone_cycles_per_second:.2e} zone-cycles/s", refresh=False)
            bar.refresh()

        return simulate_mhd(config, out_dir, name, progress=advance, run=run)


#: MHDConfig fields that may be given together with --athinput.
ATHINPUT_FLAGS = ("precision", "checkpoint_interval")


def main_athinput(args: argparse.Namespace) -> int:
    from crturb_keras.simulate.mhd import MHDConfig
    from crturb_keras.simulate.mhd.athinput import athinput_run, simulate_athinput

    defaults = build_parser("mhd").parse_args([])
    clashing = [name for name in vars(defaults) if name not in ATHINPUT_FLAGS + (
        "athinput", "out", "solver", "verbose", "quiet", "debug")
        and getattr(args, name) != getattr(defaults, name)]
    if clashing:
        flags = ", ".join("--" + n.replace("_", "-") for n in clashing)
        raise ConfigError(f"{args.athinput}: the input file sets the run; drop {flags}")
    overrides = {k: getattr(args, k) for k in ATHINPUT_FLAGS
                 if getattr(args, k) != getattr(MHDConfig(), k)}
    total = athinput_run(args.athinput, **overrides).config.t_end
    with tqdm(total=round(total, 6), desc=Path(args.athinput).name, unit="t", file=sys.stderr,
              bar_format="{l_bar}{bar}| t={n:.2f}/{total:g} L/c_s [{elapsed}<{remaining}]") as bar:
        def advance(report) -> None:
            bar.n = round(min(report.time, total), 6)
            bar.refresh()

        run, result = simulate_athinput(args.athinput, args.out, progress=advance, **overrides)
    verb = "reused" if result.reused else "wrote"
    print(f"{run.name}: {verb} {len(result.files)} output(s) in {result.folder} "
          f"({result.files[0].name} .. {result.files[-1].name}; units of {run.source.name}: "
          f"L = {run.units.length:g}, c_s = {run.units.velocity:g}, rho0 = {run.units.density:g})")
    if not result.reused:
        print(f"{result.steps} steps, {result.wall_seconds:.0f} s, "
              f"{result.zone_cycles_per_second:.3g} zone-cycles/s")
    return 0


def main_mhd(args: argparse.Namespace) -> int:
    from crturb_keras.simulate.mhd import MHDConfig
    from crturb_keras.simulate.mhd.presets import preset_config, resolve_preset_classes

    if args.athinput:
        return main_athinput(args)
    explicit = {k: getattr(args, k) for k in PRESET_FLAGS if getattr(args, k) is not None}
    base = config_from_args(MHDConfig, args, **{k: getattr(MHDConfig(), k) for k in PRESET_FLAGS})
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
    classes = resolve_preset_classes(args.classes)
    configs = {name: preset_config(name, base, **explicit) for name in classes}
    out_dir = Path(args.out)
    files, stats, firsts = {}, {}, {}
    for name, config in configs.items():
        snaps, signal = [], 0.0
        for k in range(args.seeds):
            run = dataclasses.replace(config, seed=config.seed + k)
            result = _run_class(run, out_dir, name, f"seed{run.seed}" if args.seeds > 1 else "")
            label = f"{name} (seed {run.seed})"
            if result.reused:
                print(f"{label}: reused the finished run in {result.folder}")
            else:
                resumed = (f", resumed from t = {result.resumed_from:.3f}"
                           if result.resumed_from is not None else "")
                print(f"{label}: {len(result.files)} output(s) in {result.folder} "
                      f"({result.steps} steps, {result.wall_seconds:.0f} s, "
                      f"{result.zone_cycles_per_second:.3g} zone-cycles/s{resumed}; injection "
                      f"rate {result.dedt:.4g})")
            fields = MHD_FIELDS + (["Ec"] if config.cosmic_rays else [])
            snaps += [read_athdf(p, fields) for p in result.files]
            files.setdefault(name, []).extend(result.files)
            signal = max(signal, result.max_signal_speed)
        stats[name] = turbulence_statistics(snaps, config.sound_speed)
        stats[name]["max_signal_over_vmax"] = signal / config.vmax
        firsts[name] = snaps[0]
    summary = {"base": json.loads(base.to_json()), "explicit": explicit, "seeds": args.seeds,
               "classes": {n: json.loads(c.to_json()) for n, c in configs.items()}}
    _write_summary(out_dir, json.dumps(summary), stats, files)
    plot_surrogate_overview(firsts, out_dir / "overview.png")
    print(f"{'class':<18} {'M_s':>6} {'M_A':>6} {'beta':>6} {'sigma(ln rho)':>13} {'slope':>7} "
          f"{'anisotropy':>10} {'P_c/P_g':>8}")
    for name, s in stats.items():
        print(f"{name:<18} {s['mach_sonic']:6.3f} {s['mach_alfven']:6.3f} {s['beta']:6.2f} "
              f"{s['sigma_ln_rho']:13.3f} {s['slope']:7.2f} {s['anisotropy']:10.2f} "
              f"{s['pc_over_pg']:8.3f}")
    cr_runs = [n for n, c in configs.items() if c.cosmic_rays]
    if cr_runs:
        worst = max(stats[n]["max_signal_over_vmax"] for n in cr_runs)
        print(f"fastest signal speed / vmax over the CR runs: {worst:.2f} (must stay below 1)")
    print(f"summary: {out_dir / 'summary.json'}; figures: {out_dir / 'overview.png'} and "
          f"OUT/<class>/history.png")
    return 0


def main(args: argparse.Namespace) -> int:
    return main_mhd(args) if args.solver == "mhd" else main_surrogate(args)


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--solver", choices=SOLVERS, default="mhd")
    known, _ = first.parse_known_args(argv)
    return run(main, build_parser(known.solver), argv)


if __name__ == "__main__":
    sys.exit(cli())
