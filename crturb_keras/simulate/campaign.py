"""A simulation campaign: every class (and seed) of one configuration, measured and summarised.

This is what ``python -m pipelines.simulate`` runs. Both simulators write their runs under
``out_dir``, then ``out_dir/summary.json`` (configuration, files relative to ``out_dir``, the
measured statistics of each class, package version) and ``out_dir/overview.png`` (the first
output of each class).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .._version import __version__
from ..errors import ConfigError
from ..io.athena import read_athdf
from ..io.atomic import atomic_path
from ..plots import plot_surrogate_overview
from ..progress import progress_bar
from .pool import run_runs, run_workers
from .stats import box_statistics, turbulence_statistics
from .surrogate import SurrogateConfig, resolve_classes, simulate

#: Fields read back from the solver's outputs to measure them (plus ``Ec`` with cosmic rays).
MHD_FIELDS = ("rho", "vel1", "vel2", "vel3", "Bcc1", "Bcc2", "Bcc3")
#: Solver settings that each class preset sets unless the caller gives them explicitly.
PRESET_FLAGS = ("cr_pressure_ratio", "kappa_par", "streaming")
#: Named datasets (``pipelines.simulate --preset NAME``): the defaults they give the campaign's
#: flags (explicit flags still win). ``science-32``: the five classes at 32^3, five driving seeds
#: each (three train, one validates, one tests under ``prepare --split-by realization``; five
#: folds of the runs), six outputs from t = 5 every 0.5 L / c_s, nothing else changed (vmax,
#: warm-up and physics as every class preset).
DATASETS: dict[str, dict] = {
    "science-32": {"resolution": 32, "classes": "all", "seeds": 5, "t_start": 5.0,
                   "dt_output": 0.5, "outputs": 6},
}


@dataclass
class Campaign:
    """What a campaign made.

    Attributes
    ----------
    out_dir : Path
        Root folder of the runs.
    statistics : dict
        Per class: the measured statistics (``turbulence_statistics`` for the solver, with
        ``max_signal_over_vmax``; ``box_statistics`` for the surrogate).
    files : dict
        Per class: its output files, seeds in order.
    summary, overview : Path
        ``summary.json`` and ``overview.png``.
    configs : dict
        Solver only: per class, its configuration (seed of its first run).
    written, reused : int
        Surrogate only: files written and reused.
    """

    out_dir: Path
    statistics: dict[str, dict]
    files: dict[str, list[Path]]
    summary: Path
    overview: Path
    configs: dict = dataclasses.field(default_factory=dict)
    written: int = 0
    reused: int = 0

    def table(self) -> list[str]:
        """The statistics as a fixed-width table, one line per class (plus, for the solver's CR
        runs, the fastest signal speed over ``vmax``)."""
        if not self.configs:
            lines = [f"{'class':<18} {'sigma(ln rho)':>13} {'slope':>7} {'corr(lag 1)':>11}"]
            for name, s in self.statistics.items():
                lag = f"{s['lag_correlation'][0]:.2f}" if s["lag_correlation"] else "-"
                lines.append(f"{name:<18} {s['sigma_ln_rho']:13.3f} {s['slope']:7.2f} {lag:>11}")
            return lines
        lines = [f"{'class':<18} {'M_s':>6} {'M_A':>6} {'beta':>6} {'sigma(ln rho)':>13} "
                 f"{'slope':>7} {'anisotropy':>10} {'P_c/P_g':>8}"]
        for name, s in self.statistics.items():
            lines.append(f"{name:<18} {s['mach_sonic']:6.3f} {s['mach_alfven']:6.3f} "
                         f"{s['beta']:6.2f} {s['sigma_ln_rho']:13.3f} {s['slope']:7.2f} "
                         f"{s['anisotropy']:10.2f} {s['pc_over_pg']:8.3f}")
        signals = [self.statistics[n]["max_signal_over_vmax"]
                   for n, c in self.configs.items() if c.cosmic_rays]
        if signals:
            lines.append(f"fastest signal speed / vmax over the CR runs: {max(signals):.2f} "
                         f"(must stay below 1)")
        return lines


#: Largest box (cells) the CPU advances in ensembles by default. Measured on a 2-core Intel Xeon
#: (``benchmarks.ensemble``, 3 alternating rounds): 3-15 members of 16^3 ran 1.13-1.21x faster
#: together than one at a time, members of 32^3 0.70-0.79x (a batch's fields no longer fit the
#: cache). Accelerators batch every run of one shape.
CPU_BATCH_CELLS = 16 ** 3


def ensembles(jobs: Sequence[tuple], batch: int = 0, platform: str | None = None
              ) -> list[list[int]]:
    """Indices of ``(name, config, run)`` jobs grouped into ensembles: runs of equal
    :func:`~crturb_keras.simulate.mhd.run.ensemble_key` in job order, at most ``batch`` per
    ensemble.

    ``batch = 0`` chooses by ``platform`` (default: JAX's backend): no limit on an accelerator,
    or on the CPU for boxes of at most :data:`CPU_BATCH_CELLS` cells; one run at a time for
    larger boxes on the CPU.
    """
    from .mhd.run import ensemble_key

    groups: dict[tuple, list[int]] = {}
    for index, (_, config, _) in enumerate(jobs):
        groups.setdefault(ensemble_key(config), []).append(index)
    if not batch:
        import jax

        platform = platform or jax.default_backend()
    out = []
    for indices in groups.values():
        size = batch
        if not size:
            cells = jobs[indices[0]][1].resolution ** 3
            size = len(indices) if platform != "cpu" or cells <= CPU_BATCH_CELLS else 1
        out.extend(indices[k:k + size] for k in range(0, len(indices), size))
    return out


@contextlib.contextmanager
def time_bar(label: str, t_end: float) -> Iterator[Callable]:
    """A tqdm bar over simulated time (on stderr; ``TQDM_DISABLE=1`` hides it), yielding the
    ``progress`` callback :func:`~crturb_keras.simulate.mhd.simulate_mhd` takes."""
    shape = "{l_bar}{bar}| t={n:.2f}/{total:g} [{elapsed}<{remaining}{postfix}]"
    with progress_bar(total=round(t_end, 6), desc=label, unit="t", bar_format=shape) as bar:
        def advance(report) -> None:
            if report.resumed_from is not None:
                bar.write(f"resuming {label} from its checkpoint at t = {report.resumed_from:.3f}")
            bar.n = round(min(report.time, t_end), 6)
            if report.zone_cycles_per_second:
                bar.set_postfix_str(f"{report.steps} steps, "
                                    f"{report.zone_cycles_per_second:.2e} zone-cycles/s", refresh=False)
            bar.refresh()

        yield advance


def run_line(label: str, result) -> str:
    """One line saying what a solver run did (reused, or steps, time, speed, injection rate)."""
    if result.reused:
        return f"{label}: reused the finished run in {result.folder}"
    resumed = (f", resumed from t = {result.resumed_from:.3f}"
               if result.resumed_from is not None else "")
    together = (f" for the ensemble of {result.members}"
                if result.members > 1 else "")
    return (f"{label}: {len(result.files)} output(s) in {result.folder} ({result.steps} steps; "
            f"{result.wall_seconds:.0f} s, {result.zone_cycles_per_second:.3g} zone-cycles/s"
            f"{together}{resumed}; injection rate {result.dedt:.4g})")


def write_summary(out_dir: Path, config: dict, statistics: dict, files: dict) -> Path:
    """Write ``out_dir/summary.json`` atomically and return its path."""
    summary = {
        "config": config,
        "classes": list(files),
        "files": {n: [str(Path(p).relative_to(out_dir)) for p in ps] for n, ps in files.items()},
        "statistics": statistics,
        "version": __version__,
    }
    with atomic_path(out_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    return out_dir / "summary.json"


def surrogate_campaign(config: SurrogateConfig, out_dir: str | Path, classes: str = "all",
                       progress: Callable[[str, int], None] | None = None) -> Campaign:
    """Draw every class of the surrogate (``classes``: ``"all"`` or comma-separated names),
    measure each with :func:`box_statistics` and write the summary and overview."""
    result = simulate(config, out_dir, resolve_classes(classes), progress=progress)
    statistics, firsts = {}, {}
    for name, paths in result.files.items():
        snaps = [read_athdf(p, ["rho"]) for p in paths]
        firsts[name] = snaps[0]
        statistics[name] = box_statistics(snaps).to_dict()
    root = Path(result.out_dir)
    summary = write_summary(root, json.loads(config.to_json()), statistics, result.files)
    overview = plot_surrogate_overview(firsts, root / "overview.png")
    return Campaign(root, statistics, result.files, summary, overview, written=result.written,
                    reused=result.reused)


def mhd_campaign(base, out_dir: str | Path, classes: str = "all", seeds: int = 1,
                 explicit: dict | None = None, report: Callable[[str], None] | None = None,
                 progress: bool = False, workers: int = 1, devices: int = 1,
                 batch: int = 0) -> Campaign:
    """Run the solver once per class preset and seed, measure each class over its outputs.

    Parameters
    ----------
    base : MHDConfig
        Shared configuration; each class preset sets :data:`PRESET_FLAGS` on top of it.
    out_dir : path
        Runs go to ``out_dir/<class>/`` (one seed) or ``out_dir/<class>/seed<k>/``.
    classes : str
        ``"all"`` or comma-separated preset names.
    seeds : int
        Independent runs per class, with seeds ``base.seed``, ``base.seed + 1``, ...
    explicit : dict, optional
        :data:`PRESET_FLAGS` values that override every class's preset.
    report : callable, optional
        Called with one line (:func:`run_line`) as each run finishes.
    progress : bool
        Show a :func:`time_bar` per run (one bar over the runs with several workers).
    workers : int
        Processes running independent runs side by side (0: one per CPU core, 1 on a GPU;
        see :mod:`crturb_keras.simulate.pool`); the outputs are those of one process.
    devices : int
        Split each run's grid over this many devices (0: every device, of every process
        after :func:`~crturb_keras.simulate.mhd.hosts.join_hosts`;
        :mod:`crturb_keras.simulate.mhd.sharding`). With several processes only process 0
        reports, writes and measures; the others return a campaign without statistics.
    batch : int
        Most runs advanced together in one compiled loop (:func:`ensembles`; 0: chosen by the
        platform and box size, 1: one at a time). The outputs are the same, bit for bit.
    """
    from .mhd.hosts import is_writer
    from .mhd.presets import preset_config, resolve_preset_classes
    from .mhd.run import RunSpec, simulate_ensemble
    from .mhd.sharding import grid_mesh

    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    if batch < 0:
        raise ConfigError(f"--batch must be >= 0 (0: chosen by platform and size), got {batch}")
    if devices != 1 and workers != 1:
        raise ConfigError(f"--devices {devices} splits one run over the devices; it cannot "
                          f"go with --workers {workers} (runs side by side)")
    grid_mesh(devices, base.resolution)  # a bad device count fails before anything is written
    explicit = dict(explicit or {})
    unknown = set(explicit) - set(PRESET_FLAGS)
    if unknown:
        raise ConfigError(f"not preset settings: {', '.join(sorted(unknown))}")
    root = Path(out_dir)
    configs = {name: preset_config(name, base, **explicit)
               for name in resolve_preset_classes(classes)}
    jobs = [(name, member, f"seed{member.seed}" if seeds > 1 else "")
            for name, config in configs.items()
            for member in (dataclasses.replace(config, seed=config.seed + k) for k in range(seeds))]
    label = lambda job: f"{job[0]} (seed {job[1].seed})"  # noqa: E731
    if not is_writer():
        report, progress = None, False
    count = run_workers(workers, len(jobs))
    if count > 1:
        results = run_runs(jobs, root, count, progress=progress, report=None if not report
                           else lambda i, result: report(run_line(label(jobs[i]), result)))
    else:
        results = [None] * len(jobs)
        for indices in ensembles(jobs, batch):
            specs = [RunSpec(jobs[i][1], jobs[i][0], jobs[i][2]) for i in indices]
            names = sorted({jobs[i][0] for i in indices}, key=list(configs).index)
            text = f"{', '.join(names)} {base.resolution}^3" + (
                f" x{len(indices)}" if len(indices) > 1 else "")
            with (time_bar(text, base.t_end) if progress
                  else contextlib.nullcontext(None)) as advance:
                done = simulate_ensemble(specs, root, progress=advance, devices=devices)
            for i, result in zip(indices, done):
                results[i] = result
                if report:
                    report(run_line(label(jobs[i]), result))
    files = {name: [p for (job_name, _, _), r in zip(jobs, results) if job_name == name
                    for p in r.files] for name in configs}
    if not is_writer():
        return Campaign(root, {}, files, root / "summary.json", root / "overview.png",
                        configs=configs)
    statistics, firsts = {}, {}
    for name, config in configs.items():
        done = [r for (job_name, _, _), r in zip(jobs, results) if job_name == name]
        fields = list(MHD_FIELDS) + (["Ec"] if config.cosmic_rays else [])
        snaps = [read_athdf(p, fields) for p in files[name]]
        statistics[name] = turbulence_statistics(snaps, config.sound_speed)
        statistics[name]["max_signal_over_vmax"] = max(r.max_signal_speed for r in done) \
            / config.vmax
        firsts[name] = snaps[0]
    described = {"base": json.loads(base.to_json()), "explicit": explicit, "seeds": seeds,
                 "classes": {n: json.loads(c.to_json()) for n, c in configs.items()}}
    summary = write_summary(root, described, statistics, files)
    overview = plot_surrogate_overview(firsts, root / "overview.png")
    return Campaign(root, statistics, files, summary, overview, configs=configs)
