"""The time loop of the driven MHD solver: jit-compiled chunks of steps on CPU or GPU (JAX).

:class:`Solver` holds one configuration's compiled step. :meth:`Solver.advance` runs a whole
chunk -- as many CFL-limited VL2 steps as reach a target time -- inside one ``lax.while_loop``,
so there is no Python loop over steps or cells; the caller sees the state only between chunks
(outputs, checkpoints, progress). With cosmic rays (``cr_pressure_ratio > 0``) each step is the
coupled gas + two-moment CR step of :mod:`.cosmic_rays` and the time step also obeys the CR
transport's Courant limit. ``devices > 1`` splits the grid over that many devices
(:mod:`.sharding`).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import ConfigError
from .config import MHDConfig
from .cosmic_rays import CRParams, CRState, coupled_step, cr_time_step
from .driving import (
    apply_forcing,
    draw_modes,
    driving_shell,
    ou_update,
    velocity_pattern,
)
from .scheme import State, cfl_time_step, vl2_step
from .sharding import constrain, grid_mesh, grid_sharding, place


class Carry(NamedTuple):
    """Everything that evolves: the MHD state, the driving modes and random key, the time, the
    number of steps, the energy injected per unit volume so far and the CRs (None without)."""

    state: State
    modes: jnp.ndarray
    key: jax.Array
    time: jnp.ndarray
    steps: jnp.ndarray
    injected: jnp.ndarray
    cr: CRState | None = None


def enable_precision(precision: str) -> None:
    """Switch JAX to 64-bit arrays when ``precision == "float64"`` (a process-wide setting)."""
    if precision == "float64" and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)


class Numerics(NamedTuple):
    """The parts of a configuration that the compiled step depends on (its compilation key)."""

    resolution: int
    sound_speed: float
    cfl: float
    riemann: str
    density_floor: float
    precision: str
    k_min: float
    k_max: float
    drive_slope: float
    cosmic_rays: bool
    devices: int = 1

    @classmethod
    def of(cls, config: MHDConfig, devices: int = 1) -> "Numerics":
        return cls(*(getattr(config, name) for name in cls._fields[:-1]), devices)


class Forcing(NamedTuple):
    """Driving parameters passed as traced values (changing them does not recompile)."""

    dedt: jnp.ndarray
    t_corr: jnp.ndarray
    solenoidal_weight: jnp.ndarray
    cr: CRParams


def _step(carry: Carry, t_target, forcing: Forcing, numerics: Numerics, driven: bool,
          planes: int = 0) -> Carry:
    c = numerics
    dx = 1.0 / c.resolution
    dtype = carry.state.rho.dtype
    dt = jnp.minimum(cfl_time_step(carry.state, dx, c.sound_speed, c.cfl), t_target - carry.time)
    cr = carry.cr
    if c.cosmic_rays:
        dt = jnp.minimum(dt, cr_time_step(carry.state, dx, forcing.cr.vmax, c.cfl))
    state, modes, key, injected = carry.state, carry.modes, carry.key, carry.injected
    if driven:
        # As Athena++'s main loop: the kick comes before the update, with the step's dt; the first
        # step uses the initial draw, every later one the OU-updated modes.
        shell = driving_shell(c.resolution, c.k_min, c.k_max, c.drive_slope)
        key, draw = jax.random.split(jax.random.wrap_key_data(key))
        updated = ou_update(draw, modes, dt, forcing.t_corr, shell, forcing.solenoidal_weight)
        modes = jnp.where(carry.steps == 0, modes, updated)
        dv = velocity_pattern(modes, shell, c.resolution).astype(dtype)
        mom, added = apply_forcing(state.rho, state.mom, dv, forcing.dedt, dt)
        state = State(state.rho, mom, state.b)
        key = jax.random.key_data(key)
        injected = injected + added
    if c.cosmic_rays:
        state, cr = coupled_step(state, cr, dt, dx, c.sound_speed, forcing.cr, c.riemann,
                                 c.density_floor, planes)
    else:
        state = vl2_step(state, dt, dx, c.sound_speed, c.riemann, c.density_floor, planes)
    return Carry(state, modes, key, carry.time + dt, carry.steps + 1, injected, cr)


#: XLA options of the compiled loop on CPUs: LLVM at optimisation level 1 instead of XLA's
#: default compiles the step 15-20 % faster and runs it as fast or faster (MHD and CR_Streaming,
#: 16^3-64^3, float32 and float64; ``python -m benchmarks.compile``). GPUs keep the defaults.
CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}

#: Smallest grid (cells per side) whose face fluxes the CPU computes one plane at a time
#: (:func:`.scheme.along_faces`). Measured on a 2-core Intel Xeon, float64, one core: the step
#: 1.8x faster at 32^3 and 64^3 (MHD; 1.6-1.7x with CRs), 1.2x at 16^3. In one process on two
#: cores the tiled step is 0.89-1.10x the whole-array one (XLA's threads split big kernels, not a
#: plane's), and at 16^3 with CRs in float32 it was 0.7x, so smaller boxes (the main job's, in
#: ensembles) keep whole arrays. One rule for every process keeps a run's bits independent of
#: how many threads or worker processes it gets.
CPU_TILE_RESOLUTION = 32


def face_planes(platform: str, numerics: Numerics) -> int:
    """Planes per tile of the face fluxes (0: whole arrays): 1 for one CPU device's boxes of at
    least :data:`CPU_TILE_RESOLUTION` cells a side. Split grids keep whole arrays (a loop over
    planes of the split axis would gather them), as do accelerators, whose compilers fuse the
    element-wise solve themselves."""
    tiled = (platform == "cpu" and numerics.devices == 1
             and numerics.resolution >= CPU_TILE_RESOLUTION)
    return 1 if tiled else 0


def _advance_members(carry: Carry, t_target, forcing: Forcing, max_steps, numerics: Numerics,
                     driven: bool, planes: int = 0) -> Carry:
    """Every member of ``carry`` and ``forcing`` (leading member axis) stepped to ``t_target``.

    Each member takes its own CFL-limited steps (``jax.vmap`` of the loop: it runs until the
    last member lands, the others keep their state). A single run is a member axis of one, so
    a member of an ensemble and the same run alone are one computation compiled at two batch
    sizes, and bit-identical (the box means add in a fixed order, :func:`.driving.box_mean`;
    ``tests/test_ensemble.py``).
    """
    mesh = grid_mesh(numerics.devices, numerics.resolution)

    def run(member: Carry, member_forcing: Forcing) -> Carry:
        first = member.steps

        def running(c: Carry):
            return jnp.isfinite(c.time) & (c.time < t_target) & (c.steps - first < max_steps)

        def step(c: Carry) -> Carry:
            c = constrain(c, mesh, numerics.resolution)
            return constrain(_step(c, t_target, member_forcing, numerics, driven, planes),
                             mesh, numerics.resolution)

        return jax.lax.while_loop(running, step, member)

    return jax.vmap(run)(carry, forcing)


_STATIC = ("numerics", "driven", "planes")
_advance = jax.jit(_advance_members, static_argnames=_STATIC)
_advance_cpu = jax.jit(_advance_members, static_argnames=_STATIC,
                       compiler_options=CPU_COMPILER_OPTIONS)


def compiled_loop(platform: str) -> Callable:
    """The compiled loop for devices of ``platform`` (``"cpu"``: with
    :data:`CPU_COMPILER_OPTIONS`)."""
    return _advance_cpu if platform == "cpu" else _advance


def stack_members(trees: Sequence) -> object:
    """Trees of the same structure stacked along a new leading member axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def unstack_members(tree, count: int) -> list:
    """Inverse of :func:`stack_members`: the ``count`` members of ``tree``."""
    return [jax.tree.map(lambda x: x[i], tree) for i in range(count)]


