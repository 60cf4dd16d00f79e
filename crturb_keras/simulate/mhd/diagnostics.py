"""Volume-averaged quantities of an MHD state, as in an Athena++ history (``.hst``) file."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ...io.atomic import atomic_path
from .scheme import State

#: Columns of the history file, in order (Athena++ style: time and dt first, then box sums/means).
HISTORY_COLUMNS = ("time", "dt", "mass", "kinetic_energy", "magnetic_energy", "total_energy",
                   "mach_sonic", "mach_alfven", "dedt", "injected_energy", "cr_energy",
                   "cr_pressure_ratio", "max_signal_speed")


def cell_field(b: np.ndarray, above: np.ndarray | None = None) -> np.ndarray:
    """Cell-centred field ``(3, n3, N2, N1)`` from the face field (mean of opposite faces).

    ``b`` holds the whole box (periodic along every axis), or with ``above`` (the ``b3`` plane
    just above it, ``(N2, N1)``) ``n3`` consecutive x3 planes of it: one process's slab.
    """
    b3 = b[2]
    upper = np.roll(b3, -1, axis=0) if above is None else np.concatenate([b3[1:], above[None]])
    return np.stack([0.5 * (b[d] + np.roll(b[d], -1, axis=2 - d)) for d in range(2)]
                    + [0.5 * (b3 + upper)])


#: What :func:`slab_sums` adds up, in order; the last two are a maximum and a count.
SUM_COLUMNS = ("cells", "rho", "kinetic", "magnetic", "bcc1", "bcc2", "bcc3", "rho_ln_rho",
               "ec", "max_signal_speed", "non_finite")


def slab_sums(rho: np.ndarray, mom: np.ndarray, bcc: np.ndarray, ec: np.ndarray | None,
              sound_speed: float) -> np.ndarray:
    """Sums over some cells (the box, or one process's slab) from which :func:`box_means`
    follows: float64 vector in the order of :data:`SUM_COLUMNS` (``rho (n3, N2, N1)``,
    ``mom`` and ``bcc (3, n3, N2, N1)``, ``ec`` like ``rho`` or None without CRs)."""
    rho = np.asarray(rho, np.float64)
    mom = np.asarray(mom, np.float64)
    bcc = np.asarray(bcc, np.float64)
    ec = np.zeros_like(rho) if ec is None else np.asarray(ec, np.float64)
    b_squared = np.sum(bcc * bcc, axis=0)
    m_squared = np.sum(mom * mom, axis=0)
    fast = np.sqrt(sound_speed ** 2 + (4.0 / 9.0 * ec + b_squared) / rho)
    speed = np.sqrt(m_squared) / rho
    return np.array([rho.size, rho.sum(), np.sum(m_squared / rho), b_squared.sum(),
                     *(bcc[c].sum() for c in range(3)), np.sum(rho * np.log(rho)), ec.sum(),
                     np.max(speed + fast), np.count_nonzero(~np.isfinite(rho))], np.float64)


def combine_sums(rows: np.ndarray) -> np.ndarray:
    """The box's :func:`slab_sums` from those of its slabs ``(slabs, len(SUM_COLUMNS))``,
    added in row order (every process combines the same rows the same way)."""
    rows = np.asarray(rows, np.float64)
    total = rows[0].copy()
    for row in rows[1:]:
        total += row
    total[-2] = rows[:, -2].max()
    return total


def means_from_sums(sums: np.ndarray, sound_speed: float) -> dict[str, float]:
    """The box means of :func:`box_means` (and ``finite``: no cell's density is NaN or
    infinite) from the box's :func:`slab_sums`."""
    cells = sums[0]
    mass = sums[1] / cells
    kinetic = 0.5 * (sums[2] / cells)
    magnetic = 0.5 * (sums[3] / cells)
    v_rms = np.sqrt(2.0 * kinetic / mass)
    v_alfven = np.linalg.norm(sums[4:7] / cells) / np.sqrt(mass)
    ec = sums[8] / cells
    return {
        "mass": float(mass), "kinetic_energy": float(kinetic), "magnetic_energy": float(magnetic),
        "total_energy": float(kinetic + magnetic + sound_speed ** 2 * (sums[7] / cells)),
        "mach_sonic": float(v_rms / sound_speed),
        "mach_alfven": float(v_rms / v_alfven) if v_alfven > 0 else float("inf"),
        "cr_energy": float(ec),
        "cr_pressure_ratio": float(ec / 3.0 / (sound_speed ** 2 * mass)),
        "max_signal_speed": float(sums[9]),
        "finite": bool(sums[10] == 0),
    }


def box_means(state: State, sound_speed: float, ec=None) -> dict[str, float]:
    """Mass, kinetic and magnetic energy per unit volume, the isothermal total energy of the gas
    ``<rho v**2 / 2 + B**2 / 2 + c_s**2 rho ln rho>`` (conserved by ideal isothermal MHD, so it
    changes only by driving, dissipation and exchange with CRs), sonic Mach number (mass-weighted
    rms velocity over ``c_s``), Alfven Mach number (rms velocity over the mean-field Alfven
    speed), the mean CR energy density ``<E_c>`` and ``<P_c> / <P_g>`` (0 without CRs ``ec``), and
    the fastest signal speed (fast speed with the pressure of locked CRs, plus ``|v|``)."""
    bcc = cell_field(np.asarray(state.b, np.float64))
    return means_from_sums(slab_sums(state.rho, state.mom, bcc, ec, sound_speed), sound_speed)


def write_history(rows: Sequence[Sequence[float]], path: str | Path) -> Path:
    """Write an Athena++-style ``.hst`` text file (``# [1]=time [2]=dt ...`` header), atomically."""
    header = "# Athena++ history data (crturb-keras MHD solver; per unit volume)\n# " + " ".join(
        f"[{i + 1}]={name}" for i, name in enumerate(HISTORY_COLUMNS))
    with atomic_path(path) as tmp:
        np.savetxt(tmp, np.asarray(rows, np.float64).reshape(-1, len(HISTORY_COLUMNS)),
                   fmt="%.8e", header=header, comments="")
    return Path(path)


def read_history(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of a history file written by :func:`write_history`."""
    data = np.loadtxt(path, comments="#", ndmin=2)
    return {name: data[:, i] for i, name in enumerate(HISTORY_COLUMNS)}
