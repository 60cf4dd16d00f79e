"""Run the driven MHD solver to Athena++ outputs, with a history file, checkpoints and resume.

A run of one class writes, in ``out_dir/<name>/``:

* ``cr.out1.<NNNNN>.athdf`` -- ``prim`` (rho, vel1..3, and with cosmic rays ``Ec`` and
  ``Fc1..3`` = ``F_c / V_m`` as in Athena++'s CR module) and ``B`` (Bcc1..3) at
  ``t_start + i dt_output``, with the configuration in the file attributes (``MHDConfig``);
* ``cr.hst`` -- Athena++-style history (time, dt, mass, kinetic and magnetic energy, M_s, M_A,
  injection rate, injected energy, CR energy, ``P_c / P_g``, fastest signal speed), one row per
  chunk of ``HISTORY_INTERVAL``;
* ``history.png`` -- the history as a figure;
* ``run.json`` -- the configuration and, once complete, ``"finished": true``;
* ``checkpoint.npz`` -- the whole evolving state (written every ``checkpoint_interval`` wall
  seconds while running, removed at the end; over several processes one
  ``checkpoint.<k>-of-<P>.npz`` each, :mod:`.slabs`). A killed run resumes from it.

A finished run is reused; a folder holding another configuration's run is refused. A CR run
whose fastest signal speed reaches the reduced speed of light ``vmax`` stops with an error.

Energy injection: with ``dedt = 0`` ("auto") the rate starts from the calibrated estimate. During
the warm-up it is reset every ``CONTROL_INTERVAL`` from the energy balance of the last
``CONTROL_WINDOW``: the dissipation rate is ``epsilon = (injected - change of total energy) / time``,
and since turbulent dissipation scales as ``M**3``, ``dedt = epsilon M_target**3 / <M**3>``. The
first window starts at ``CONTROL_START`` (after the spin-up from rest); the last ends one crossing
time ``L / (M c_s)`` before ``t_start``. From then on the rate is fixed, so all outputs come from
turbulence driven at one constant rate, as in Athena++. The total energy is the gas's, so energy
the gas hands to cosmic rays (damping, streaming losses) counts as dissipated: the rate is raised
until the gas reaches the target Mach number whatever drains it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time as wallclock
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import jax
import numpy as np

from ..._version import __version__
from ...checks import safe_name
from ...errors import ConfigError, CrturbError
from ...io.atomic import atomic_path
from ...plots import plot_mhd_history
from ...snapshot import Snapshot
from .config import MHDConfig
from .diagnostics import HISTORY_COLUMNS, write_history
from .hosts import from_writer, is_writer, process_count, slab_bounds
from .outputs import OutputNaming, OutputUnits, output_fields, output_header, output_path
from .sharding import grid_sharding, place_planes
from .slabs import (load_checkpoint, local_cells, measure, remove_checkpoint, save_checkpoint,
                    write_output)
from .solver import Carry, Solver, advance_members, from_numpy

#: Simulated time between history rows (and progress updates).
HISTORY_INTERVAL = 0.05
#: Most steps one chunk may take before the run is declared stuck (a collapsing time step).
MAX_CHUNK_STEPS = 100_000
#: Simulated time between adjustments of an automatic injection rate during the warm-up.
CONTROL_INTERVAL = 0.5
#: Length of the energy-balance window of an automatic injection rate.
CONTROL_WINDOW = 1.0
#: Earliest start of that window: the spin-up from rest (most injected energy still going into
#: the flow rather than into dissipation) is over after about one driving-scale crossing.
CONTROL_START = 1.5


class SimulationError(CrturbError):
    """The solver produced a non-finite state or could not advance."""


@dataclass
class Progress:
    """What the run loop reports after each chunk (of every member of an ensemble: ``steps``
    the most any member has taken, ``chunk_steps`` and ``zone_cycles_per_second`` summed over
    the ``members``)."""

    time: float
    t_end: float
    steps: int
    zone_cycles_per_second: float
    output: int | None = None
    resumed_from: float | None = None
    chunk_steps: int = 0
    chunk_seconds: float = 0.0
    members: int = 1


@dataclass(frozen=True)
class MHDRunResult:
    """Files of one finished run and how it was obtained."""

    folder: Path
    files: list[Path]
    history: Path
    reused: bool
    resumed_from: float | None
    steps: int
    wall_seconds: float
    zone_cycles_per_second: float
    dedt: float
    max_signal_speed: float = 0.0
    members: int = 1


@dataclass
class _Loop:
    """Mutable state of the time loop between chunks: the carry on the devices and what the
    checks and the history read of it on this host (time, steps, injected energy and the box
    means, :func:`~.slabs.measure`; the same on every process)."""

    carry: Carry
    dedt: float
    sound_speed: float
    next_output: int = 0
    history: list[list[float]] = field(default_factory=list)
    time: float = field(init=False)
    steps: int = field(init=False)
    injected: float = field(init=False)
    means: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        self.fetch()

    def fetch(self) -> None:
        """Refresh what the host reads from :attr:`carry` (a collective with several
        processes)."""
        self.time, self.steps, self.injected, self.means = measure(self.carry, self.sound_speed)


def snapshot_of(carry: Carry, config: MHDConfig, name: str, dedt: float,
                units: OutputUnits = OutputUnits()) -> Snapshot:
    """The cell-centred primitive variables of ``carry`` (of a one-process run) as a float32
    Snapshot, in ``units`` (time, coordinates and fields; the default is the solver's own)."""
    _, cells = local_cells(carry)
    header = output_header(float(carry.time), int(carry.steps), config, name, dedt, units)
    return dataclasses.replace(header, fields=output_fields(cells, units))


def _record(loop: _Loop, config: MHDConfig, last_time: float, last_steps: int) -> None:
    means = loop.means
    steps = loop.steps - last_steps
    mean_dt = (loop.time - last_time) / steps if steps else 0.0
    loop.history.append([loop.time, mean_dt] + [means[k] for k in HISTORY_COLUMNS[2:8]]
                        + [loop.dedt, loop.injected]
                        + [means[k] for k in HISTORY_COLUMNS[10:]])


def _control(loop: _Loop, config: MHDConfig) -> None:
    """Reset an automatic injection rate from the energy balance of the last window."""
    columns = {name: i for i, name in enumerate(HISTORY_COLUMNS)}
    rows = np.asarray(loop.history)
    rows = rows[rows[:, columns["time"]] >= rows[-1, columns["time"]] - CONTROL_WINDOW - 1e-9]
    if len(rows) < 2:
        return
    first, last = rows[0], rows[-1]
    span = last[columns["time"]] - first[columns["time"]]
    dissipation = (last[columns["injected_energy"]] - first[columns["injected_energy"]]
                   - (last[columns["total_energy"]] - first[columns["total_energy"]])) / span
    mach_cubed = float(np.mean(rows[:, columns["mach_sonic"]] ** 3))
    if dissipation > 0 and mach_cubed > 0:
        wanted = dissipation * config.mach ** 3 / mach_cubed
        loop.dedt = float(np.clip(wanted, 0.5 * loop.dedt, 2.0 * loop.dedt))


def _check_vmax(signal: float, loop: _Loop, config: MHDConfig, folder_name: str) -> None:
    """Stop a CR run whose fastest signal speed has reached the reduced speed of light."""
    if config.cosmic_rays and signal >= config.vmax:
        raise SimulationError(
            f"{folder_name}: the fastest signal speed {signal:.3g} c_s reached the reduced "
            f"speed of light vmax = {config.vmax:g} near t = {loop.time:.4g}; "
            f"rerun with a larger --vmax")


@dataclass
class _Member:
    """One run of an ensemble: its solver, its loop state and the name its errors carry."""

    solver: Solver
    loop: _Loop
    label: str


def _check_chunk(member: _Member, before: tuple[float, int], target: float) -> None:
    """Refuse a chunk that did not reach ``target`` or left a non-finite state."""
    loop, label = member.loop, member.label
    now, steps = before
    if loop.time < target and np.isfinite(loop.time):
        raise SimulationError(
            f"{label}: the time step collapsed near t = {loop.time:.4g} "
            f"({loop.steps - steps} steps without reaching t = {target:.4g}); lower --cfl "
            f"or the driving")
    if not np.isfinite(loop.time) or not np.isfinite(loop.injected) or not loop.means["finite"]:
        raise SimulationError(
            f"{label}: the solution became non-finite near t = {now:.4g}; lower --cfl "
            f"or the driving (--dedt / --mach), or use --riemann hlle")


def _evolve(members: list[_Member], failures: dict[int, SimulationError]
            ) -> Iterator[tuple[list[int] | None, Progress]]:
    """Advance every member chunk by chunk to the last output in one compiled loop
    (:func:`~.solver.advance_members`), yielding ``(members at the output, Progress)`` at each
    output time and ``(None, Progress)`` after each chunk.

    The members share numerics, output times and their current time. A member that fails
    (non-finite, collapsed time step, ``vmax`` reached) goes into ``failures`` and leaves the
    ensemble; the others go on.
    """
    config = members[0].solver.config
    dtype = members[0].solver.dtype

    def representable(t: float) -> float:
        # Times compared in the state's precision: float32(0.02) < 0.02 must still count as there.
        return float(np.asarray(t, dtype))

    times = [representable(config.t_start + i * config.dt_output) for i in range(config.outputs)]
    cells = config.resolution ** 3
    active = list(range(len(members)))
    for i in active:
        m = members[i]
        if m.solver.config.cosmic_rays:
            try:
                _check_vmax(m.loop.means["max_signal_speed"], m.loop, m.solver.config, m.label)
            except SimulationError as error:
                failures[i] = error
    active = [i for i in active if i not in failures]
    if not active:
        return
    lead = members[active[0]].loop
    next_control = CONTROL_INTERVAL * (math.floor(lead.time / CONTROL_INTERVAL) + 1)
    while active and members[active[0]].loop.next_output < config.outputs:
        lead = members[active[0]].loop
        now = lead.time
        if now >= times[lead.next_output]:
            for i in active:
                members[i].loop.next_output += 1
            yield list(active), Progress(now, config.t_end,
                                         max(members[i].loop.steps for i in active),
                                         0.0, output=lead.next_output - 1, members=len(active))
            continue
        target = min(times[lead.next_output], representable(now + HISTORY_INTERVAL))
        before = {i: (members[i].loop.time, members[i].loop.steps) for i in active}
        started = wallclock.perf_counter()
        carries = advance_members([members[i].solver for i in active],
                                  [members[i].loop.carry for i in active], target,
                                  [members[i].loop.dedt for i in active],
                                  max_steps=MAX_CHUNK_STEPS)
        jax.block_until_ready(carries)
        seconds = wallclock.perf_counter() - started
        for i, carry in zip(active, carries):
            members[i].loop.carry = carry
            members[i].loop.fetch()
        loops = [members[i].loop for i in active]
        done = [loop.steps - before[i][1] for i, loop in zip(active, loops)]
        control = config.dedt == 0 and loops[0].time >= next_control - 1e-12
        if control:
            next_control += CONTROL_INTERVAL
        for i in active:
            m = members[i]
            try:
                _check_chunk(m, before[i], target)
                _record(m.loop, m.solver.config, *before[i])
                _check_vmax(m.loop.history[-1][HISTORY_COLUMNS.index("max_signal_speed")],
                            m.loop, m.solver.config, m.label)
            except SimulationError as error:
                failures[i] = error
                continue
            t = m.loop.time
            if control and CONTROL_START + CONTROL_WINDOW - 1e-9 <= t \
                    <= config.t_start - 1.0 / config.mach + 1e-9:
                _control(m.loop, m.solver.config)
        active = [i for i in active if i not in failures]
        yield None, Progress(loops[0].time, config.t_end, max(loop.steps for loop in loops),
                             sum(done) * cells / seconds if seconds > 0 else 0.0,
                             chunk_steps=sum(done), chunk_seconds=seconds, members=len(loops))


def evolve_snapshots(config: MHDConfig, name: str = "MHD") -> Iterator[Snapshot]:
    """Yield the ``config.outputs`` snapshots of one run in time order, in memory (no files; one
    process).

    Parameters
    ----------
    config : MHDConfig
        Grid, physics, driving and output times.
    name : str
        Class name stored in the snapshots' attributes.
    """
    solver = Solver(config)
    member = _Member(solver, _Loop(solver.start(), config.initial_dedt, config.sound_speed),
                     name)
    failures: dict[int, SimulationError] = {}
    for _, report in _evolve([member], failures):
        if report.output is not None:
            yield snapshot_of(member.loop.carry, config, name, member.loop.dedt)
    if failures:
        raise failures[0]


def _save_checkpoint(folder: Path, loop: _Loop, config: MHDConfig) -> None:
    save_checkpoint(folder, loop.carry, {
        "history": np.asarray(loop.history, np.float64).reshape(-1, len(HISTORY_COLUMNS)),
        "dedt": np.float64(loop.dedt), "next_output": np.int64(loop.next_output),
        "config": np.array(config.physics_json())})


def _load_checkpoint(folder: Path, solver: Solver) -> _Loop | None:
    arrays = load_checkpoint(folder)
    if arrays is None:
        return None
    if str(arrays["config"]) != solver.config.physics_json():
        raise ConfigError(f"{folder}: checkpoint of a different configuration; delete {folder} "
                          f"or choose another output folder")
    grid = None
    if process_count() > 1:
        n = solver.config.resolution
        field = jax.ShapeDtypeStruct((n,) * 3, solver.dtype,
                                     sharding=grid_sharding(3, solver.mesh))
        low, high = slab_bounds(field)[jax.process_index()]
        if int(arrays["x3_start"]) != low or arrays["rho"].shape[0] != high - low:
            raise ConfigError(
                f"{folder}: this process's checkpoint holds x3 planes {int(arrays['x3_start'])}.."
                f"{int(arrays['x3_start']) + arrays['rho'].shape[0] - 1}, its share of the grid is "
                f"{low}..{high - 1}; resume with the devices per process it was written with, "
                f"or delete every checkpoint*.npz there to restart from t = 0")

        def grid(planes):
            return place_planes(planes, solver.mesh, solver.config.resolution)
    carry = solver.place(from_numpy(arrays, solver.dtype, grid))
    return _Loop(carry, float(arrays["dedt"]), solver.config.sound_speed,
                 int(arrays["next_output"]), arrays["history"].tolist())


def _check_folder(folder: Path, config: MHDConfig, naming: OutputNaming) -> bool:
    """True if ``folder`` holds this configuration's finished run; refuse another's."""
    record = folder / "run.json"
    if record.exists():
        try:
            stored = json.loads(record.read_text())
        except (OSError, ValueError) as err:
            raise ConfigError(f"{record}: unreadable ({err}); delete {folder} to rerun") from None
        if stored.get("config") != json.loads(config.physics_json()):
            raise ConfigError(f"{folder}: holds a run with a different configuration; choose "
                              f"another --out or delete {folder}")
        return bool(stored.get("finished")) and all(
            output_path(folder, i, naming).exists() for i in range(config.outputs))
    if folder.exists() and any(folder.glob(f"{naming.stem}.out*.athdf")):
        raise ConfigError(f"{folder}: holds .athdf outputs not made by this solver configuration; "
                          f"choose another --out or delete {folder}")
    return False


def _write_record(folder: Path, config: MHDConfig, finished: bool, extra: dict) -> None:
    record = {"config": json.loads(config.physics_json()), "finished": finished,
              "version": __version__, **extra}
    with atomic_path(folder / "run.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2))


@dataclass(frozen=True)
class RunSpec:
    """One run of an ensemble: its configuration, class name and sub-folder (``""``: none)."""

    config: MHDConfig
    name: str = "MHD"
    run: str = ""


def ensemble_key(config: MHDConfig, driven: bool = True) -> tuple:
    """What runs must share to advance together: the compiled step's :class:`Numerics`, the
    driving on/off and the output times. Runs with equal keys may form one ensemble."""
    from .solver import Numerics

    return (Numerics.of(config), driven, config.t_start, config.dt_output, config.outputs)


def simulate_mhd(
    config: MHDConfig,
    out_dir: str | Path,
    name: str = "MHD",
    progress: Callable[[Progress], None] | None = None,
    run: str = "",
    units: OutputUnits = OutputUnits(),
    naming: OutputNaming = OutputNaming(),
    flat: bool = False,
    devices: int = 1,
) -> MHDRunResult:
    """Run (or resume, or reuse) one driven MHD simulation into ``out_dir/<name>/[<run>/]``.

    Parameters
    ----------
    config : MHDConfig
        Grid, physics, driving and output times.
    out_dir : path
        Root folder; this run's files go to ``out_dir/<name>/``.
    name : str
        Class name: the sub-folder and the ``SimulationClass`` attribute of the outputs.
    progress : callable, optional
        Called with a :class:`Progress` after every chunk of ``HISTORY_INTERVAL``.
    run : str
        Sub-folder for one of several runs of the class (e.g. ``seed1``); empty for one run.
    units : OutputUnits
        Units the outputs are written in (default: the solver's, ``L = c_s = rho0 = 1``).
    naming : OutputNaming
        File names ``<stem>.out<block>.<NNNNN>.athdf`` and ``<stem>.hst`` (default ``cr``, 1).
    flat : bool
        Write into ``out_dir`` itself, as Athena++ writes into its working directory (for runs
        set up from an input file), instead of ``out_dir/<name>/[<run>/]``.
    devices : int
        Split the grid along x3 over this many devices (:mod:`.sharding`; 0: every device, of
        every process after :func:`~.hosts.join_hosts`, where only process 0 writes); the
        outputs are the one-device run's to round-off.

    Raises
    ------
    ConfigError
        If the folder holds a different run, or ``name`` is not a safe folder name.
    SimulationError
        If the solution becomes non-finite.
    """
    return simulate_ensemble([RunSpec(config, name, run)], out_dir, progress, units, naming,
                             flat, devices)[0]


def simulate_ensemble(
    runs: Sequence[RunSpec],
    out_dir: str | Path,
    progress: Callable[[Progress], None] | None = None,
    units: OutputUnits = OutputUnits(),
    naming: OutputNaming = OutputNaming(),
    flat: bool = False,
    devices: int = 1,
) -> list[MHDRunResult]:
    """Run (or resume, or reuse) several runs of one :func:`ensemble_key` in one compiled loop.

    Each run writes what :func:`simulate_mhd` writes for it alone, in its own
    ``out_dir/<name>/[<run>/]``: the members (different seeds, CR transport, injection rates)
    advance together with a leading member axis, each with its own time step, to the same
    steps and fields as alone, bit for bit (``tests/test_ensemble.py``). Finished runs are
    reused; runs resumed from checkpoints advance in groups of equal time. A run that fails
    leaves the ensemble, the others finish, then its error is raised.

    Parameters
    ----------
    runs : sequence of RunSpec
        The members; all of one :func:`ensemble_key`, each in its own folder.
    out_dir, progress, units, naming, flat, devices
        As :func:`simulate_mhd` (``progress`` gets the ensemble's reports; ``flat`` only for one
        run).

    Returns
    -------
    list of MHDRunResult
        In the order of ``runs``; ``wall_seconds`` and ``zone_cycles_per_second`` are the
        ensemble's (aggregate over its ``members``).

    Raises
    ------
    ConfigError
        If runs differ in :func:`ensemble_key`, share a folder, or a folder holds another run.
    SimulationError
        If a run fails (after the others have finished).
    """
    runs = list(runs)
    if not runs:
        return []
    keys = {ensemble_key(r.config) for r in runs}
    if len(keys) > 1:
        raise ConfigError("runs of one ensemble must share resolution, numerics, precision, "
                          "driving shell, CR on/off and output times; run the others apart")
    if flat and len(runs) > 1:
        raise ConfigError("flat output (one working directory) takes one run, not "
                          f"{len(runs)}")
    folders = []
    for spec in runs:
        folder = Path(out_dir)
        if not flat:
            folder = folder / safe_name(spec.name, str(out_dir), "class name", ConfigError)
            if spec.run:
                folder = folder / safe_name(spec.run, str(folder), "run name", ConfigError)
        folders.append(folder)
    if len(set(folders)) < len(folders):
        raise ConfigError(f"{out_dir}: two runs of the ensemble would share one folder; give "
                          f"each its own class name or run name")
    safe_name(naming.stem, str(folders[0]), "output stem", ConfigError)
    results: list[MHDRunResult | None] = [None] * len(runs)
    pending = []
    for index, (spec, folder) in enumerate(zip(runs, folders)):
        files = [output_path(folder, i, naming) for i in range(spec.config.outputs)]
        if _check_folder(folder, spec.config, naming):
            stored = json.loads((folder / "run.json").read_text())
            results[index] = MHDRunResult(
                folder, files, folder / f"{naming.stem}.hst", True, None, stored.get("steps", 0),
                0.0, 0.0, stored.get("dedt", spec.config.initial_dedt),
                stored.get("max_signal_speed", 0.0), stored.get("members", 1))
        else:
            pending.append(index)
    solvers, loops, resumed = {}, {}, {}
    for index in pending:
        spec, folder = runs[index], folders[index]
        solvers[index] = Solver(spec.config, devices=devices)
        if is_writer():
            folder.mkdir(parents=True, exist_ok=True)
            _write_record(folder, spec.config, False, {})
        loop = _load_checkpoint(folder, solvers[index])
        resumed[index] = loop.time if loop else None
        loops[index] = loop or _Loop(solvers[index].start(), spec.config.initial_dedt,
                                     spec.config.sound_speed)
    groups: dict[tuple, list[int]] = {}
    for index in pending:
        loop = loops[index]
        groups.setdefault((loop.time, loop.next_output), []).append(index)
    failures: dict[int, SimulationError] = {}
    for indices in groups.values():
        group = [_Member(solvers[i], loops[i], str(folders[i])) for i in indices]
        done, failed = _run_group(group, [runs[i] for i in indices], [folders[i] for i in indices],
                                  [resumed[i] for i in indices], progress, units, naming)
        for i, result in zip(indices, done):
            results[i] = result
        failures.update({indices[k]: error for k, error in failed.items()})
    if failures:
        errors = [failures[i] for i in sorted(failures)]
        if len(errors) == 1:
            raise errors[0]
        raise SimulationError(f"{len(errors)} runs failed (the others finished):\n"
                              + "\n".join(str(e) for e in errors))
    return results


def _run_group(members: list[_Member], specs: list[RunSpec], folders: list[Path],
               resumed: list[float | None], progress: Callable[[Progress], None] | None,
               units: OutputUnits, naming: OutputNaming
               ) -> tuple[list[MHDRunResult | None], dict[int, SimulationError]]:
    """Evolve one group of members (equal time) with outputs, checkpoints and records."""
    config = members[0].solver.config
    files = [[output_path(folder, i, naming) for i in range(config.outputs)]
             for folder in folders]
    histories = [folder / f"{naming.stem}.hst" for folder in folders]
    if progress:
        first = next((t for t in resumed if t is not None), None)
        progress(Progress(members[0].loop.time, config.t_end,
                          max(m.loop.steps for m in members), 0.0,
                          resumed_from=first, members=len(members)))
    writer = is_writer()
    started = wallclock.perf_counter()
    last_checkpoint = wallclock.monotonic()
    timed = [0, 0.0]          # steps and seconds of every chunk but the first (which compiles)
    chunks = 0
    failures: dict[int, SimulationError] = {}
    for indices, report in _evolve(members, failures):
        for index in indices or ():
            m, spec = members[index], specs[index]
            write_output(files[index][report.output], m.loop.carry, spec.config, spec.name,
                         m.loop.dedt, units)
        if report.chunk_seconds:
            chunks += 1
            if chunks > 1:
                timed[0] += report.chunk_steps
                timed[1] += report.chunk_seconds
        if from_writer(wallclock.monotonic() - last_checkpoint > config.checkpoint_interval):
            for i, m in enumerate(members):
                if i not in failures:
                    _save_checkpoint(folders[i], m.loop, specs[i].config)
                    if writer:
                        write_history(m.loop.history, histories[i])
            last_checkpoint = wallclock.monotonic()
        if progress:
            progress(report)
    seconds = wallclock.perf_counter() - started
    rate = timed[0] * config.resolution ** 3 / timed[1] if timed[1] > 0 else 0.0
    results: list[MHDRunResult | None] = []
    for i, (m, spec, folder) in enumerate(zip(members, specs, folders)):
        if i in failures:
            results.append(None)
            continue
        loop = m.loop
        steps = loop.steps
        signal = float(np.max(np.asarray(loop.history)[:, HISTORY_COLUMNS.index(
            "max_signal_speed")]))
        if writer:
            write_history(loop.history, histories[i])
            plot_mhd_history(histories[i], folder / "history.png", spec.config)
            _write_record(folder, spec.config, True, {
                "steps": steps, "dedt": loop.dedt, "wall_seconds": seconds,
                "zone_cycles_per_second": rate, "max_signal_speed": signal,
                "members": len(members)})
        remove_checkpoint(folder)
        results.append(MHDRunResult(folder, files[i], histories[i], False, resumed[i], steps,
                                    seconds, rate, loop.dedt, signal, len(members)))
    return results, failures
