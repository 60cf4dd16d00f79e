"""Standard verification problems for the MHD solver and the errors they are judged by.

* :func:`linear_wave` -- a small-amplitude fast, Alfven, slow or sound wave travelling along an
  oblique direction of the periodic cube; its eigenvector comes from the linearised isothermal
  MHD equations (solved numerically), so after one period the exact solution is the initial state
  (the Athena++ ``linear_wave`` test, Stone et al. 2008 section 8.1);
* :func:`circular_alfven_wave` -- an exact nonlinear circularly polarised Alfven wave (Toth 2000);
* :func:`field_loop` -- a weak magnetic loop advected across the box (Gardiner & Stone 2005);
* :func:`random_state` -- a smooth random velocity and field for conservation and decay tests.

Magnetic fields are set from an edge-centred vector potential, so the face field starts with
``div B = 0`` to round-off. Shapes follow :mod:`.scheme`: ``(N3, N2, N1)`` with x1 fastest.
"""

from __future__ import annotations

import math

import numpy as np

from .diagnostics import cell_field
from .scheme import State

#: Wave frame background of the linear-wave tests (Athena++'s choice): rho = 1, B = (1, sqrt 2, 1/2).
WAVE_FIELD = (1.0, math.sqrt(2.0), 0.5)
WAVES = ("fast", "alfven", "slow", "sound")


