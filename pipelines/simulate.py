"""Simulate MHD + cosmic-ray turbulence boxes of the five transport classes as Athena++ ``.athdf``.

    python -m pipelines.simulate --out data/mhd --resolution 32
    python -m pipelines.simulate --preset science-32 --out data/science32
    python -m pipelines.simulate --classes MHD,CR_Streaming --beta 1 --vmax 20
    python -m pipelines.simulate --solver surrogate --out data/surrogate --resolution 64
    python -m pipelines.simulate --athinput athinput.turb --out runs/turb
    python -m pipelines.simulate --devices 0 --processes 2 --process-id K --coordinator H:P

``--solver mhd`` (default): the MHD + two-moment CR solver, once per class preset (and seed)
into ``OUT/<class>/[seed<k>/]``: outputs, ``cr.hst``, ``history.png``; killed runs resume.
``--cr-pressure-ratio``, ``--kappa-par``, ``--streaming`` override every class's preset.
``--preset NAME`` gives a named dataset's defaults (``campaign.DATASETS``; explicit flags win).
``--athinput FILE`` runs an Athena++ input file into OUT in its names and units (only
``--precision`` and ``--checkpoint-interval`` may go with it). ``--solver surrogate``: the
Gaussian-field test fixture (``--solver surrogate --help`` lists its flags). Both write
``OUT/summary.json`` and ``OUT/overview.png``; a re-run reuses finished files and refuses
different flags on the same folder. Library: ``crturb_keras.simulate.campaign``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from crturb_keras.errors import ConfigError
from crturb_keras.progress import progress_bar
from crturb_keras.simulate import SurrogateConfig
from crturb_keras.simulate.campaign import (
    DATASETS,
    PRESET_FLAGS,
    mhd_campaign,
    surrogate_campaign,
    time_bar,
)

from ._cli import _boolean, add_config_arguments, config_from_args, run

SOLVERS = ("mhd", "surrogate")


def build_parser(solver: str = "mhd") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.simulate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--solver", choices=SOLVERS, default="mhd",
                        help="mhd (default) or surrogate (a test fixture)")
    parser.add_argument("--out", default=f"data/{solver}", help="output folder (default: %(default)s)")
    parser.add_argument("--classes", default="all",
                        help="'all' or comma-separated class names (default: %(default)s)")
    if solver == "surrogate":
        add_config_arguments(parser, SurrogateConfig)
        return parser
    from crturb_keras.simulate.mhd import MHDConfig

    add_config_arguments(parser, MHDConfig, skip=PRESET_FLAGS)
    parser.add_argument("--seeds", type=int, default=1, help="runs per class, seeds seed, "
                        "seed+1, ... in OUT/<class>/seed<k>/ (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes running independent runs side by side, cores shared "
                             "out (0: one per CPU core on the CPU, 1 on a GPU; same outputs as "
                             "one process). On 2 cores at 16^3 one process already uses both "
                             "and 2 workers took 1.55x as long (benchmarks.campaign) "
                             "(default: %(default)s)")
    parser.add_argument("--batch", type=int, default=0,
                        help="most runs advanced together in one compiled loop (runs of the "
                             "same resolution, numerics, CR on/off and output times; each its "
                             "own time step and files, bit for bit the run alone's); 0: all "
                             "such runs on a GPU, and on the CPU up to 16^3 (1.1-1.2x there; "
                             "0.7-0.8x at 32^3), 1: one at a time (default: %(default)s)")
    parser.add_argument("--devices", type=int, default=1,
                        help="split each run's grid along x3 over this many devices (GPUs; on "
                             "a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes "
                             "virtual ones; 0: all, of every process with --processes); the "
                             "same outputs to round-off (default: %(default)s)")
    parser.add_argument("--processes", type=int, default=None,
                        help="multi-host: how many processes share each run's grid (the same "
                             "command on every host, each with its --process-id; detected "
                             "under SLURM / Open MPI); only process 0 writes")
    parser.add_argument("--process-id", type=int, default=None,
                        help="multi-host: this process's index, 0 .. --processes - 1")
    parser.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                        help="multi-host: address of process 0 (default: "
                             "JAX_COORDINATOR_ADDRESS or the cluster's)")
    for flag, parse, text in (("cr-pressure-ratio", float, "initial P_c / P_g"),
                              ("kappa-par", float, "CR diffusivity along B in L c_s"),
                              ("streaming", _boolean, "CR streaming true/false")):
        parser.add_argument(f"--{flag}", type=parse, default=None,
                            help=f"{text} (default: the class preset)")
    parser.add_argument("--athinput", default=None, metavar="FILE",
                        help="run an Athena++ input file instead of the class presets")
    parser.add_argument("--preset", choices=sorted(DATASETS), default=None,
                        help="a named dataset: its resolution, classes, seeds and outputs as "
                             "defaults (explicit flags win): "
                             + "; ".join(f"{name}: " + ", ".join(f"{k}={v}" for k, v in d.items())
                                         for name, d in DATASETS.items()))
    return parser


def dataset_parser(argv: Sequence[str] | None) -> argparse.ArgumentParser:
    """The solver's parser with the defaults of ``--preset NAME`` when ``argv`` names one."""
    parser = build_parser("mhd")
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--preset", choices=sorted(DATASETS), default=None)
    known, _ = first.parse_known_args(argv)
    if known.preset:
        parser.set_defaults(**DATASETS[known.preset])
    return parser