def advance_members(solvers: Sequence["Solver"], carries: Sequence[Carry], t_target: float,
                    dedts: Sequence[float], max_steps: int = 1_000_000) -> list[Carry]:
    """Advance one run per solver (all of one :class:`Numerics`) in one compiled loop.

    Parameters
    ----------
    solvers : sequence of Solver
        One per member; they may differ in everything :class:`Forcing` holds (injection rate,
        correlation time, Helmholtz weight, CR transport) and in their initial state.
    carries : sequence of Carry
        The members' current carries.
    t_target : float
        Time every member steps to (the last step of each shortened to land on it).
    dedts : sequence of float
        Each member's energy injection rate per unit volume (ignored when not driven).
    max_steps : int
        Most steps any member takes in this call.
    """
    lead = solvers[0]
    if any(s.numerics != lead.numerics or s.driven != lead.driven for s in solvers):
        raise ConfigError("members of one ensemble must share resolution, numerics, "
                          "precision, driving shell and CR on/off (Numerics)")
    forcing = stack_members([s.forcing(dedt) for s, dedt in zip(solvers, dedts)])
    carry = lead.place(stack_members(carries))
    platform = (lead.mesh.devices.flat[0] if lead.mesh is not None else jax.devices()[0]).platform
    done = compiled_loop(platform)(carry, jnp.asarray(t_target, lead.dtype), forcing,
                                   jnp.asarray(max_steps, jnp.int32), numerics=lead.numerics,
                                   driven=lead.driven, planes=face_planes(platform, lead.numerics))
    return unstack_members(done, len(solvers))


