"""Verification problems for the two-moment cosmic-ray transport and their analytic answers.

* a CR pulse diffusing through static gas along (and across) a uniform field: its variance
  grows by ``2 kappa t``;
* streaming through static gas: the relaxed flux is ``4/3 E_c v_A`` down the gradient and the
  CR energy falls at ``v_A |grad P_c|`` integrated over the box;
* a standing sound wave with CRs along the field, against the linear dispersion relation
  ``omega**2 = k**2 (c_s**2 + 4/3 P_c/rho (-i omega) / (kappa k**2 - i omega))``: locked CRs
  (``kappa -> 0``) raise the phase speed to ``sqrt(c_s**2 + 4/3 P_c / rho)``, fast diffusion
  leaves ``c_s``, and the damping peaks where ``kappa k**2 ~ omega``.

Boxes are ``(2, 2, N)`` (one-dimensional along x1); every function takes float64 arrays when
JAX runs in 64-bit mode (:func:`.solver.enable_precision`).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import curve_fit

from .cosmic_rays import CRParams, CRState, coupled_step, cr_time_step, transport_step
from .scheme import State, cfl_time_step


def cr_params(vmax: float, kappa_par: float = 0.0, kappa_perp: float = 0.0,
              streaming: float = 0.0) -> CRParams:
    """Transport parameters as float64 scalars."""
    return CRParams(*(jnp.asarray(v, jnp.float64) for v in (vmax, kappa_par, kappa_perp,
                                                              streaming)))


def static_gas(shape: tuple[int, int, int], b1: float = 1.0, rho: float = 1.0,
               direction: int = 0) -> State:
    """Uniform gas at rest with a field of strength ``b1`` along ``x1`` (``direction`` 0) or
    ``x2`` / ``x3`` (1 / 2)."""
    return State(jnp.full(shape, rho), jnp.zeros((3,) + shape),
                 jnp.zeros((3,) + shape).at[direction].set(b1))


def cosmic_rays(ec: np.ndarray) -> CRState:
    """CRs with energy density ``ec`` and zero flux."""
    return CRState(jnp.asarray(ec, jnp.float64), jnp.zeros((3,) + ec.shape))


@partial(jax.jit, static_argnames=("dx",))
def _transport_steps(state: State, cr: CRState, params: CRParams, dt, steps,
                     dx: float) -> CRState:
    return jax.lax.fori_loop(0, steps, lambda _, c: transport_step(state, c, dt, dx, 1.0, params),
                             cr)


def transport_until(state: State, cr: CRState, params: CRParams, t_end: float,
                    cfl: float = 0.3) -> CRState:
    """Advance the CRs alone through the fixed gas ``state`` to ``t_end`` in equal steps within
    the CR Courant limit (one compilation per shape)."""
    dx = 1.0 / state.rho.shape[2]
    steps = int(np.ceil(t_end / float(cr_time_step(state, dx, params.vmax, cfl))))
    return _transport_steps(state, cr, params, t_end / steps, steps, dx)


def standing_sound_wave(kappa: float, vmax: float = 20.0, n: int = 64, t_end: float = 2.0,
                        amplitude: float = 1e-3, pc0: float = 1.0
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Times and density amplitude (over the initial one) of a standing sound wave
    ``delta rho = A sin(2 pi x1)`` with locked-adiabatic CRs ``E_c = 3 P_c0 rho**(4/3)``,
    ``c_s = 1``, a weak field along the wavevector, CRs diffusing with ``kappa`` along it."""
    dx = 1.0 / n
    shape = (2, 2, n)
    x = (np.arange(n) + 0.5) * dx
    rho = 1.0 + amplitude * np.sin(2 * np.pi * x)
    gas = State(jnp.asarray(np.broadcast_to(rho, shape).copy()), jnp.zeros((3,) + shape),
                jnp.zeros((3,) + shape).at[0].set(0.3))
    cr = cosmic_rays(np.broadcast_to(3 * pc0 * rho ** (4 / 3), shape).copy())
    params = cr_params(vmax, kappa_par=kappa)
    # The wave is linear (|v| ~ 1e-3): equal steps within the initial Courant limits, all in one
    # compiled scan recording the amplitude.
    dt0 = min(float(cfl_time_step(gas, dx, 1.0, 0.3)), float(cr_time_step(gas, dx, vmax, 0.3)))
    steps = int(np.ceil(t_end / dt0))
    amplitudes = _wave_steps(gas, cr, params, jnp.asarray(np.sin(2 * np.pi * x)), t_end / steps,
                             steps, dx)
    return t_end / steps * np.arange(1, steps + 1), np.asarray(amplitudes) / amplitude


@partial(jax.jit, static_argnames=("steps", "dx"))
def _wave_steps(gas: State, cr: CRState, params: CRParams, mode, dt, steps: int, dx: float):
    def advance(carry, _):
        state, rays = coupled_step(*carry, dt, dx, 1.0, params)
        return (state, rays), 2 * jnp.mean((state.rho[0, 0] - 1) * mode)

    return jax.lax.scan(advance, (gas, cr), None, length=steps)[1]


def frequency_and_damping(times: np.ndarray, amplitudes: np.ndarray,
                          skip: float = 0.1) -> tuple[float, float]:
    """``(omega, gamma)`` of ``A exp(-gamma t) cos(omega t + phi)`` fitted after ``skip``, seeded
    by the zero crossings."""
    keep = times > skip
    t, a = times[keep], amplitudes[keep]
    crossings = t[1:][np.sign(a[1:]) != np.sign(a[:-1])]
    omega0 = np.pi / np.mean(np.diff(crossings))
    (_, gamma, omega, _), _ = curve_fit(
        lambda t, amp, gamma, omega, phase: amp * np.exp(-gamma * t) * np.cos(omega * t + phase),
        t, a, p0=[np.abs(a).max(), 0.1, omega0, 0.0], maxfev=20000)
    return abs(float(omega)), float(gamma)


def linear_sound_wave(kappa: float, k: float = 2 * np.pi, cs: float = 1.0,
                      pc0: float = 1.0) -> tuple[float, float]:
    """``(omega, gamma)`` of the sound-like root of the linear dispersion relation with CRs
    diffusing along ``k`` (``rho = 1``, ``V_m -> infinity``)."""
    roots = np.roots([-1j, kappa * k * k, 1j * k * k * (cs * cs + 4 / 3 * pc0),
                      -cs * cs * kappa * k ** 4])
    sound = roots[np.argmax(roots.real)]
    return float(sound.real), float(-sound.imag)


def locked_sound_speed(vmax: float, cs: float = 1.0, pc0: float = 1.0) -> float:
    """Phase speed with locked CRs at finite ``V_m``:
    ``sqrt((c_s**2 + 4/3 P_c) / (1 + 4 P_c / V_m**2))`` (``rho = 1``; the CR enthalpy
    ``(E_c + P_c) / V_m**2`` adds inertia)."""
    return float(np.sqrt((cs * cs + 4 / 3 * pc0) / (1 + 4 * pc0 / vmax ** 2)))
