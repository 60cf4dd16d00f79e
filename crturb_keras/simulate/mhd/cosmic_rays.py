"""Two-moment cosmic-ray (CR) transport coupled to the isothermal MHD solver (JAX).

The equations are those of Jiang & Oh (2018, ApJ 854, 5), the CR module of Athena++ used for the
published turbulence boxes, with an isotropic pressure ``P_c = E_c / 3`` (``gamma_c = 4/3``) and
a reduced speed of light ``V_m``:

    dE_c/dt + div F_c            = -(v + v_s) . sigma . (F_c - 4/3 E_c v)
    (1 / V_m**2) dF_c/dt + grad P_c = -sigma . (F_c - 4/3 E_c v)
    d(rho v)/dt + ...            = +sigma . (F_c - 4/3 E_c v)       (CR force on the gas)

so the total momentum ``rho v + F_c / V_m**2`` is conserved. ``sigma`` is diagonal in the frame of
the local field direction ``b``: along ``b`` diffusion and streaming act in series,
``1 / sigma_par = 3 kappa_par + 4/3 E_c v_st / |b . grad P_c|`` (``v_st`` the streaming speed, a
factor times the local Alfven speed, directed down the CR pressure gradient); across ``b``,
``sigma_perp = 1 / (3 kappa_perp)``. A zero diffusivity means ``sigma = SIGMA_MAX`` (CRs locked
to the gas). In steady state the flux is ``F_c = 4/3 E_c (v + v_s) - kappa grad E_c``: advection
with the gas, streaming and field-aligned diffusion; the energy source is the adiabatic work
``v . grad P_c`` and the streaming loss ``v_s . grad P_c`` (handed to the gas, which being
isothermal radiates it at once).

The state stores ``E_c`` and ``f = F_c / V_m`` (as Athena++ does; same units as ``E_c``).

Numerics (per VL2 stage, after the MHD update of the same stage):

* transport: the hyperbolic pair ``dE/dt + V_m div f = 0``, ``df/dt + V_m grad E / 3 = 0``
  with HLL fluxes (donor cell in the predictor, PLM in the corrector). The wave speeds are
  ``V_m / sqrt(3)`` reduced by the optical depth of a cell, ``sqrt((1 - exp(-tau**2)) / tau**2)``
  with ``tau = dx V_m sigma`` along the face normal, plus the gas velocity, so the numerical
  diffusion in the diffusive limit stays of order ``kappa`` instead of ``V_m dx`` (Jiang & Oh
  2018, Sec. 3.2);
* interaction: the stiff source is integrated with backward Euler, cell by cell, in closed form
  (the linear system for ``E_c``, ``f_par``, ``f_perp`` at fixed gas velocity is solved exactly),
  so the time step is set by ``V_m`` and the MHD CFL, never by ``kappa``; the gas momentum takes
  ``-delta f / V_m``. ``E_c`` is kept above ``EC_FLOOR``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp

from .scheme import (
    State,
    _faces,
    _fluxes,
    _update,
    along_faces,
    cell_centred_field,
    down,
    materialize,
    up,
)

#: Interaction coefficient used for a zero diffusivity (CRs locked to the gas), in units of
#: ``1 / (L c_s)``; equivalent to ``kappa = 3e-7 L c_s``.
SIGMA_MAX = 1e6
#: Smallest CR energy density kept (``rho0 c_s**2``).
EC_FLOOR = 1e-8
_FOUR_THIRDS = 4.0 / 3.0


class CRState(NamedTuple):
    """CR energy density ``ec (N3, N2, N1)`` and reduced flux ``flux = F_c / V_m (3, N3, N2, N1)``
    (x1, x2, x3 components)."""

    ec: jnp.ndarray
    flux: jnp.ndarray


class CRParams(NamedTuple):
    """Transport parameters (traced scalars: changing them does not recompile).

    ``vmax`` reduced speed of light ``V_m``; ``kappa_par`` / ``kappa_perp`` diffusivities along
    and across the field (``L c_s``); ``streaming`` streaming speed in units of the local Alfven
    speed (0: off)."""

    vmax: jnp.ndarray
    kappa_par: jnp.ndarray
    kappa_perp: jnp.ndarray
    streaming: jnp.ndarray


class _Coupling(NamedTuple):
    """Per-cell interaction coefficients of one stage."""

    b_hat: list            # unit field direction, 3 arrays
    sigma_par: jnp.ndarray
    sigma_perp: jnp.ndarray
    v_stream: jnp.ndarray  # signed streaming velocity along b_hat


def _sigma(kappa) -> jnp.ndarray:
    """``1 / (3 kappa)``, capped at ``SIGMA_MAX`` (a zero diffusivity locks the CRs)."""
    return 1.0 / (3.0 * jnp.maximum(kappa, 1.0 / (3.0 * SIGMA_MAX)))


def coupling(state: State, ec: jnp.ndarray, params: CRParams, dx: float) -> _Coupling:
    """Field direction, ``sigma_par`` (diffusion and streaming in series), ``sigma_perp`` and the
    streaming velocity, from the gas state and the CR energy of this stage."""
    bcc = cell_centred_field(state.b)
    magnitude = jnp.sqrt(sum(b * b for b in bcc))
    safe = jnp.maximum(magnitude, 1e-30)
    b_hat = [jnp.where(magnitude > 1e-30, b / safe, 1.0 if d == 0 else 0.0)
             for d, b in enumerate(bcc)]
    pc = ec / 3.0
    grad_par = sum(b_hat[d] * (up(pc, d) - down(pc, d)) / (2.0 * dx) for d in range(3))
    sigma_diff = _sigma(params.kappa_par) * jnp.ones_like(ec)
    v_st = params.streaming * magnitude / jnp.sqrt(state.rho)
    # sigma_stream = |b . grad P_c| / (4/3 E_c v_st); in series with diffusion (1/sigma adds).
    resistance = _FOUR_THIRDS * jnp.maximum(ec, EC_FLOOR) * v_st / jnp.maximum(
        jnp.abs(grad_par), 1e-30)
    sigma_par = jnp.where(params.streaming > 0,
                          1.0 / (1.0 / sigma_diff + resistance), sigma_diff)
    v_stream = -v_st * jnp.sign(grad_par)
    return materialize(_Coupling(b_hat, sigma_par, _sigma(params.kappa_perp) * jnp.ones_like(ec),
                                 v_stream))


def _normal_sigma(c: _Coupling, d: int) -> jnp.ndarray:
    """Interaction coefficient along direction ``d``: ``1 / (3 kappa_dd)`` with
    ``kappa_dd = b_d**2 kappa_par + (1 - b_d**2) kappa_perp``."""
    b2 = c.b_hat[d] ** 2
    return c.sigma_par * c.sigma_perp / jnp.maximum(
        b2 * c.sigma_perp + (1.0 - b2) * c.sigma_par, 1e-30)


def _hll(speeds, u_left, u_right, f_left, f_right):
    """HLL flux between the wave speeds ``s_left <= 0 <= s_right`` (with ``1 / (s_R - s_L)``)."""
    s_left, s_right, inverse = speeds
    return (s_right * f_left - s_left * f_right + s_left * s_right * (u_right - u_left)) * inverse


def _face_fluxes(d: int, dx: float, vmax, linear: bool):
    """HLL fluxes of ``(E_c, f_d, f_t1, f_t2)`` on the lower ``d``-faces from the cells'
    ``sigma`` along ``d``, locked-CR sound speed, gas velocity ``v_d``, ``E_c`` and ``f_d, f_t1,
    f_t2``."""
    def fluxes(sigma, sound, vn, ec, fn, ft1, ft2):
        tau2 = (dx * vmax * 0.5 * (sigma + down(sigma, d))) ** 2
        reduction = jnp.where(tau2 > 1e-6, jnp.sqrt(-jnp.expm1(-tau2) / jnp.maximum(tau2, 1e-6)),
                              1.0 - 0.25 * tau2)
        v_diff = jnp.minimum(jnp.maximum(vmax / math.sqrt(3.0) * reduction,
                                         jnp.maximum(sound, down(sound, d))), vmax / math.sqrt(3.0))
        v_left, v_right = down(vn, d), vn
        s_left = jnp.minimum(jnp.minimum(v_left, v_right) - v_diff, 0.0)
        s_right = jnp.maximum(jnp.maximum(v_left, v_right) + v_diff, 0.0)
        speeds = (s_left, s_right, 1.0 / jnp.maximum(s_right - s_left, 1e-30))
        e_l, e_r = _faces(ec, d, linear)
        n_l, n_r = _faces(fn, d, linear)
        return [_hll(speeds, e_l, e_r, vmax * n_l, vmax * n_r),
                _hll(speeds, n_l, n_r, vmax * e_l / 3.0, vmax * e_r / 3.0),
                *(_hll(speeds, *_faces(f, d, linear), 0.0, 0.0) for f in (ft1, ft2))]

    return fluxes


def _transport(cr: CRState, vel: list, c: _Coupling, sound: jnp.ndarray, dx: float, vmax,
               linear: bool, planes: int = 0):
    """Flux divergences ``(dE, df)`` of the hyperbolic transport (HLL, optical-depth-reduced
    wave speeds, never below the cell's sound speed with locked CRs ``sound``); ``planes`` tiles
    the face fluxes (:func:`.scheme.along_faces`)."""
    d_ec = jnp.zeros_like(cr.ec)
    d_flux = [jnp.zeros_like(cr.ec) for _ in range(3)]
    for d in range(3):
        transverse = ((d + 1) % 3, (d + 2) % 3)
        cells = (_normal_sigma(c, d), sound, vel[d], cr.ec, cr.flux[d],
                 *(cr.flux[t] for t in transverse))
        fluxes = along_faces(_face_fluxes(d, dx, vmax, linear), cells, d, planes)
        d_ec = d_ec - (up(fluxes[0], d) - fluxes[0]) / dx
        for component, flux in zip((d, *transverse), fluxes[1:]):
            d_flux[component] = d_flux[component] - (up(flux, d) - flux) / dx
    return d_ec, jnp.stack(d_flux)


def interact(cr: CRState, vel: list, c: _Coupling, dt, vmax) -> CRState:
    """Backward-Euler solution of the interaction terms over ``dt`` at fixed gas velocity ``vel``.

    With ``b = dt V_m**2 sigma`` per direction, ``f' = (f + dt V_m sigma 4/3 v E') / (1 + b)``,
    and ``E'`` follows from the energy equation in closed form; parallel and perpendicular
    components are treated with their own ``sigma`` (no rotation needed, ``sigma_perp`` being
    the same in both perpendicular directions)."""
    b_hat = c.b_hat
    f_par = sum(b_hat[d] * cr.flux[d] for d in range(3))
    v_par = sum(b_hat[d] * vel[d] for d in range(3))
    f_perp = [cr.flux[d] - f_par * b_hat[d] for d in range(3)]
    v_perp = [vel[d] - v_par * b_hat[d] for d in range(3)]
    stiff_par = dt * vmax * vmax * c.sigma_par
    stiff_perp = dt * vmax * vmax * c.sigma_perp
    w_par = (v_par + c.v_stream) * c.sigma_par / (1.0 + stiff_par)
    w_perp = c.sigma_perp / (1.0 + stiff_perp)
    perp_fv = sum(v * f for v, f in zip(v_perp, f_perp))
    perp_vv = sum(v * v for v in v_perp)
    numerator = cr.ec - dt * vmax * (w_par * f_par + w_perp * perp_fv)
    denominator = 1.0 - dt * _FOUR_THIRDS * (w_par * v_par + w_perp * perp_vv)
    ec = jnp.maximum(numerator / jnp.maximum(denominator, 1e-6), EC_FLOOR)
    new_par = (f_par + dt * vmax * c.sigma_par * _FOUR_THIRDS * v_par * ec) / (1.0 + stiff_par)
    flux = [new_par * b_hat[d]
            + (f_perp[d] + dt * vmax * c.sigma_perp * _FOUR_THIRDS * v_perp[d] * ec)
            / (1.0 + stiff_perp) for d in range(3)]
    return materialize(CRState(ec, jnp.stack(flux)))


def _cr_stage(base_cr: CRState, source_cr: CRState, source: State, gas: State, dt, dx: float,
              cs: float, linear: bool, params: CRParams,
              planes: int = 0) -> tuple[CRState, CRState]:
    """Transport of ``base_cr`` with fluxes of ``source_cr`` (gas ``source``), then the
    interaction with the updated gas ``gas``; returns the transported and the final CR state.

    In the locked limit the reduced transport speed vanishes while CR pressure waves still
    travel with the gas at ``sqrt(c_s**2 + 4/3 P_c / rho)``; the HLL speeds are kept at least
    at that speed so those waves are upwinded (a central flux there is unstable)."""
    vel_source = [source.mom[d] / source.rho for d in range(3)]
    c_source = coupling(source, source_cr.ec, params, dx)
    sound = jnp.sqrt(cs * cs + _FOUR_THIRDS * source_cr.ec / (3.0 * source.rho))
    d_ec, d_flux = _transport(source_cr, vel_source, c_source, sound, dx, params.vmax, linear,
                              planes)
    moved = materialize(CRState(jnp.maximum(base_cr.ec + dt * d_ec, EC_FLOOR),
                                base_cr.flux + dt * d_flux))
    vel = [gas.mom[d] / gas.rho for d in range(3)]
    return moved, interact(moved, vel, coupling(gas, moved.ec, params, dx), dt, params.vmax)


def _stage(base: State, base_cr: CRState, source: State, source_cr: CRState, dt, dx: float,
           cs: float, linear: bool, riemann: str, floor: float, params: CRParams,
           planes: int = 0) -> tuple[State, CRState]:
    """One VL2 stage of the coupled system: fluxes from ``source``, update of ``base``; the gas
    takes the momentum the interaction removes from the CR flux."""
    gas = _update(base, _fluxes(source, dx, cs, linear, riemann, floor, planes), dt, dx, floor)
    moved, cr = _cr_stage(base_cr, source_cr, source, gas, dt, dx, cs, linear, params, planes)
    # cr comes materialized from interact; only the gas momentum is new here.
    return materialize(State(gas.rho, gas.mom - (cr.flux - moved.flux) / params.vmax, gas.b)), cr


def coupled_step(state: State, cr: CRState, dt, dx: float, cs: float, params: CRParams,
                 riemann: str = "hlld", floor: float = 1e-4,
                 planes: int = 0) -> tuple[State, CRState]:
    """Advance gas and CRs by ``dt``: VL2 + CT for the gas, HLL transport and the implicit
    interaction for the CRs in each stage (donor-cell predictor to ``dt / 2``, PLM corrector);
    ``planes`` tiles the face fluxes (:func:`.scheme.along_faces`)."""
    half, half_cr = _stage(state, cr, state, cr, 0.5 * dt, dx, cs, False, riemann, floor, params,
                           planes)
    return _stage(state, cr, half, half_cr, dt, dx, cs, True, riemann, floor, params, planes)


def transport_step(state: State, cr: CRState, dt, dx: float, cs: float,
                   params: CRParams) -> CRState:
    """Advance the CRs alone by ``dt`` through the fixed gas ``state`` (the same two stages as
    :func:`coupled_step`; for transport tests in a static medium)."""
    _, half = _cr_stage(cr, cr, state, state, 0.5 * dt, dx, cs, False, params)
    return _cr_stage(cr, half, state, state, dt, dx, cs, True, params)[1]


def cr_time_step(state: State, dx: float, vmax, cfl: float):
    """``cfl dx / (V_m / sqrt(3) + max |v|)``: the CR transport's Courant limit."""
    speed = jnp.max(jnp.sqrt(jnp.sum((state.mom / state.rho) ** 2, axis=0)))
    return cfl * dx / (vmax / math.sqrt(3.0) + speed)
