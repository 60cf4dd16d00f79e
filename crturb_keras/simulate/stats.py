"""Measured statistics of simulated (or real) turbulence boxes, per class.

These are what the tests check and what ``python -m pipelines.simulate`` reports: the width of
the log-density PDF, the spectral slope of density maps normal to the mean field (x1), and the
correlation of successive outputs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from ..snapshot import Snapshot, axis_index
from ..spectra import radial_power_spectrum, spectral_slope


@dataclass(frozen=True)
class BoxStatistics:
    """Statistics of one class's time series.

    Attributes
    ----------
    sigma_ln_rho : float
        Standard deviation of ``ln rho``, averaged over outputs.
    slope : float
        Slope of the ring-integrated spectrum of ``ln rho`` in slices normal to x1, fitted over
        ``3 <= k <= N/4`` (cycles per box); -5/3 for a Kolmogorov-like cascade.
    lag_correlation : list of float
        Pearson correlation of ``ln rho`` between output 0 and outputs 1, 2, ...
    """

    sigma_ln_rho: float
    slope: float
    lag_correlation: list[float]

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return asdict(self)


def slice_spectrum(cube: np.ndarray, axis: str = "x1") -> tuple[np.ndarray, np.ndarray]:
    """Mean ring-integrated power spectrum of all slices of ``cube`` normal to ``axis``."""
    return radial_power_spectrum(np.moveaxis(cube, axis_index(axis), 0))


def box_statistics(snapshots: Sequence[Snapshot]) -> BoxStatistics:
    """Measure :class:`BoxStatistics` from the outputs of one class, in time order."""
    logs = [np.log(s["rho"]).astype(np.float64) for s in snapshots]
    n = logs[0].shape[2]
    slopes = [spectral_slope(*slice_spectrum(s), 3, n / 4) for s in logs]
    first = logs[0].ravel() - logs[0].mean()
    lags = []
    for later in logs[1:]:
        other = later.ravel() - later.mean()
        lags.append(float(first @ other / np.sqrt((first @ first) * (other @ other))))
    return BoxStatistics(
        sigma_ln_rho=float(np.mean([s.std() for s in logs])),
        slope=float(np.mean(slopes)),
        lag_correlation=lags,
    )


def correlation_lengths(cube: np.ndarray) -> tuple[float, float, float]:
    """Lags (in cells) along x1, x2, x3 where the periodic autocorrelation of ``cube`` first falls
    below ``1/e`` (linear interpolation between lags; the half box if it never does)."""
    delta = cube - cube.mean()
    power = np.abs(np.fft.rfftn(delta)) ** 2
    correlation = np.fft.irfftn(power, s=cube.shape, axes=(0, 1, 2))
    correlation /= correlation.flat[0]
    lengths = []
    for axis in (2, 1, 0):
        profile = np.moveaxis(correlation, axis, 0)[:, 0, 0][: cube.shape[axis] // 2 + 1]
        below = np.nonzero(profile < np.exp(-1.0))[0]
        if below.size == 0:
            lengths.append(float(len(profile) - 1))
            continue
        i = int(below[0])
        a, b = profile[i - 1], profile[i]
        lengths.append(float(i - 1 + (a - np.exp(-1.0)) / (a - b)))
    return lengths[0], lengths[1], lengths[2]


def turbulence_statistics(snapshots: Sequence[Snapshot], sound_speed: float = 1.0) -> dict:
    """Statistics of a driven MHD run's outputs, averaged over outputs.

    Returns a dict with ``mach_sonic`` (mass-weighted rms velocity over ``c_s``), ``mach_alfven``
    (the same over the mean-field Alfven speed), ``beta`` (of the mean field), ``sigma_ln_rho``,
    ``slope`` (of ``ln rho`` slices normal to x1, as :func:`box_statistics`) and ``anisotropy``
    (``1/e`` correlation length of ``ln rho`` along x1 over the mean of x2 and x3: above 1 when
    structures are elongated along the mean field) and ``pc_over_pg`` (``<P_c> / <P_g>`` with
    ``P_c = E_c / 3``; 0 for snapshots without ``Ec``).
    """
    rows = []
    for snap in snapshots:
        rho = snap["rho"].astype(np.float64)
        speed2 = sum(snap[f"vel{c}"].astype(np.float64) ** 2 for c in (1, 2, 3))
        v_rms = np.sqrt(np.sum(rho * speed2) / np.sum(rho))
        mean_b = np.array([snap[f"Bcc{c}"].mean(dtype=np.float64) for c in (1, 2, 3)])
        b_mean = float(np.linalg.norm(mean_b))
        v_alfven = b_mean / np.sqrt(rho.mean())
        log = np.log(rho)
        l1, l2, l3 = correlation_lengths(log)
        rows.append({
            "mach_sonic": v_rms / sound_speed,
            "mach_alfven": v_rms / v_alfven if v_alfven > 0 else float("inf"),
            "beta": 2.0 * rho.mean() * sound_speed ** 2 / b_mean ** 2 if b_mean > 0 else float("inf"),
            "sigma_ln_rho": float(log.std()),
            "slope": spectral_slope(*slice_spectrum(log), 3, log.shape[2] / 4),
            "anisotropy": l1 / (0.5 * (l2 + l3)),
            "pc_over_pg": (float(snap["Ec"].mean(dtype=np.float64)) / 3.0
                           / (sound_speed ** 2 * float(rho.mean())) if "Ec" in snap.fields else 0.0),
        })
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