def main_athinput(args: argparse.Namespace) -> int:
    from crturb_keras.simulate.mhd import athinput as inputs

    ignored = ("athinput", "out", "solver", "verbose", "quiet", "debug", "workers", "preset",
               "devices", "batch", "processes", "process_id", "coordinator")
    defaults = {k: v for k, v in vars(build_parser().parse_args([])).items() if k not in ignored}
    overrides = inputs.athinput_overrides(args.athinput, vars(args), defaults)
    planned = inputs.athinput_run(args.athinput, **overrides)
    with time_bar(Path(args.athinput).name, planned.config.t_end) as advance:
        done, result = inputs.simulate_athinput(planned, args.out, progress=advance)
    print("\n".join(inputs.athinput_lines(done, result)))
    return 0


def _multihost(args: argparse.Namespace) -> bool:
    """Whether any multi-host flag was given."""
    return bool(args.processes or args.coordinator or args.process_id is not None)


def main_mhd(args: argparse.Namespace) -> int:
    from crturb_keras.simulate.mhd import MHDConfig

    if args.athinput:
        if args.preset:
            raise ConfigError("--preset names a dataset of the class presets; an --athinput "
                              "file sets its own inputs: give one of the two")
        if _multihost(args):
            raise ConfigError("--athinput runs on one process; drop --processes, "
                              "--process-id and --coordinator")
        return main_athinput(args)
    writer = True
    if _multihost(args):
        from crturb_keras.simulate.mhd.hosts import is_writer, join_hosts

        count = join_hosts(args.coordinator, args.processes, args.process_id)
        writer = is_writer()
        if writer:
            print(f"joined {count} processes; only this one (process 0) writes")
    explicit = {k: getattr(args, k) for k in PRESET_FLAGS if getattr(args, k) is not None}
    base = config_from_args(MHDConfig, args, **{k: getattr(MHDConfig(), k) for k in PRESET_FLAGS})
    done = mhd_campaign(base, args.out, args.classes, args.seeds, explicit, report=print,
                        progress=True, workers=args.workers, devices=args.devices,
                        batch=args.batch)
    if not writer:
        return 0
    print("\n".join(done.table()))
    print(f"summary: {done.summary}; figures: {done.overview} and OUT/<class>/history.png")
    return 0


def main_surrogate(args: argparse.Namespace) -> int:
    with progress_bar(desc="simulate", unit="snapshot") as bar:
        done = surrogate_campaign(config_from_args(SurrogateConfig, args), args.out, args.classes,
                                  progress=lambda name, index: bar.update(1))
    print("\n".join([f"{done.written} file(s) written, {done.reused} reused, in {done.out_dir}"]
                    + done.table() + [f"summary: {done.summary}; figure: {done.overview}"]))
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--solver", choices=SOLVERS, default="mhd")
    known, _ = first.parse_known_args(argv)
    if known.solver == "surrogate":
        return run(main_surrogate, build_parser("surrogate"), argv)
    return run(main_mhd, dataset_parser(argv), argv)


if __name__ == "__main__":
    sys.exit(cli())
