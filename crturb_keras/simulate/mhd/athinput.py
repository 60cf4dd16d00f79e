"""Athena++ input files (``athinput.*``) for the driven-turbulence problem, in the solver's units.

An Athena++ run of the turbulence boxes (``turb_flag = 3``, isothermal MHD, optionally with its
two-moment CR module) is described by an input file of ``<block>`` sections holding ``key =
value  # comment`` lines. :func:`read_athinput` parses one; :func:`athinput_run` turns it into
an :class:`MHDConfig` in this solver's units plus the :class:`OutputUnits` and file naming that
write the outputs back in the input's own units, so the same analysis scripts read both codes'
files.

Units. The input's box is ``L = x1max - x1min`` (cubic, periodic), its isothermal sound speed
``c_s = <hydro> iso_sound_speed`` and its mean density ``rho0 = <problem> rho0`` (default 1);
the solver runs with ``L = c_s = rho0 = 1``, so times scale by ``L / c_s``, velocities by
``c_s``, densities by ``rho0``, fields by ``sqrt(rho0) c_s``, energy densities by ``rho0 c_s**2``,
diffusivities by ``L c_s`` and Athena++'s box-integrated ``dedt`` by ``rho0 c_s**3 L**2``.

Keys read (everything else is ignored; what the solver cannot do is refused, naming the key):

* ``<job>`` ``problem_id`` (file stem, default ``Turb``);
* ``<mesh>`` ``nx1..3``, ``x1min..x3max``, the ``ix*_bc``/``ox*_bc`` (periodic), ``refinement``
  (``none``); ``<meshblock>`` ``nx1`` (MeshBlock edge of the outputs);
* ``<time>`` ``tlim``, ``cfl_number``, ``integrator`` (``vl2``), ``xorder`` (2);
* ``<hydro>`` ``iso_sound_speed`` (its absence means an adiabatic build: refused);
* ``<turbulence>`` ``turb_flag`` (3), ``dedt``, ``nlow``, ``nhigh``, ``expo``, ``tcorr``,
  ``f_shear`` (``< 0``: no projection, the natural mixture), ``rseed`` (``< 0``: seed 0);
* ``<problem>`` ``beta`` (or ``b0``, the mean field along x1), ``rho0``, and for CR runs
  ``crBeta`` (``P_c / P_g``), ``kappa_par``/``kappa_perp`` or ``sigma_par``/``sigma_perp``
  (Athena++'s interaction coefficients, ``kappa = vmax / (3 sigma)``);
* ``<cr>`` ``vmax``, ``vs_flag`` (streaming; Athena++'s default 1), ``src_flag`` (1);
* the first ``<outputN>`` with ``file_type = hdf5``: ``dt`` (outputs at ``0, dt, 2 dt, ... <=
  tlim``, named ``<problem_id>.outN.<NNNNN>.athdf`` as Athena++ names them).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...errors import ConfigError, DataFormatError
from .config import MHDConfig
from .outputs import OutputNaming, OutputUnits
from .run import MHDRunResult, Progress, simulate_mhd

_BLOCK = re.compile(r"^<\s*([A-Za-z0-9_]+)\s*>$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Blocks whose presence means physics the solver does not have.
_UNSUPPORTED_BLOCKS = {
    "gravity": "self-gravity", "radiation": "radiation", "nr_radiation": "radiation",
    "chemistry": "chemistry", "crdiffusion": "implicit CR diffusion (-crdiff)",
}


@dataclass(frozen=True)
class AthinputRun:
    """What an input file asks for: the solver's configuration, the units and naming of the
    outputs, and the name of the run (``problem_id``)."""

    config: MHDConfig
    units: OutputUnits
    naming: OutputNaming
    name: str
    source: Path


def read_athinput(path: str | Path) -> dict[str, dict[str, str]]:
    """Parse an Athena++ input file into ``{block: {key: value}}`` (strings, comments removed).

    Raises
    ------
    DataFormatError
        If the file cannot be read, a line is neither a block header nor ``key = value``, or a
        key appears twice in one block.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as err:
        raise DataFormatError(f"{path}: cannot read the Athena++ input file ({err})") from None
    blocks: dict[str, dict[str, str]] = {}
    current: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        header = _BLOCK.match(line)
        if header:
            current = header.group(1)
            if current in blocks:
                raise DataFormatError(f"{path}:{number}: block <{current}> appears twice")
            blocks[current] = {}
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or current is None or not _KEY.match(key) or not value:
            where = "before the first <block>" if current is None else f"in <{current}>"
            raise DataFormatError(f"{path}:{number}: expected 'key = value' {where}, got {raw.strip()!r}")
        if key in blocks[current]:
            raise DataFormatError(f"{path}:{number}: <{current}> {key} is set twice")
        blocks[current][key] = value
    if not blocks:
        raise DataFormatError(f"{path}: no <block> found; is this an Athena++ input file?")
    return blocks