def _coordinates(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Cell-centre coordinates ``x1, x2, x3`` as (N, N, N) arrays (x1 along the last axis)."""
    dx = 1.0 / n
    centres = (np.arange(n) + 0.5) * dx
    x3, x2, x1 = np.meshgrid(centres, centres, centres, indexing="ij")
    return x1, x2, x3, dx


def faces_from_potential(potential, n: int, mean=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Face field ``b (3, N, N, N)``: the uniform ``mean`` plus the discrete curl of the periodic
    ``potential(c, x1, x2, x3)``, the ``c``-component of the vector potential sampled on the edges
    along ``c``."""
    dx = 1.0 / n
    centres = (np.arange(n) + 0.5) * dx
    lower = np.arange(n) * dx
    edges = []
    for c in range(3):
        axes = [lower, lower, lower]
        axes[c] = centres
        x3, x2, x1 = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
        edges.append(potential(c, x1, x2, x3))
    b = []
    for d in range(3):
        t1, t2 = (d + 1) % 3, (d + 2) % 3
        up_t1 = np.roll(edges[t2], -1, axis=2 - t1)
        up_t2 = np.roll(edges[t1], -1, axis=2 - t2)
        b.append(mean[d] + (up_t1 - edges[t2] - up_t2 + edges[t1]) / dx)
    return np.stack(b)


def _basis(direction: tuple[int, int, int]) -> np.ndarray:
    """Orthonormal rows ``(k_hat, e2, e3)`` in lab components (x1, x2, x3)."""
    k_hat = np.asarray(direction, float) / np.linalg.norm(direction)
    trial = np.array([0.0, 0.0, 1.0]) if abs(k_hat[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e2 = trial - k_hat * (trial @ k_hat)
    e2 /= np.linalg.norm(e2)
    return np.stack([k_hat, e2, np.cross(k_hat, e2)])


def wave_eigenvector(wave: str, cs: float = 1.0) -> tuple[float, np.ndarray]:
    """Speed and right eigenvector ``(rho, v1, v2, v3, B2, B3)`` (wave frame) of a right-going
    wave on the background ``rho = 1, v = 0, B = WAVE_FIELD`` (``"sound"``: no field)."""
    bx, by, bz = (0.0, 0.0, 0.0) if wave == "sound" else WAVE_FIELD
    a = np.array([
        [0, 1, 0, 0, 0, 0],
        [cs * cs, 0, 0, 0, by, bz],
        [0, 0, 0, 0, -bx, 0],
        [0, 0, 0, 0, 0, -bx],
        [0, by, -bx, 0, 0, 0],
        [0, bz, 0, -bx, 0, 0],
    ], float)
    values, vectors = np.linalg.eig(a)
    order = np.argsort(values.real)[::-1]
    pick = {"fast": 0, "alfven": 1, "slow": 2, "sound": 0}[wave]
    index = order[pick]
    vector = vectors[:, index].real
    return float(values[index].real), vector / np.max(np.abs(vector))


def linear_wave(n: int, wave: str, amplitude: float = 1e-6,
                direction: tuple[int, int, int] = (1, 1, 1), cs: float = 1.0
                ) -> tuple[State, float]:
    """Initial state of a linear wave with wave vector ``2 pi direction`` and its period."""
    speed, vector = wave_eigenvector(wave, cs)
    basis = _basis(direction)
    k = 2.0 * math.pi * np.asarray(direction, float)
    x1, x2, x3, _ = _coordinates(n)
    phase = np.sin(k[0] * x1 + k[1] * x2 + k[2] * x3)
    background = np.array((0.0, 0.0, 0.0) if wave == "sound" else WAVE_FIELD) @ basis
    rho = 1.0 + amplitude * vector[0] * phase
    velocity = amplitude * (vector[1:4] @ basis)
    mom = np.stack([rho * velocity[c] * phase for c in range(3)])
    # dB = eps (B2 e2 + B3 e3) sin(k.x) from A = eps (k x b_hat) cos(k.x) / |k|**2.
    db_direction = vector[4] * basis[1] + vector[5] * basis[2]
    a_vector = amplitude * np.cross(k, db_direction) / (k @ k)

    def potential(c, y1, y2, y3):
        return a_vector[c] * np.cos(k[0] * y1 + k[1] * y2 + k[2] * y3)

    b = faces_from_potential(potential, n, background)
    period = (1.0 / np.linalg.norm(direction)) / speed
    return State(rho, mom, b), period


def circular_alfven_wave(n: int, amplitude: float = 0.1, direction: tuple[int, int, int] = (1, 1, 0),
                         b_parallel: float = 1.0) -> tuple[State, float]:
    """Circularly polarised Alfven wave, an exact nonlinear solution: ``rho = 1``,
    ``dB_perp = amplitude (sin, cos)`` of the phase, ``v_perp = -dB_perp / sqrt(rho)`` (travelling
    along ``+k``); returns the state and the period (``lambda / B_parallel``)."""
    basis = _basis(direction)
    k = 2.0 * math.pi * np.asarray(direction, float)
    x1, x2, x3, _ = _coordinates(n)
    phase = k[0] * x1 + k[1] * x2 + k[2] * x3
    rho = np.ones_like(x1)
    db = amplitude * (np.sin(phase)[None] * basis[1][:, None, None, None]
                      + np.cos(phase)[None] * basis[2][:, None, None, None])
    mom = -db
    background = b_parallel * basis[0]
    # curl of (e2 sin + e3 cos)(k.x) / |k| is (e2 sin + e3 cos)(k.x), since k_hat x e2 = e3.
    kk = np.linalg.norm(k)

    def potential(c, y1, y2, y3):
        ph = k[0] * y1 + k[1] * y2 + k[2] * y3
        return amplitude / kk * (basis[1][c] * np.sin(ph) + basis[2][c] * np.cos(ph))

    b = faces_from_potential(potential, n, background)
    period = (1.0 / np.linalg.norm(direction)) / b_parallel
    return State(rho, mom, b), period


def field_loop(n: int, amplitude: float = 1e-3, radius: float = 0.3,
               velocity: tuple[float, float, float] = (1.0, 1.0, 0.0)) -> State:
    """A weak loop ``A_3 = amplitude (radius - r)`` (r in the x1-x2 plane) in uniform flow."""
    def potential(c, y1, y2, y3):
        if c != 2:
            return np.zeros_like(y1)
        r = np.sqrt((y1 - 0.5) ** 2 + (y2 - 0.5) ** 2)
        return amplitude * np.maximum(radius - r, 0.0)

    x1, _, _, _ = _coordinates(n)
    rho = np.ones_like(x1)
    mom = np.stack([np.full_like(x1, v) for v in velocity])
    return State(rho, mom, faces_from_potential(potential, n))


def random_state(n: int, seed: int = 0, mach: float = 0.5, b0: float = 0.45,
                 db: float = 0.2) -> State:
    """Smooth random velocities (rms ``mach``) and field fluctuations (rms about ``db``) on a
    mean field ``b0`` along x1: large-scale modes ``|k| <= 3``, for conservation and decay tests."""
    rng = np.random.default_rng(seed)
    x1, x2, x3, _ = _coordinates(n)
    modes = [(a, b, c) for a in range(-3, 4) for b in range(-3, 4) for c in range(0, 4)
             if 0 < a * a + b * b + c * c <= 9]
    coefficients = rng.standard_normal((len(modes), 2, 6))

    def field(y1, y2, y3, column):
        total = np.zeros_like(y1)
        for (a, b, c), coef in zip(modes, coefficients):
            ph = 2.0 * math.pi * (a * y1 + b * y2 + c * y3)
            total += coef[0, column] * np.cos(ph) + coef[1, column] * np.sin(ph)
        return total / math.sqrt(len(modes))

    velocity = np.stack([field(x1, x2, x3, c) for c in range(3)])
    velocity *= mach / np.sqrt(np.mean(np.sum(velocity ** 2, axis=0)))

    def potential(c, y1, y2, y3):
        return db / (2.0 * math.pi) * field(y1, y2, y3, 3 + c)

    rho = np.ones_like(x1)
    return State(rho, rho * velocity, faces_from_potential(potential, n, (b0, 0.0, 0.0)))


def state_error(state: State, reference: State) -> float:
    """RMS over variables of the mean absolute error of ``rho``, momentum and cell-centred field
    (the Athena++ linear-wave error norm)."""
    def columns(s: State):
        return [np.asarray(s.rho)] + list(np.asarray(s.mom)) + list(cell_field(np.asarray(s.b)))

    errors = [np.mean(np.abs(a - r)) for a, r in zip(columns(state), columns(reference))]
    return float(np.sqrt(np.sum(np.square(errors))))
