"""Every knob of the driven isothermal MHD solver, as one frozen dataclass (stored in each output).

Code units: box size ``L = 1``, isothermal sound speed ``c_s`` (default 1), mean density
``rho0 = 1``, fields with ``sqrt(4 pi)`` absorbed (magnetic pressure ``B**2 / 2``), so the mean
field along x1 is ``B0 = sqrt(2 rho0 c_s**2 / beta)`` and times are in units of ``L / c_s``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

from ...checks import check_finite
from ...errors import ConfigError
from ...io.athena import meshblock_edge

#: Fixed energy-injection rate per unit volume that keeps M_s at the target, in units of
#: ``rho0 (M c_s)**3 / L``; measured on this solver at 32^3 (0.49 for M_s = 0.5, beta = 10). It is only the
#: starting value of ``dedt="auto"``, which then adjusts it during the warm-up.
INJECTION_EFFICIENCY = 0.5


def _shell_has_modes(k_min: float, k_max: float) -> bool:
    """True if some integer wavevector ``n`` has ``k_min < |n| < k_max``."""
    if not (0 <= k_min < k_max) or not math.isfinite(k_max):
        return False
    top = int(math.ceil(k_max))
    squares = {a * a + b * b + c * c for a in range(top + 1) for b in range(top + 1)
               for c in range(top + 1)}
    return any(k_min ** 2 < q < k_max ** 2 for q in squares)


@dataclass(frozen=True)
class MHDConfig:
    """Driven, triply periodic, isothermal ideal MHD in a unit box.

    Attributes
    ----------
    resolution : int
        Cells per side ``N`` (``N**3`` cells); even, at least 8.
    mach : float
        Target sonic Mach number (mass-weighted rms velocity over ``c_s``) of the steady state.
    beta : float
        Plasma beta of the mean field along x1, ``2 rho0 c_s**2 / B0**2``.
    sound_speed : float
        Isothermal sound speed ``c_s``.
    t_start : float
        Time of the first output (warm-up to saturation before it), in ``L / c_s``.
    dt_output : float
        Time between outputs.
    outputs : int
        Number of ``.athdf`` outputs.
    dedt : float
        Energy injection rate per unit volume (``rho0 c_s**3 / L``). 0 means "auto": start from
        ``INJECTION_EFFICIENCY rho0 (mach c_s)**3 / L``, adjust during the warm-up from the
        measured energy balance so the Mach number approaches ``mach``, then keep it fixed for
        the last crossing time ``L / (mach c_s)`` before ``t_start`` and all outputs.
    k_min, k_max : float
        Driven shell ``k_min < |k L / 2 pi| < k_max``, both ends excluded (Athena++'s ``nlow``
        and ``nhigh``: the default drives ``|n| = sqrt 2 .. sqrt 15``, not ``|n| = 1`` or 4).
    drive_slope : float
        Shell-integrated driving spectrum ``E(k) ~ k**-drive_slope`` inside the shell.
    t_corr : float
        Ornstein-Uhlenbeck correlation time of the driving.
    solenoidal_weight : float
        Helmholtz weight ``zeta`` of the driving (Federrath et al. 2010): 1 solenoidal, 0
        compressive, 0.5 the natural mixture (2/3 of the power solenoidal).
    riemann : {"hlld", "hlle"}
        Riemann solver.
    cfl : float
        Courant number of the time step (at most 0.5 for the 3-D VL2 integrator).
    precision : {"float32", "float64"}
        Floating-point precision of the state.
    density_floor : float
        Smallest density allowed in reconstructed states and updates.
    seed : int
        Seed of the driving's random stream.
    checkpoint_interval : float
        Wall-clock seconds between checkpoints of a running simulation.
    meshblock : int
        MeshBlock size of the written ``.athdf`` files (clipped to a divisor of the resolution).
    cr_pressure_ratio : float
        Initial CR to gas pressure ratio ``P_c / P_g`` (uniform ``E_c = 3 P_c``); 0 means no
        cosmic rays (plain MHD).
    vmax : float
        Reduced speed of light ``V_m`` of the two-moment CR transport (``c_s``); it must exceed
        every signal speed of the run (checked while running).
    kappa_par, kappa_perp : float
        CR diffusivities along and across the local field (``L c_s``); 0 means none (CRs
        locked to the field lines / gas).
    streaming : bool
        CRs stream down their pressure gradient along the field at ``streaming_factor`` times
        the local Alfven speed, losing energy ``v_st |b . grad P_c|`` to the gas.
    streaming_factor : float
        Streaming speed in units of the local Alfven speed.
    """

    resolution: int = 32
    mach: float = 0.5
    beta: float = 10.0
    sound_speed: float = 1.0
    t_start: float = 6.0
    dt_output: float = 0.5
    outputs: int = 4
    dedt: float = 0.0
    k_min: float = 1.0
    k_max: float = 4.0
    drive_slope: float = 2.0
    t_corr: float = 1.0
    solenoidal_weight: float = 0.5
    riemann: str = "hlld"
    cfl: float = 0.3
    precision: str = "float32"
    density_floor: float = 1e-4
    seed: int = 0
    checkpoint_interval: float = 60.0
    meshblock: int = 32
    cr_pressure_ratio: float = 0.0
    vmax: float = 10.0
    kappa_par: float = 0.0
    kappa_perp: float = 0.0
    streaming: bool = False
    streaming_factor: float = 1.0

    def __post_init__(self) -> None:
        check_finite(self, "MHD")
        checks = [
            (self.resolution >= 8 and self.resolution % 2 == 0, "resolution must be even and >= 8"),
            (self.mach > 0, "mach must be > 0"),
            (self.beta > 0, "beta must be > 0"),
            (self.sound_speed > 0, "sound_speed must be > 0"),
            (self.t_start >= 0, "t_start must be >= 0"),
            (self.dt_output > 0, "dt_output must be > 0"),
            (self.outputs >= 1, "outputs must be >= 1"),
            (self.dedt >= 0, "dedt must be >= 0 (0 = auto)"),
            (0 <= self.k_min < self.k_max, "need 0 <= k_min < k_max"),
            (self.k_max <= self.resolution / 2, "k_max must be at most resolution / 2"),
            (self.k_max > self.resolution / 2 or _shell_has_modes(self.k_min, self.k_max),
             "no integer wavevector n has k_min < |n| < k_max; widen the shell"),
            (self.t_corr > 0, "t_corr must be > 0"),
            (0 <= self.solenoidal_weight <= 1, "solenoidal_weight must be in [0, 1]"),
            (self.riemann in ("hlld", "hlle"), "riemann must be 'hlld' or 'hlle'"),
            (0 < self.cfl <= 0.5, "cfl must be in (0, 0.5]"),
            (self.precision in ("float32", "float64"), "precision must be float32 or float64"),
            (0 < self.density_floor < 1, "density_floor must be in (0, 1)"),
            (self.seed >= 0, "seed must be >= 0"),
            (self.checkpoint_interval > 0, "checkpoint_interval must be > 0"),
            (self.meshblock >= 1, "meshblock must be >= 1"),
            (self.cr_pressure_ratio >= 0, "cr_pressure_ratio must be >= 0 (0 = no cosmic rays)"),
            (self.vmax > 0, "vmax must be > 0"),
            (self.kappa_par >= 0 and self.kappa_perp >= 0, "kappa_par and kappa_perp must be >= 0"),
            (self.streaming_factor > 0, "streaming_factor must be > 0"),
        ]
        bad = [message for ok, message in checks if not ok]
        if bad:
            raise ConfigError(f"invalid MHD configuration: {'; '.join(bad)}")

    @property
    def b0(self) -> float:
        """Mean field along x1, ``sqrt(2 rho0 c_s**2 / beta)``."""
        return math.sqrt(2.0 * self.sound_speed ** 2 / self.beta)

    @property
    def cosmic_rays(self) -> bool:
        """True when the run evolves cosmic rays (``cr_pressure_ratio > 0``)."""
        return self.cr_pressure_ratio > 0

    @property
    def initial_ec(self) -> float:
        """Initial uniform CR energy density ``3 (P_c / P_g) rho0 c_s**2``."""
        return 3.0 * self.cr_pressure_ratio * self.sound_speed ** 2

    @property
    def t_end(self) -> float:
        """Time of the last output."""
        return self.t_start + (self.outputs - 1) * self.dt_output

    @property
    def initial_dedt(self) -> float:
        """Injection rate at ``t = 0``: ``dedt`` if set, else the calibrated estimate."""
        if self.dedt > 0:
            return self.dedt
        return INJECTION_EFFICIENCY * (self.mach * self.sound_speed) ** 3

    @property
    def block(self) -> int:
        """MeshBlock edge actually written: the largest divisor of the resolution <= ``meshblock``."""
        return meshblock_edge(self.resolution, self.meshblock)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys), the form stored in file attributes and checkpoints."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def physics_json(self) -> str:
        """JSON of the fields that decide the outputs (all but the checkpoint interval)."""
        values = dataclasses.asdict(self)
        values.pop("checkpoint_interval")
        return json.dumps(values, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "MHDConfig":
        """Inverse of :meth:`to_json`."""
        return cls(**json.loads(text))
