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


def cell_field(b: np.ndarray) -> np.ndarray:
    """Cell-centred field ``(3, N3, N2, N1)`` from the face field (mean of opposite faces)."""
    return np.stack([0.5 * (b[d] + np.roll(b[d], -1, axis=2 - d)) for d in range(3)])


def box_means(state: State, sound_speed: float, ec=None) -> dict[str, float]:
    """Mass, kinetic and magnetic energy per unit volume, the isothermal total energy of the gas
    ``<rho v**2 / 2 + B**2 / 2 + c_s**2 rho ln rho>`` (conserved by ideal isothermal MHD, so it
    changes only by driving, dissipation and exchange with CRs), sonic Mach number (mass-weighted
    rms velocity over ``c_s``), Alfven Mach number (rms velocity over the mean-field Alfven
    speed), the mean CR energy density ``<E_c>`` and ``<P_c> / <P_g>`` (0 without CRs ``ec``), and
    the fastest signal speed (fast speed with the pressure of locked CRs, plus ``|v|``)."""
    rho = np.asarray(state.rho, np.float64)
    mom = np.asarray(state.mom, np.float64)
    bcc = cell_field(np.asarray(state.b, np.float64))
    mass = float(rho.mean())
    kinetic = float(0.5 * np.mean(np.sum(mom * mom, axis=0) / rho))
    magnetic = float(0.5 * np.mean(np.sum(bcc * bcc, axis=0)))
    v_rms = np.sqrt(2.0 * kinetic / mass)
    mean_field = np.linalg.norm(bcc.reshape(3, -1).mean(axis=1))
    v_alfven = mean_field / np.sqrt(mass)
    ec = np.zeros_like(rho) if ec is None else np.asarray(ec, np.float64)
    fast = np.sqrt(sound_speed ** 2 + (4.0 / 9.0 * ec + np.sum(bcc * bcc, axis=0)) / rho)
    speed = np.sqrt(np.sum(mom * mom, axis=0)) / rho
    return {
        "mass": mass, "kinetic_energy": kinetic, "magnetic_energy": magnetic,
        "total_energy": kinetic + magnetic + sound_speed ** 2 * float(np.mean(rho * np.log(rho))),
        "mach_sonic": float(v_rms / sound_speed),
        "mach_alfven": float(v_rms / v_alfven) if v_alfven > 0 else float("inf"),
        "cr_energy": float(ec.mean()),
        "cr_pressure_ratio": float(ec.mean() / 3.0 / (sound_speed ** 2 * mass)),
        "max_signal_speed": float(np.max(speed + fast)),
    }


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
