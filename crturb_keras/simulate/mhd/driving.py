"""Continuous Ornstein-Uhlenbeck turbulence driving in Fourier space (JAX).

The semantics of Athena++'s ``turb_flag = 3`` (``src/fft/turbulence.cpp``): a velocity
perturbation ``dv`` built from the Fourier modes of the open shell ``nlow < |n| < nhigh``
(integer ``n = k L / 2 pi``; both ends excluded, as Athena++'s ``(nmag > nlow) && (nmag <
nhigh)``), mode amplitude ``|k|**-(expo + 2) / 2``, evolves as an Ornstein-Uhlenbeck process
``a(t + dt) = f a(t) + sqrt(1 - f**2) xi`` with ``f = exp(-dt / t_corr)`` and fresh modes ``xi``
of that spectrum. Every step, before the MHD update and with that step's ``dt``, the momentum
gets ``s rho dv`` after the net momentum of ``rho dv`` is removed, with ``s`` solving ``dE_kin =
dedt dt V`` exactly (the root of a quadratic), so energy enters at the requested rate whatever
the flow is doing. The first step uses the initial draw, later steps the OU-updated modes.

Athena++ draws every mode of the full complex grid independently and keeps the real part of
the inverse transform, so each wavevector carries the same expected power. Here the modes live
in the ``rfft`` layout (last axis x1, ``k1 >= 0``): the inverse transform keeps only the
Hermitian part of the ``k1 = 0`` plane, which halves that plane's power, so its amplitudes are
scaled by ``sqrt 2`` (without it, modes with ``k`` perpendicular to the mean field along x1
would be driven at half power). Athena++'s draws are a normal amplitude times a uniform phase,
here a complex Gaussian: the same mean power per mode, and the per-step normalisation makes the
total the same.

The shell is held on a small cube of wavenumbers ``(2 n + 1, 2 n + 1, n + 1)`` with
``n = ceil(k_max)`` (``rfft`` layout) and scattered into the full grid only for the inverse FFT,
so the random draws cost ``O(k_max**3)``, not ``O(N**3)``. Helmholtz weighting follows Athena++'s
``f_shear`` (Federrath et al. 2010): ``P = zeta P_sol + (1 - zeta) P_comp`` applied to each draw.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class DrivingShell(NamedTuple):
    """Static description of the driven modes: amplitude per mode and the unit wavevectors."""

    amplitude: np.ndarray   # (2n+1, 2n+1, n+1): |k|**-(slope + 2) / 2 inside the shell (x sqrt 2
    #                         on the k1 = 0 plane, see the module docstring), else 0
    k_hat: np.ndarray       # (3, 2n+1, 2n+1, n+1): unit wavevector, components x1, x2, x3
    index: tuple            # np.ix_ indices of the small cube inside the (N, N, N//2+1) grid


def driving_shell(resolution: int, k_min: float, k_max: float, slope: float) -> DrivingShell:
    """Modes with ``k_min < |n| < k_max`` (integer ``n``, Athena++'s open shell), amplitude giving
    a shell-integrated ``E(k) ~ k**-slope``."""
    n = int(math.ceil(k_max))
    full = np.arange(-n, n + 1)
    half = np.arange(0, n + 1)
    k3, k2, k1 = np.meshgrid(full, full, half, indexing="ij")
    k = np.sqrt(k1 ** 2 + k2 ** 2 + k3 ** 2)
    inside = (k > k_min) & (k < k_max)
    amplitude = np.where(inside, np.where(k > 0, k, 1.0) ** (-(slope + 2.0) / 2.0), 0.0)
    amplitude = amplitude * np.where(k1 == 0, math.sqrt(2.0), 1.0)
    safe = np.where(k > 0, k, 1.0)
    k_hat = np.stack([k1 / safe, k2 / safe, k3 / safe])
    index = np.ix_(full % resolution, full % resolution, half)
    return DrivingShell(amplitude, k_hat, index)


def draw_modes(key: jax.Array, shell: DrivingShell, zeta: float, dtype) -> jnp.ndarray:
    """Fresh Gaussian modes ``(3, 2n+1, 2n+1, n+1)`` complex, Helmholtz-weighted by ``zeta``."""
    real_key, imag_key = jax.random.split(key)
    shape = (3,) + shell.amplitude.shape
    xi = (jax.random.normal(real_key, shape, dtype) + 1j * jax.random.normal(imag_key, shape, dtype))
    k_hat = jnp.asarray(shell.k_hat, dtype)
    parallel = jnp.sum(k_hat * xi, axis=0)
    compressive = k_hat * parallel
    solenoidal = xi - compressive
    return (zeta * solenoidal + (1.0 - zeta) * compressive) * jnp.asarray(shell.amplitude, dtype)


def ou_update(key: jax.Array, modes: jnp.ndarray, dt, t_corr: float, shell: DrivingShell,
              zeta: float) -> jnp.ndarray:
    """One exact Ornstein-Uhlenbeck step of the driving modes over ``dt``."""
    f = jnp.exp(-dt / t_corr)
    return f * modes + jnp.sqrt(1.0 - f * f) * draw_modes(key, shell, zeta, modes.real.dtype)


def velocity_pattern(modes: jnp.ndarray, shell: DrivingShell, resolution: int) -> jnp.ndarray:
    """Real-space perturbation ``(3, N, N, N)`` of the modes (arbitrary normalisation)."""
    n = resolution
    grid = jnp.zeros((3, n, n, n // 2 + 1), modes.dtype)
    grid = grid.at[(slice(None),) + shell.index].set(modes)
    return jnp.fft.irfftn(grid, s=(n, n, n), axes=(1, 2, 3)) * (n ** 3)


def _pairwise_sum(x: jnp.ndarray, axis: int) -> jnp.ndarray:
    """Sum along ``axis`` by repeated halving (zero-padded to a power of two): one fixed order
    of additions, whatever the batch, the sharding or the compiler's fusion."""
    x = jnp.moveaxis(x, axis, -1)
    size = x.shape[-1]
    width = 1 << (size - 1).bit_length()
    if width > size:
        x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, width - size)])
    while x.shape[-1] > 1:
        half = x.shape[-1] // 2
        x = x[..., :half] + x[..., half:]
    return x[..., 0]


