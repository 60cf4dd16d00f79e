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
  seconds while running, removed at the end). A killed run resumes from it.

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
from typing import Callable, Iterator

import numpy as np

from ..._version import __version__
from ...checks import safe_name
from ...errors import ConfigError, CrturbError
from ...io.athena import write_athdf
from ...io.atomic import atomic_path
from ...plots import plot_mhd_history
from ...snapshot import Snapshot
from .config import MHDConfig
from .diagnostics import HISTORY_COLUMNS, box_means, cell_field, write_history
from .outputs import OutputNaming, OutputUnits, output_path
from .solver import Carry, Solver, from_numpy, to_numpy

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
    """What the run loop reports after each chunk."""

    time: float
    t_end: float
    steps: int
    zone_cycles_per_second: float
    output: int | None = None
    resumed_from: float | None = None
    chunk_steps: int = 0
    chunk_seconds: float = 0.0


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


@dataclass
class _Loop:
    """Mutable state of the time loop between chunks."""

    carry: Carry
    dedt: float
    next_output: int = 0
    history: list[list[float]] = field(default_factory=list)


def snapshot_of(carry: Carry, config: MHDConfig, name: str, dedt: float,
                units: OutputUnits = OutputUnits()) -> Snapshot:
    """The cell-centred primitive variables of ``carry`` as a float32 Snapshot, in ``units``
    (time, coordinates and fields; the default is the solver's own)."""
    rho = np.asarray(carry.state.rho, np.float64)
    mom = np.asarray(carry.state.mom, np.float64)
    bcc = cell_field(np.asarray(carry.state.b, np.float64))
    fields = {"rho": rho}
    fields.update({f"vel{c + 1}": mom[c] / rho for c in range(3)})
    if carry.cr is not None:
        fields["Ec"] = np.asarray(carry.cr.ec, np.float64)
        fields.update({f"Fc{c + 1}": np.asarray(carry.cr.flux[c], np.float64) for c in range(3)})
    fields.update({f"Bcc{c + 1}": bcc[c] for c in range(3)})
    fields = {k: (v * units.scale(k)).astype(np.float32) for k, v in fields.items()}
    faces = [units.origin[d] + units.length * np.linspace(0.0, 1.0, config.resolution + 1)
             for d in range(3)]
    attributes = {"SimulationClass": name, "MHDConfig": config.to_json(),
                  "InjectionRate": float(dedt), "CrturbVersion": __version__,
                  "Solver": f"crturb-keras isothermal MHD: VL2 + PLM + {config.riemann.upper()} + CT"
                  + (" + two-moment CRs (Jiang & Oh 2018)" if config.cosmic_rays else "")}
    if not units.identity:
        attributes["CodeUnits"] = json.dumps(dataclasses.asdict(units))
    return Snapshot(fields=fields, x1f=faces[0], x2f=faces[1], x3f=faces[2],
                    time=float(carry.time) * units.time, cycle=int(carry.steps),
                    attributes=attributes)


def _record(loop: _Loop, config: MHDConfig, last_time: float, last_steps: int) -> None:
    carry = loop.carry
    means = box_means(carry.state, config.sound_speed, carry.cr.ec if carry.cr else None)
    steps = int(carry.steps) - last_steps
    mean_dt = (float(carry.time) - last_time) / steps if steps else 0.0
    loop.history.append([float(carry.time), mean_dt] + [means[k] for k in HISTORY_COLUMNS[2:8]]
                        + [loop.dedt, float(carry.injected)]
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
            f"speed of light vmax = {config.vmax:g} near t = {float(loop.carry.time):.4g}; "
            f"rerun with a larger --vmax")


def _evolve(solver: Solver, loop: _Loop, folder_name: str) -> Iterator[Progress]:
    """Advance chunk by chunk to the last output, yielding progress (and outputs) on the way."""
    config = solver.config

    def representable(t: float) -> float:
        # Times compared in the state's precision: float32(0.02) < 0.02 must still count as there.
        return float(np.asarray(t, solver.dtype))

    times = [representable(config.t_start + i * config.dt_output) for i in range(config.outputs)]
    cells = config.resolution ** 3
    if config.cosmic_rays:
        carry = loop.carry
        _check_vmax(box_means(carry.state, config.sound_speed, carry.cr.ec)["max_signal_speed"],
                    loop, config, folder_name)
    next_control = CONTROL_INTERVAL * (math.floor(float(loop.carry.time) / CONTROL_INTERVAL) + 1)
    while loop.next_output < config.outputs:
        now, steps = float(loop.carry.time), int(loop.carry.steps)
        if now >= times[loop.next_output]:
            loop.next_output += 1
            yield Progress(now, config.t_end, steps, 0.0, output=loop.next_output - 1)
            continue
        target = min(times[loop.next_output], representable(now + HISTORY_INTERVAL))
        started = wallclock.perf_counter()
        loop.carry = solver.advance(loop.carry, target, loop.dedt, max_steps=MAX_CHUNK_STEPS)
        done = int(loop.carry.steps) - steps
        seconds = wallclock.perf_counter() - started
        if float(loop.carry.time) < target and np.isfinite(float(loop.carry.time)):
            raise SimulationError(
                f"{folder_name}: the time step collapsed near t = {float(loop.carry.time):.4g} "
                f"({done} steps without reaching t = {target:.4g}); lower --cfl or the driving")
        if not np.isfinite(float(loop.carry.time)) or not np.isfinite(float(loop.carry.injected)) \
                or not bool(np.isfinite(np.asarray(loop.carry.state.rho)).all()):
            raise SimulationError(
                f"{folder_name}: the solution became non-finite near t = {now:.4g}; lower --cfl "
                f"or the driving (--dedt / --mach), or use --riemann hlle")
        _record(loop, config, now, steps)
        _check_vmax(loop.history[-1][HISTORY_COLUMNS.index("max_signal_speed")], loop, config,
                    folder_name)
        if config.dedt == 0 and float(loop.carry.time) >= next_control - 1e-12:
            next_control += CONTROL_INTERVAL
            now = float(loop.carry.time)
            last = config.t_start - 1.0 / config.mach
            if CONTROL_START + CONTROL_WINDOW - 1e-9 <= now <= last + 1e-9:
                _control(loop, config)
        yield Progress(float(loop.carry.time), config.t_end, int(loop.carry.steps),
                       done * cells / seconds if seconds > 0 else 0.0,
                       chunk_steps=done, chunk_seconds=seconds)


