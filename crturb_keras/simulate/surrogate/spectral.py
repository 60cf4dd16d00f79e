"""Fourier-space machinery of the surrogate: wavenumber grids, spectra, and OU-evolved modes.

Arrays are real-FFT half spaces of a ``(nx3, nx2, nx1)`` cube: shape ``(N, N, N // 2 + 1)`` with
the last (halved) axis along x1, the mean-field direction. Wavenumbers are in cycles per box.
``scipy.fft`` keeps ``float32`` / ``complex64`` end to end, which halves memory against numpy.
"""

from __future__ import annotations

import numpy as np
from scipy import fft

from .config import SurrogateConfig


class Wavenumbers:
    """Wavenumber components and magnitudes of an ``N**3`` periodic box (cycles per box).

    Attributes
    ----------
    k1, k2, k3 : ndarray
        Broadcastable components along x1 ``(1, 1, N//2+1)``, x2 ``(1, N, 1)``, x3 ``(N, 1, 1)``.
    k : ndarray
        ``|k|``, ``float32`` of shape ``(N, N, N//2+1)``; the mean mode holds 1 to avoid 0/0.
    k_perp : ndarray
        Wavenumber perpendicular to x1, same shape.
    weights : ndarray
        Parseval weights of the half space (2 for modes whose conjugate is not stored).
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.k1 = fft.rfftfreq(n, 1.0 / n).astype(np.float32)[None, None, :]
        self.k2 = fft.fftfreq(n, 1.0 / n).astype(np.float32)[None, :, None]
        self.k3 = fft.fftfreq(n, 1.0 / n).astype(np.float32)[:, None, None]
        self.k_perp = np.sqrt(self.k2 ** 2 + self.k3 ** 2) + 0 * self.k1
        self.k = np.sqrt(self.k_perp ** 2 + self.k1 ** 2)
        self.k[0, 0, 0] = 1.0
        weights = np.full(n // 2 + 1, 2.0, dtype=np.float32)
        weights[0] = 1.0
        weights[-1] = 1.0
        self.weights = weights[None, None, :]

    def variance(self, modes: np.ndarray) -> float:
        """Variance of the real field whose unnormalised ``rfftn`` is ``modes`` (Parseval)."""
        power = (modes.real ** 2 + modes.imag ** 2) * self.weights
        return float(power.sum(dtype=np.float64) - power[0, 0, 0]) / float(self.n) ** 6


def spectrum_amplitude(waves: Wavenumbers, config: SurrogateConfig) -> np.ndarray:
    """Square root of the 3-D power spectrum ``P(k)`` with driving cut-off and GS anisotropy.

    The isotropic shape is ``P(k) ~ k**-(alpha + 2) / (1 + (k_d / k)**8)``: a power law above the
    driving wavenumber ``k_d`` (the shell-integrated 1-D spectrum goes as ``k**-alpha``) with a
    steep cut-off below it, so the inertial range starts right after the driving scale. Goldreich-Sridhar anisotropy maps a
    mode to the effective wavenumber ``sqrt(k_perp**2 + (k_par * g)**2)`` with
    ``g = (max(k_perp, k_d) / k_d)**(a / 3)``: at perpendicular scale ``k_perp`` power extends to
    ``k_par ~ k_d**(1/3) k_perp**(2/3)`` only, i.e. eddies elongated along x1. Multiplying by ``g``
    keeps the perpendicular spectrum (what a slice normal to x1 shows) at slope ``-alpha``.
    """
    alpha, k_d = config.spectral_index, config.k_drive
    g = (np.maximum(waves.k_perp, k_d) / k_d) ** (config.anisotropy / 3.0)
    k_eff = np.sqrt(waves.k_perp ** 2 + (waves.k1 * g) ** 2)
    k_eff[0, 0, 0] = 1.0
    power = g * k_eff ** -(alpha + 2.0) / (1.0 + (k_d / k_eff) ** 8)
    power[0, 0, 0] = 0.0
    # Nyquist planes are their own conjugates: a vector field built from them could not be both
    # real and divergence-free, so they carry no power (the usual dealiasing of spectral codes).
    half = waves.n // 2
    power[half, :, :] = power[:, half, :] = power[:, :, half] = 0.0
    return np.sqrt(power).astype(np.float32)


def damping_transfer(waves: Wavenumbers, k_damp: float | None, depth: float) -> np.ndarray:
    """Amplitude transfer of CR damping: ``1 - depth * (1 - exp(-(k / k_damp)**2 / 2))``.

    With ``depth = 1`` this is exactly a Gaussian blur of width ``1 / (2 pi k_damp)`` box lengths;
    a depth below 1 leaves a floor of small-scale structure.
    """
    if k_damp is None or depth == 0.0:
        return np.ones_like(waves.k)
    blur = np.exp(-0.5 * (waves.k / k_damp) ** 2)
    return (1.0 - depth * (1.0 - blur)).astype(np.float32)


def correlation_factor(waves: Wavenumbers, config: SurrogateConfig, mach: float) -> np.ndarray:
    """OU memory ``exp(-dt / tau_k)`` per mode over one output interval.

    The eddy turnover time at the driving scale is ``tau_d = 1 / (k_d * mach)`` (box length over
    ``k_d``, divided by the rms velocity ``mach * c_s``) and shortens as ``(k / k_d)**(-2/3)``
    in a Kolmogorov-like cascade, so large scales persist between outputs while small ones
    decorrelate.
    """
    tau_d = 1.0 / (config.k_drive * mach)
    tau = tau_d * (np.maximum(waves.k, config.k_drive) / config.k_drive) ** (-2.0 / 3.0)
    return np.exp(-config.dt / tau).astype(np.float32)


class OUModes:
    """Unit-variance complex Gaussian modes, each an Ornstein-Uhlenbeck process in time.

    Parameters
    ----------
    n : int
        Cube size.
    rng : numpy.random.Generator
        Source of the white noise (drawn in real space, so Hermitian symmetry holds exactly).
    """

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.n = n
        self.rng = rng
        self.modes = self._white()

    def _white(self) -> np.ndarray:
        noise = self.rng.standard_normal((self.n,) * 3, dtype=np.float32)
        return fft.rfftn(noise, workers=-1) / np.float32(self.n ** 1.5)

    def step(self, memory: np.ndarray) -> np.ndarray:
        """Advance one interval: ``a <- f a + sqrt(1 - f**2) xi`` (stationary, unit variance)."""
        innovation = self._white()
        innovation *= np.sqrt(1.0 - memory ** 2)
        self.modes *= memory
        self.modes += innovation
        return self.modes


def to_real(modes: np.ndarray, n: int) -> np.ndarray:
    """Inverse real FFT of a half-space array to a ``float32`` ``(N, N, N)`` cube."""
    return fft.irfftn(modes, s=(n, n, n), workers=-1).astype(np.float32, copy=False)


def gaussian_smooth_periodic(field: np.ndarray, waves: Wavenumbers, length: float) -> np.ndarray:
    """Smooth a periodic cube with a Gaussian of width ``length`` box lengths (in Fourier space)."""
    if length <= 0:
        return field
    kernel = np.exp(-2.0 * (np.pi * waves.k * length) ** 2).astype(np.float32)
    kernel[0, 0, 0] = 1.0
    return to_real(fft.rfftn(field, workers=-1) * kernel, waves.n)