def box_mean(x: jnp.ndarray) -> jnp.ndarray:
    """Mean over the grid axes (the last three, ``(..., N3, N2, N1)``) in a fixed order of
    additions: pairwise along x1, then x2, then x3.

    ``jnp.mean`` leaves the order to XLA, which sums a batch of members (``jax.vmap``) or a
    sharded grid in another order than one run on one device, so the driving's normalisation --
    and then every field -- differed in the last bits. Elementwise adds in a fixed tree give
    the same bits for a run alone, in an ensemble or split over devices (and pairwise sums
    round less than a running sum).
    """
    size = x.shape[-1] * x.shape[-2] * x.shape[-3]
    for _ in range(3):
        x = _pairwise_sum(x, -1)
    return x / size


def apply_forcing(rho: jnp.ndarray, mom: jnp.ndarray, dv: jnp.ndarray, dedt, dt):
    """Add ``s rho dv`` (net momentum removed) so the kinetic energy grows by ``dedt dt`` per unit
    volume; returns the new momentum and the energy added per unit volume."""
    mean_rho = box_mean(rho)
    dv = dv - (box_mean(rho * dv) / mean_rho)[:, None, None, None]
    a = 0.5 * box_mean(rho * (dv[0] * dv[0] + dv[1] * dv[1] + dv[2] * dv[2]))
    b = box_mean(mom[0] * dv[0] + mom[1] * dv[1] + mom[2] * dv[2])
    root = jnp.sqrt(b * b + 4.0 * a * dedt * dt)
    # The positive root of a s**2 + b s - dedt dt = 0, in the form without cancellation.
    s = jnp.where(b >= 0, 2.0 * dedt * dt / jnp.maximum(b + root, 1e-30), (root - b) / (2.0 * a))
    return mom + s * rho * dv, dedt * dt
