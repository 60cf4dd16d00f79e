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