def evolve_snapshots(config: MHDConfig, name: str = "MHD") -> Iterator[Snapshot]:
    """Yield the ``config.outputs`` snapshots of one run in time order, in memory (no files).

    Parameters
    ----------
    config : MHDConfig
        Grid, physics, driving and output times.
    name : str
        Class name stored in the snapshots' attributes.
    """
    solver = Solver(config)
    loop = _Loop(solver.start(), config.initial_dedt)
    for report in _evolve(solver, loop, name):
        if report.output is not None:
            yield snapshot_of(loop.carry, config, name, loop.dedt)


def _save_checkpoint(folder: Path, loop: _Loop, config: MHDConfig) -> None:
    arrays = to_numpy(loop.carry)
    arrays.update(history=np.asarray(loop.history, np.float64).reshape(-1, len(HISTORY_COLUMNS)),
                  dedt=np.float64(loop.dedt), next_output=np.int64(loop.next_output),
                  config=np.array(config.physics_json()))
    with atomic_path(folder / "checkpoint.npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def _load_checkpoint(folder: Path, solver: Solver) -> _Loop | None:
    path = folder / "checkpoint.npz"
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as err:
        raise SimulationError(f"{path}: unreadable checkpoint ({err}); delete it to restart "
                              f"this run from t = 0") from None
    if str(arrays["config"]) != solver.config.physics_json():
        raise ConfigError(f"{path}: checkpoint of a different configuration; delete {folder} "
                          f"or choose another output folder")
    loop = _Loop(from_numpy(arrays, solver.dtype), float(arrays["dedt"]),
                 int(arrays["next_output"]), arrays["history"].tolist())
    return loop


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
        Split the grid along x3 over this many devices (:mod:`.sharding`); the outputs are
        the one-device run's to round-off.

    Raises
    ------
    ConfigError
        If the folder holds a different run, or ``name`` is not a safe folder name.
    SimulationError
        If the solution becomes non-finite.
    """
    folder = Path(out_dir)
    if not flat:
        folder = folder / safe_name(name, str(out_dir), "class name", ConfigError)
        if run:
            folder = folder / safe_name(run, str(folder), "run name", ConfigError)
    safe_name(naming.stem, str(folder), "output stem", ConfigError)
    files = [output_path(folder, i, naming) for i in range(config.outputs)]
    history_path = folder / f"{naming.stem}.hst"
    if _check_folder(folder, config, naming):
        stored = json.loads((folder / "run.json").read_text())
        return MHDRunResult(folder, files, history_path, True, None, stored.get("steps", 0),
                            0.0, 0.0, stored.get("dedt", config.initial_dedt),
                            stored.get("max_signal_speed", 0.0))
    folder.mkdir(parents=True, exist_ok=True)
    solver = Solver(config, devices=devices)
    _write_record(folder, config, False, {})
    loop = _load_checkpoint(folder, solver)
    resumed_from = float(loop.carry.time) if loop else None
    if loop is None:
        loop = _Loop(solver.start(), config.initial_dedt)
    if progress:
        progress(Progress(float(loop.carry.time), config.t_end, int(loop.carry.steps), 0.0,
                          resumed_from=resumed_from))
    started = wallclock.perf_counter()
    last_checkpoint = wallclock.monotonic()
    timed = [0, 0.0]          # steps and seconds of every chunk but the first (which compiles)
    chunks = 0
    for report in _evolve(solver, loop, str(folder)):
        if report.chunk_seconds:
            chunks += 1
            if chunks > 1:
                timed[0] += report.chunk_steps
                timed[1] += report.chunk_seconds
        if report.output is not None and not files[report.output].exists():
            write_athdf(snapshot_of(loop.carry, config, name, loop.dedt, units), files[report.output],
                        meshblock_size=config.block)
        if wallclock.monotonic() - last_checkpoint > config.checkpoint_interval:
            _save_checkpoint(folder, loop, config)
            write_history(loop.history, history_path)
            last_checkpoint = wallclock.monotonic()
        if progress:
            progress(report)
    seconds = wallclock.perf_counter() - started
    steps = int(loop.carry.steps)
    rate = timed[0] * config.resolution ** 3 / timed[1] if timed[1] > 0 else 0.0
    write_history(loop.history, history_path)
    plot_mhd_history(history_path, folder / "history.png", config)
    signal = float(np.max(np.asarray(loop.history)[:, HISTORY_COLUMNS.index("max_signal_speed")]))
    _write_record(folder, config, True, {"steps": steps, "dedt": loop.dedt,
                                         "wall_seconds": seconds,
                                         "zone_cycles_per_second": rate,
                                         "max_signal_speed": signal})
    (folder / "checkpoint.npz").unlink(missing_ok=True)
    return MHDRunResult(folder, files, history_path, False, resumed_from, steps, seconds, rate,
                        loop.dedt, signal)