class _Reader:
    """Typed look-ups in parsed blocks with errors that name the file, block and key."""

    def __init__(self, blocks: dict[str, dict[str, str]], path: Path) -> None:
        self.blocks, self.path = blocks, path

    def refuse(self, block: str, key: str, why: str) -> ConfigError:
        return ConfigError(f"{self.path}: <{block}> {key}: {why}")

    def has(self, block: str, key: str) -> bool:
        return key in self.blocks.get(block, {})

    def text(self, block: str, key: str, default: str | None = None) -> str:
        value = self.blocks.get(block, {}).get(key)
        if value is None:
            if default is None:
                raise self.refuse(block, key, "required but missing")
            return default
        return value

    def real(self, block: str, key: str, default: float | None = None) -> float:
        value = self.text(block, key, None if default is None else repr(default))
        try:
            number = float(value)
        except ValueError:
            raise self.refuse(block, key, f"expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise self.refuse(block, key, f"must be finite, got {value!r}")
        return number

    def integer(self, block: str, key: str, default: int | None = None) -> int:
        value = self.text(block, key, None if default is None else str(default))
        try:
            return int(value)
        except ValueError:
            raise self.refuse(block, key, f"expected an integer, got {value!r}") from None


def _mesh(r: _Reader) -> tuple[int, float, tuple[float, float, float]]:
    """Resolution, box size and origin of a cubic periodic mesh (refused otherwise)."""
    refinement = r.text("mesh", "refinement", "none").lower()
    if refinement != "none":
        raise r.refuse("mesh", "refinement", f"{refinement!r}: mesh refinement is not supported "
                       f"(uniform grids only)")
    sizes = [r.integer("mesh", f"nx{d}") for d in (1, 2, 3)]
    lows = [r.real("mesh", f"x{d}min") for d in (1, 2, 3)]
    highs = [r.real("mesh", f"x{d}max") for d in (1, 2, 3)]
    lengths = [hi - lo for lo, hi in zip(lows, highs)]
    if len(set(sizes)) != 1:
        raise r.refuse("mesh", "nx1/nx2/nx3", f"{sizes}: only cubic grids (nx1 = nx2 = nx3)")
    if min(lengths) <= 0 or max(lengths) - min(lengths) > 1e-9 * max(lengths):
        raise r.refuse("mesh", "x*min/x*max", f"box lengths {lengths}: only cubic boxes")
    for d in (1, 2, 3):
        for side in ("ix", "ox"):
            flag = r.text("mesh", f"{side}{d}_bc", "periodic").lower()
            if flag != "periodic":
                raise r.refuse("mesh", f"{side}{d}_bc", f"{flag!r}: only periodic boundaries")
    return sizes[0], lengths[0], (lows[0], lows[1], lows[2])


def _outputs(r: _Reader, tlim: float) -> tuple[int, float, int]:
    """``(block number, dt, count)`` of the first HDF5 output block."""
    numbered = sorted((int(name[6:]), name) for name in r.blocks
                      if name.startswith("output") and name[6:].isdigit())
    for number, name in numbered:
        if r.text(name, "file_type", "").lower() == "hdf5":
            dt = r.real(name, "dt")
            if dt <= 0:
                raise r.refuse(name, "dt", f"must be > 0, got {dt:g}")
            count = int(math.floor(tlim / dt * (1 + 1e-12))) + 1
            return number, dt, count
    raise ConfigError(f"{r.path}: no <outputN> block with file_type = hdf5; add one (its dt sets "
                      f"the .athdf outputs)")


def _cosmic_rays(r: _Reader, units: OutputUnits) -> dict:
    """CR settings in the solver's units (``cr_pressure_ratio = 0`` without CRs)."""
    ratio = r.real("problem", "crBeta", 0.0)
    if "cr" not in r.blocks:
        if ratio > 0:
            raise r.refuse("problem", "crBeta", "set, but there is no <cr> block (vmax)")
        return {"cr_pressure_ratio": 0.0}
    if ratio <= 0:
        raise r.refuse("problem", "crBeta", "the <cr> block needs crBeta > 0 (P_c / P_g)")
    if r.integer("cr", "src_flag", 1) != 1:
        raise r.refuse("cr", "src_flag", "only 1: CRs always exchange momentum and energy with "
                       "the gas here")
    vmax = r.real("cr", "vmax")
    kappa = {}
    for along in ("par", "perp"):
        if r.has("problem", f"kappa_{along}") and r.has("problem", f"sigma_{along}"):
            raise r.refuse("problem", f"kappa_{along}", f"give kappa_{along} or sigma_{along}, "
                           f"not both")
        if r.has("problem", f"sigma_{along}"):
            sigma = r.real("problem", f"sigma_{along}")
            if sigma <= 0:
                raise r.refuse("problem", f"sigma_{along}", "must be > 0")
            value = vmax / (3.0 * sigma)
        else:
            value = r.real("problem", f"kappa_{along}", 0.0)
        if value < 0:
            raise r.refuse("problem", f"kappa_{along}", "must be >= 0")
        kappa[along] = value / (units.length * units.velocity)
    streaming = r.integer("cr", "vs_flag", 1)
    if streaming not in (0, 1):
        raise r.refuse("cr", "vs_flag", f"0 or 1, got {streaming}")
    return {"cr_pressure_ratio": ratio, "vmax": vmax / units.velocity, "kappa_par": kappa["par"],
            "kappa_perp": kappa["perp"], "streaming": bool(streaming)}


def athinput_run(path: str | Path, **overrides) -> AthinputRun:
    """The run an Athena++ turbulence input file describes, in this solver's units.

    Parameters
    ----------
    path : path
        The ``athinput`` file.
    **overrides
        :class:`MHDConfig` fields that win over the file (e.g. ``precision``,
        ``checkpoint_interval``).

    Raises
    ------
    DataFormatError
        If the file is not a readable input file.
    ConfigError
        For what the solver does not do (naming the block and key): another problem (no
        ``<turbulence>`` with ``turb_flag = 3``), an adiabatic EOS, refinement, a non-cubic or
        non-periodic box, another integrator or reconstruction, no HDF5 output.
    """
    path = Path(path)
    r = _Reader(read_athinput(path), path)
    for block, what in _UNSUPPORTED_BLOCKS.items():
        if block in r.blocks:
            raise ConfigError(f"{path}: <{block}>: {what} is not supported by this solver")
    if "turbulence" not in r.blocks:
        raise ConfigError(f"{path}: no <turbulence> block: only the driven-turbulence problem "
                          f"(turb_flag = 3) is supported")
    flag = r.integer("turbulence", "turb_flag")
    if flag != 3:
        raise r.refuse("turbulence", "turb_flag", f"{flag}: only continuous driving (3) is "
                       f"supported")
    if not r.has("hydro", "iso_sound_speed"):
        raise r.refuse("hydro", "iso_sound_speed", "missing: only an isothermal EOS is supported "
                       "(an adiabatic build is not)")
    cs = r.real("hydro", "iso_sound_speed")
    if cs <= 0:
        raise r.refuse("hydro", "iso_sound_speed", "must be > 0")
    integrator = r.text("time", "integrator", "vl2").lower()
    if integrator != "vl2":
        raise r.refuse("time", "integrator", f"{integrator!r}: only vl2")
    xorder = r.text("time", "xorder", "2")
    if xorder != "2":
        raise r.refuse("time", "xorder", f"{xorder!r}: only 2 (PLM)")
    resolution, length, origin = _mesh(r)
    rho0 = r.real("problem", "rho0", 1.0)
    if rho0 <= 0:
        raise r.refuse("problem", "rho0", "must be > 0")
    units = OutputUnits(length=length, origin=origin, velocity=cs, density=rho0)
    if r.has("problem", "beta") == r.has("problem", "b0"):
        raise r.refuse("problem", "beta", "give exactly one of beta or b0 (mean field along x1)")
    if r.has("problem", "beta"):
        beta = r.real("problem", "beta")
    else:
        b0 = r.real("problem", "b0") / (math.sqrt(rho0) * cs)
        if b0 == 0:
            raise r.refuse("problem", "b0", "must be nonzero (this is MHD turbulence)")
        beta = 2.0 / (b0 * b0)
    tlim = r.real("time", "tlim")
    block, dt_out, count = _outputs(r, tlim)
    f_shear = r.real("turbulence", "f_shear", -1.0)
    if f_shear > 1:
        raise r.refuse("turbulence", "f_shear", f"{f_shear:g}: at most 1")
    seed = r.integer("turbulence", "rseed", -1)
    nlow = r.real("turbulence", "nlow", 0.0)
    nhigh = r.real("turbulence", "nhigh", resolution / 2)
    time_unit = units.time
    settings = dict(
        resolution=resolution, beta=beta, sound_speed=1.0, t_start=0.0,
        dt_output=dt_out / time_unit, outputs=count,
        dedt=r.real("turbulence", "dedt") / (rho0 * cs ** 3 * length ** 2),
        k_min=nlow, k_max=nhigh, drive_slope=r.real("turbulence", "expo", 2.0),
        t_corr=r.real("turbulence", "tcorr") / time_unit,
        solenoidal_weight=0.5 if f_shear < 0 else f_shear,
        cfl=r.real("time", "cfl_number", 0.3), seed=max(seed, 0),
        meshblock=r.integer("meshblock", "nx1", resolution),
        **_cosmic_rays(r, units))
    settings.update(overrides)
    try:
        config = MHDConfig(**settings)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    if config.dedt <= 0:
        raise r.refuse("turbulence", "dedt", "must be > 0 (a fixed injection rate)")
    stem = r.text("job", "problem_id", "Turb")
    if not _KEY.match(stem.replace("-", "_").replace(".", "_")):
        raise r.refuse("job", "problem_id", f"{stem!r} is not a safe file name stem")
    return AthinputRun(config, units, OutputNaming(stem, block), stem, path)


#: MHDConfig fields that may be changed for a run of an input file (they change no physics).
OVERRIDABLE = ("precision", "checkpoint_interval")


def athinput_overrides(path: str | Path, given: dict, defaults: dict) -> dict:
    """The settings ``given`` beside an input file that differ from ``defaults``: returned when
    all are :data:`OVERRIDABLE`, refused (naming the flags to drop) when any other is, since the
    file sets the run."""
    changed = {k: v for k, v in given.items() if k in defaults and v != defaults[k]}
    clashing = ["--" + k.replace("_", "-") for k in changed if k not in OVERRIDABLE]
    if clashing:
        raise ConfigError(f"{path}: the input file sets the run; drop {', '.join(clashing)}")
    return changed


def simulate_athinput(source: str | Path | AthinputRun, out_dir: str | Path,
                      progress: Callable[[Progress], None] | None = None,
                      **overrides) -> tuple[AthinputRun, MHDRunResult]:
    """Run the simulation an Athena++ input file describes into ``out_dir`` (as Athena++ writes
    into its working directory): ``<problem_id>.outN.<NNNNN>.athdf`` in the file's units, the
    history ``<problem_id>.hst`` (solver units), ``run.json``; resumable and reusable like
    :func:`simulate_mhd`. ``source`` is the file or its :func:`athinput_run` (read once);
    ``overrides`` are :class:`MHDConfig` fields (e.g. ``precision``) applied to a file."""
    run = source if isinstance(source, AthinputRun) else athinput_run(source, **overrides)
    result = simulate_mhd(run.config, out_dir, run.name, progress=progress, units=run.units,
                          naming=run.naming, flat=True)
    return run, result


def athinput_lines(run: AthinputRun, result: MHDRunResult) -> list[str]:
    """What a run of an input file did, for a command line to print."""
    lines = [f"{run.name}: {'reused' if result.reused else 'wrote'} {len(result.files)} output(s) "
             f"in {result.folder} ({result.files[0].name} .. {result.files[-1].name}; units of "
             f"{run.source.name}: L = {run.units.length:g}, c_s = {run.units.velocity:g}, "
             f"rho0 = {run.units.density:g})"]
    if not result.reused:
        lines.append(f"{result.steps} steps, {result.wall_seconds:.0f} s, "
                     f"{result.zone_cycles_per_second:.3g} zone-cycles/s")
    return lines
