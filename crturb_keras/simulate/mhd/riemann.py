"""Approximate Riemann solvers for isothermal ideal MHD (element-wise ``jax.numpy`` code).

States are given in a frame rotated to the face normal: density ``d``, normal velocity ``vn``, the
two transverse velocities ``vt1, vt2``, the two transverse fields ``bt1, bt2``; the normal field
``bn`` is continuous across the face (constrained transport keeps it on faces). The transverse
directions are cyclic with the normal one, ``(n, t1, t2) = (x, y, z), (y, z, x) or (z, x, y)``, so
the same formulas hold in every direction. Magnetic fields carry ``sqrt(4 pi)``: magnetic pressure
is ``B**2 / 2``.

Each solver returns the fluxes of ``(d, mn, mt1, mt2, bt1, bt2)``; the transverse-field fluxes are
``vn bt - vt bn``, so the face electric fields are ``E_t1 = F(bt2)`` and ``E_t2 = -F(bt1)``.

* :func:`hlld` -- the isothermal HLLD solver of Mignone (2007, J. Comput. Phys. 225, 1427): outer
  fast waves ``S_L, S_R``, Alfven waves ``S*_L,R = u* -+ |bn| / sqrt(rho*)`` around one central
  state (no contact in isothermal MHD), density and normal momentum from the HLL average.
* :func:`hlle` -- the two-wave HLLE flux with fast-speed estimates (Einfeldt 1988), more diffusive.
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp

Fluxes = tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray, jnp.ndarray, jnp.ndarray, jnp.ndarray]
RiemannSolver = Callable[..., Fluxes]


def fast_speed(d, bn, bt1, bt2, cs2):
    """Fast magnetosonic speed along the normal: ``c_f**2 = (a + sqrt(a**2 - 4 c_s**2 bn**2 / d)) / 2``
    with ``a = c_s**2 + |B|**2 / d``."""
    a = cs2 + (bn * bn + bt1 * bt1 + bt2 * bt2) / d
    root = jnp.sqrt(jnp.maximum(a * a - 4.0 * cs2 * bn * bn / d, 0.0))
    return jnp.sqrt(0.5 * (a + root))


def _physical(d, vn, vt1, vt2, bt1, bt2, bn, cs2):
    """Conserved variables and exact fluxes of one side."""
    total_pressure = cs2 * d + 0.5 * (bn * bn + bt1 * bt1 + bt2 * bt2)
    mn, mt1, mt2 = d * vn, d * vt1, d * vt2
    u = (d, mn, mt1, mt2, bt1, bt2)
    f = (mn, mn * vn + total_pressure - bn * bn, mt1 * vn - bn * bt1, mt2 * vn - bn * bt2,
         bt1 * vn - bn * vt1, bt2 * vn - bn * vt2)
    return u, f


def _outer_waves(left, right, bn, cs2):
    """Fastest left- and right-going speeds (Davis estimates on the fast speed), and the
    conserved states and fluxes of both sides."""
    dl, vnl, _, _, bt1l, bt2l = left
    dr, vnr, _, _, bt1r, bt2r = right
    cfl = fast_speed(dl, bn, bt1l, bt2l, cs2)
    cfr = fast_speed(dr, bn, bt1r, bt2r, cs2)
    sl = jnp.minimum(vnl - cfl, vnr - cfr)
    sr = jnp.maximum(vnl + cfl, vnr + cfr)
    return sl, sr, _physical(*left, bn, cs2), _physical(*right, bn, cs2)


def hlle(dl, vnl, vt1l, vt2l, bt1l, bt2l, dr, vnr, vt1r, vt2r, bt1r, bt2r, bn, cs,
         density_floor=1e-6) -> Fluxes:
    """HLLE flux: one averaged state between the fastest left- and right-going waves."""
    sl, sr, (ul, fl), (ur, fr) = _outer_waves((dl, vnl, vt1l, vt2l, bt1l, bt2l),
                                              (dr, vnr, vt1r, vt2r, bt1r, bt2r), bn, cs * cs)
    sl = jnp.minimum(sl, 0.0)
    sr = jnp.maximum(sr, 0.0)
    inverse = 1.0 / (sr - sl)
    return tuple((sr * a - sl * b + sl * sr * (r - l)) * inverse
                 for a, b, l, r in zip(fl, fr, ul, ur))


def hlld(dl, vnl, vt1l, vt2l, bt1l, bt2l, dr, vnr, vt1r, vt2r, bt1r, bt2r, bn, cs,
         density_floor=1e-6) -> Fluxes:
    """Isothermal HLLD flux (Mignone 2007): fast waves, Alfven waves and one central state."""
    left = (dl, vnl, vt1l, vt2l, bt1l, bt2l)
    right = (dr, vnr, vt1r, vt2r, bt1r, bt2r)
    sl, sr, (ul, fl), (ur, fr) = _outer_waves(left, right, bn, cs * cs)
    inverse = 1.0 / (sr - sl)
    # HLL averages of density and normal momentum and their fluxes (Mignone eqs. 15, 17);
    # the normal velocity of the star region is the HLL mass flux over the HLL density.
    d_star = jnp.maximum((sr * dr - sl * dl - fr[0] + fl[0]) * inverse, density_floor)
    mass_flux = (sr * fl[0] - sl * fr[0] + sr * sl * (dr - dl)) * inverse
    mn_star = (sr * ur[1] - sl * ul[1] - fr[1] + fl[1]) * inverse
    mn_flux = (sr * fl[1] - sl * fr[1] + sr * sl * (ur[1] - ul[1])) * inverse
    u_star = mass_flux / d_star
    sqrt_d = jnp.sqrt(d_star)
    alfven = jnp.abs(bn) / sqrt_d
    s_left, s_right = u_star - alfven, u_star + alfven
    tolerance = jnp.sqrt(jnp.finfo(d_star.dtype).eps) * cs

    def outer(d, vn, vt1, vt2, bt1, bt2, s, s_alfven):
        # Rankine-Hugoniot across the fast wave (Mignone eqs. 30-33); where the fast and Alfven
        # waves coincide the transverse state does not jump.
        denominator = (s - s_left) * (s - s_right)
        degenerate = jnp.abs(s - s_alfven) < tolerance
        safe = jnp.where(degenerate, 1.0, denominator)
        m_factor = bn * (u_star - vn) / safe
        b_factor = (d * (s - vn) ** 2 - bn * bn) / (d_star * safe)
        mt1 = jnp.where(degenerate, d * vt1, d_star * vt1 - bt1 * m_factor)
        mt2 = jnp.where(degenerate, d * vt2, d_star * vt2 - bt2 * m_factor)
        return mt1, mt2, jnp.where(degenerate, bt1, bt1 * b_factor), \
            jnp.where(degenerate, bt2, bt2 * b_factor)

    mt1l, mt2l, b1l, b2l = outer(*left, sl, s_left)
    mt1r, mt2r, b1r, b2r = outer(*right, sr, s_right)
    # Central state between the Alfven waves (Mignone eqs. 34-37).
    x = sqrt_d * jnp.where(bn > 0, 1.0, -1.0)
    mt1c = 0.5 * (mt1l + mt1r + (b1r - b1l) * x)
    mt2c = 0.5 * (mt2l + mt2r + (b2r - b2l) * x)
    b1c = 0.5 * (b1l + b1r + (mt1r - mt1l) / x)
    b2c = 0.5 * (b2l + b2r + (mt2r - mt2l) / x)

    star_left = (d_star, mn_star, mt1l, mt2l, b1l, b2l)
    star_right = (d_star, mn_star, mt1r, mt2r, b1r, b2r)
    flux_star_left = [f + sl * (s - u) for f, s, u in zip(fl, star_left, ul)]
    flux_star_right = [f + sr * (s - u) for f, s, u in zip(fr, star_right, ur)]
    flux_central = (mass_flux, mn_flux, mt1c * u_star - bn * b1c, mt2c * u_star - bn * b2c,
                    b1c * u_star - bn * mt1c / d_star, b2c * u_star - bn * mt2c / d_star)

    def select(f_l, f_sl, f_c, f_sr, f_r):
        return jnp.where(sl >= 0, f_l, jnp.where(
            sr <= 0, f_r, jnp.where(s_left >= 0, f_sl, jnp.where(s_right <= 0, f_sr, f_c)))
        )

    return tuple(select(*parts) for parts in zip(fl, flux_star_left, flux_central,
                                                  flux_star_right, fr))


SOLVERS: dict[str, RiemannSolver] = {"hlld": hlld, "hlle": hlle}