class Solver:
    """Compiled VL2 + CT isothermal MHD with optional Ornstein-Uhlenbeck driving.

    Compiled chunks are cached per :class:`Numerics` and shape, so solvers that differ only in
    seed, output times, injection rate, correlation time or Helmholtz weight share one
    compilation.

    Parameters
    ----------
    config : MHDConfig
        Grid, physics and numerics.
    driven : bool
        Apply the turbulence driving before every step (off for wave and decay tests).
    devices : int
        Split the grid along x3 over this many devices (:mod:`.sharding`; 1: one device).
    """

    def __init__(self, config: MHDConfig, driven: bool = True, devices: int = 1) -> None:
        enable_precision(config.precision)
        self.config = config
        self.driven = driven
        self.mesh = grid_mesh(devices, config.resolution)
        self.numerics = Numerics.of(config, devices)
        self.dtype = jnp.dtype(config.precision)
        self.shell = driving_shell(config.resolution, config.k_min, config.k_max, config.drive_slope)

    def uniform_state(self) -> State:
        """``rho = 1``, gas at rest, ``B = B0 x1_hat`` (made split over the devices, so that no
        process holds a whole field)."""
        n = self.config.resolution
        scalar, vector = (grid_sharding(ndim, self.mesh) for ndim in (3, 4))
        rho = jnp.ones((n, n, n), self.dtype, device=scalar)
        b = jnp.zeros((3, n, n, n), self.dtype, device=vector).at[0].set(self.config.b0)
        return State(rho, jnp.zeros((3, n, n, n), self.dtype, device=vector), b)

    def uniform_cosmic_rays(self) -> CRState | None:
        """Uniform ``E_c = 3 (P_c / P_g) rho0 c_s**2`` with zero flux (None without CRs)."""
        if not self.config.cosmic_rays:
            return None
        n = self.config.resolution
        return CRState(jnp.full((n, n, n), self.config.initial_ec, self.dtype,
                                device=grid_sharding(3, self.mesh)),
                       jnp.zeros((3, n, n, n), self.dtype, device=grid_sharding(4, self.mesh)))

    def start(self, state: State | None = None, cr: CRState | None = None) -> Carry:
        """Carry at ``t = 0`` from ``state`` and ``cr`` (default: uniform) with fresh driving
        modes."""
        key, draw = jax.random.split(jax.random.key(self.config.seed))
        state = state if state is not None else self.uniform_state()
        state = State(*(jnp.asarray(x, self.dtype) for x in state))
        if self.config.cosmic_rays:
            cr = cr if cr is not None else self.uniform_cosmic_rays()
            cr = CRState(*(jnp.asarray(x, self.dtype) for x in cr))
        else:
            cr = None
        modes = draw_modes(draw, self.shell, self.config.solenoidal_weight, self.dtype)
        zero = jnp.zeros((), self.dtype)
        return self.place(Carry(state, modes, jax.random.key_data(key), zero,
                                jnp.zeros((), jnp.int32), zero, cr))

    def place(self, carry: Carry) -> Carry:
        """``carry`` (one run's, or members stacked) with its grid fields split over this
        solver's devices (as is on one)."""
        return place(carry, self.mesh, self.config.resolution)

    def cr_params(self) -> CRParams:
        """The CR transport parameters as traced scalars."""
        c = self.config
        return CRParams(*(jnp.asarray(v, self.dtype) for v in (
            c.vmax, c.kappa_par, c.kappa_perp, c.streaming_factor if c.streaming else 0.0)))

    def forcing(self, dedt: float = 0.0) -> Forcing:
        """The traced driving and CR parameters at injection rate ``dedt``."""
        return Forcing(*(jnp.asarray(v, self.dtype) for v in (
            dedt, self.config.t_corr, self.config.solenoidal_weight)), self.cr_params())

    def advance(self, carry: Carry, t_target: float, dedt: float = 0.0,
                max_steps: int = 1_000_000) -> Carry:
        """Step until ``t_target`` (the last step is shortened to land on it) or ``max_steps``.

        ``dedt`` is the energy injection rate per unit volume (ignored when not driven).
        """
        return advance_members([self], [carry], t_target, [dedt], max_steps)[0]


def to_numpy(carry: Carry, grid: Callable[[jax.Array], np.ndarray] = np.asarray,
             small: Callable[[jax.Array], np.ndarray] = np.asarray) -> dict[str, np.ndarray]:
    """Plain arrays of a carry (for checkpoints): ``grid`` reads the grid fields (default the
    whole field; one process's x3 planes with :func:`~.hosts.slab_of`), ``small`` the rest."""
    state = carry.state
    arrays = {"rho": grid(state.rho), "mom": grid(state.mom), "b": grid(state.b),
              "modes": small(carry.modes), "key": small(carry.key), "time": small(carry.time),
              "steps": small(carry.steps), "injected": small(carry.injected)}
    if carry.cr is not None:
        arrays.update(ec=grid(carry.cr.ec), cr_flux=grid(carry.cr.flux))
    return arrays


def from_numpy(arrays: dict[str, np.ndarray], dtype,
               grid: Callable[[np.ndarray], jax.Array] | None = None) -> Carry:
    """Inverse of :func:`to_numpy`; ``grid`` makes the grid fields' arrays from theirs (default
    ``jnp.asarray``; :func:`~.sharding.place_planes` for one process's x3 planes)."""
    put = grid or jnp.asarray
    state = State(*(put(np.asarray(arrays[k], dtype)) for k in ("rho", "mom", "b")))
    cr = (CRState(put(np.asarray(arrays["ec"], dtype)), put(np.asarray(arrays["cr_flux"], dtype)))
          if "ec" in arrays else None)
    return Carry(state, jnp.asarray(arrays["modes"]), jnp.asarray(arrays["key"]),
                 jnp.asarray(arrays["time"], dtype), jnp.asarray(arrays["steps"], jnp.int32),
                 jnp.asarray(arrays["injected"], dtype), cr)
