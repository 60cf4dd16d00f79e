"""Time series of surrogate MHD + cosmic-ray turbulence boxes, written as Athena++ outputs.

Each class is one "simulation": a set of Fourier modes evolved as Ornstein-Uhlenbeck processes
(:class:`~crturb_keras.simulate.surrogate.spectral.OUModes`), from which every output builds

* ``s = ln(rho / rho0)``: a Gaussian field with the anisotropic power spectrum, normalised to
  ``sigma_s**2 = ln(1 + b**2 M_eff**2)`` before CR damping, then damped by the class transfer;
  ``rho = exp(s)`` rescaled to mean 1 (mass conservation);
* velocity = compressive part along ``k`` from ``s`` (sound waves: ``v_k ~ i k_hat s_k``) plus
  Alfvenic part polarised along ``k_hat x x1_hat`` from an independent set of modes, with kinetic
  energy split by ``solenoidal_fraction`` and total rms ``M_eff c_s``;
* ``Bcc = B0 x1_hat + dB``: fast-mode compression ``dB_k = B0 s_k (x1_hat - k_hat (k_hat . x1_hat))``
  (field lines bunch with the gas, ``|dB| / B0 = |drho / rho| sin(theta)``) plus Alfvenic
  ``dB = -sqrt(rho0) v_A``; both are divergence-free by construction;
* ``Ec`` (CR classes) from the gas as in :mod:`~crturb_keras.simulate.surrogate.config`.

Memory: about 30 float32 cube-sized arrays at peak (fields, modes, spectra, write buffers).
Measured peak RSS of a whole 5-class run (``benchmarks/simulate.py``, this 2-core machine):
120 MiB at 64**3, 390 MiB at 128**3, 2.3 GiB at 256**3 (about 23 s per 256**3 output for all five
classes), so 256**3 fits comfortably in a laptop's memory; 512**3 would need about 18 GiB.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import h5py
import numpy as np

from ..._version import __version__
from ...errors import ConfigError
from ...io.athena import write_athdf
from ...snapshot import Snapshot
from .config import (
    CLASS_PHYSICS,
    CLASSES,
    ClassPhysics,
    SurrogateConfig,
    resolve_classes,
)
from .spectral import (
    OUModes,
    Wavenumbers,
    correlation_factor,
    damping_transfer,
    gaussian_smooth_periodic,
    spectrum_amplitude,
    to_real,
)

#: CR energy density of the mean state: ``Ec0 = P_c / (gamma_c - 1)`` with ``P_c = P_g = 1``.
EC0 = 3.0
#: Initial simulation time of the first output (the boxes are taken as already saturated).
T_START = 5.0
#: File name stem of the outputs, ``<stem>.out1.<NNNNN>.athdf``.
STEM = "cr"


def class_seed(seed: int, class_name: str) -> np.random.SeedSequence:
    """Independent, repeatable random stream per (seed, class)."""
    return np.random.SeedSequence([seed, CLASSES.index(class_name)])


def _cycle(config: SurrogateConfig, time: float) -> int:
    """Plausible Athena++ cycle count: time over a CFL step ``0.3 dx / (c_f + v)``."""
    fast = math.sqrt(1.0 + 2.0 / config.beta)
    step = 0.3 / config.resolution / (fast + config.mach)
    return int(round(time / step))


def simulate_class(config: SurrogateConfig, class_name: str) -> Iterator[Snapshot]:
    """Yield the ``config.snapshots`` outputs of one class, in time order.

    Parameters
    ----------
    config : SurrogateConfig
        Resolution, turbulence parameters and seed.
    class_name : str
        One of :data:`~crturb_keras.simulate.classes.CLASSES`.

    Yields
    ------
    Snapshot
        Fields ``rho, vel1..3, Bcc1..3`` (+ ``Ec`` for CR classes), ``float32`` ``(N, N, N)``.
    """
    physics: ClassPhysics = CLASS_PHYSICS[resolve_classes([class_name])[0]]
    n = config.resolution
    rng = np.random.default_rng(class_seed(config.seed, class_name))
    waves = Wavenumbers(n)
    mach = config.mach * physics.mach_factor
    sigma_s = math.sqrt(math.log1p((config.forcing_b * mach) ** 2))
    b0 = math.sqrt(2.0 / config.beta)
    amplitude = spectrum_amplitude(waves, config)
    damping = damping_transfer(waves, physics.damping_k, physics.damping_depth)
    memory = correlation_factor(waves, config, mach)
    density_modes = OUModes(n, rng)
    alfven_modes = OUModes(n, rng)
    # Unit vectors: k_hat components and the Alfven polarisation i (k_hat x x1_hat) / |...|
    # (the factor i keeps an odd-in-k vector Hermitian, i.e. the real-space field real).
    k_hat = (waves.k1 / waves.k, waves.k2 / waves.k, waves.k3 / waves.k)
    perp = np.where(waves.k_perp > 0, waves.k_perp, 1.0)
    polar = (0.0 * waves.k, 1j * waves.k3 / perp, -1j * waves.k2 / perp)
    faces = np.linspace(0.0, 1.0, n + 1)
    attributes = {
        "SurrogateClass": class_name,
        "SurrogateConfig": config.to_json(),
        "SurrogatePhysics": json.dumps(physics.__dict__, sort_keys=True),
        "CrturbVersion": __version__,
    }
    for index in range(config.snapshots):
        if index:
            density_modes.step(memory)
            alfven_modes.step(memory)
        s_modes = amplitude * density_modes.modes
        scale = sigma_s / math.sqrt(max(waves.variance(s_modes), 1e-30))
        s_modes *= damping * np.float32(scale)
        s = to_real(s_modes, n)
        rho = np.exp(s)
        rho /= rho.mean(dtype=np.float64)

        a_modes = amplitude * alfven_modes.modes
        a_rms = math.sqrt(max(waves.variance(a_modes), 1e-30))
        alfven_scale = np.float32(mach * math.sqrt(config.solenoidal_fraction) / a_rms)
        compressive_scale = np.float32(mach * math.sqrt(1.0 - config.solenoidal_fraction) / sigma_s)
        fields = {"rho": rho.astype(np.float32)}
        for c in range(3):
            v_c = 1j * k_hat[c] * s_modes * compressive_scale
            v_a = polar[c] * a_modes * alfven_scale
            fields[f"vel{c + 1}"] = to_real(v_c + v_a, n)
            db_c = b0 * s_modes * ((1.0 if c == 0 else 0.0) - k_hat[c] * k_hat[0])
            fields[f"Bcc{c + 1}"] = to_real(db_c - v_a, n) + np.float32(b0 if c == 0 else 0.0)
        ec = _cr_energy(physics, rho, waves)
        if ec is not None:
            fields["Ec"] = ec
        time = T_START + index * config.dt
        yield Snapshot(
            fields={k: fields[k] for k in ("rho", "vel1", "vel2", "vel3", "Ec", "Bcc1", "Bcc2",
                                          "Bcc3") if k in fields},
            x1f=faces, x2f=faces, x3f=faces,
            time=time, cycle=_cycle(config, time), attributes=attributes,
        )


def _cr_energy(physics: ClassPhysics, rho: np.ndarray, waves: Wavenumbers) -> np.ndarray | None:
    if physics.ec_law == "none":
        return None
    if physics.ec_law == "adiabatic":
        return (EC0 * rho ** (4.0 / 3.0)).astype(np.float32)
    if physics.ec_law == "streaming":
        return (EC0 * rho ** (2.0 / 3.0)).astype(np.float32)
    smooth = gaussian_smooth_periodic(rho, waves, physics.diffusion_length)
    return (EC0 * np.maximum(smooth, 1e-6) ** (4.0 / 3.0)).astype(np.float32)


@dataclass(frozen=True)
class SimulationResult:
    """Files of one surrogate run: ``files[class_name]`` lists its outputs in time order."""

    out_dir: Path
    files: dict[str, list[Path]]
    written: int
    reused: int


def output_path(out_dir: Path, class_name: str, index: int) -> Path:
    """``out_dir/<class>/cr.out1.<index:05d>.athdf``, Athena++'s naming."""
    return Path(out_dir) / class_name / f"{STEM}.out1.{index:05d}.athdf"


def _existing_config(path: Path) -> str | None:
    try:
        with h5py.File(path, "r") as f:
            value = f.attrs.get("SurrogateConfig")
    except OSError:
        return None
    return value.decode() if isinstance(value, bytes) else value


def simulate(
    config: SurrogateConfig,
    out_dir: str | Path,
    classes: str | list[str] = "all",
    progress: Callable[[str, int], None] | None = None,
) -> SimulationResult:
    """Run the surrogate for several classes and write ``.athdf`` files.

    A finished output with the same configuration is kept (a re-run resumes); one made with a
    different configuration is refused, so nothing is silently overwritten.

    Parameters
    ----------
    config : SurrogateConfig
        Simulation knobs.
    out_dir : path
        Root folder; outputs go to ``out_dir/<class>/cr.out1.<NNNNN>.athdf``.
    classes : "all", comma-separated str, or list of str
        Classes to simulate.
    progress : callable, optional
        Called as ``progress(class_name, snapshot_index)`` after each output.

    Raises
    ------
    ConfigError
        If ``out_dir`` holds outputs of a different configuration.
    """
    out_dir = Path(out_dir)
    names = resolve_classes(classes)
    wanted = config.to_json()
    for name in names:
        for index in range(config.snapshots):
            path = output_path(out_dir, name, index)
            if path.exists() and _existing_config(path) != wanted:
                raise ConfigError(
                    f"{path}: exists from a different surrogate configuration (or is damaged); "
                    f"choose a new output folder or delete {out_dir}"
                )
    files: dict[str, list[Path]] = {}
    written = reused = 0
    for name in names:
        paths = [output_path(out_dir, name, i) for i in range(config.snapshots)]
        files[name] = paths
        if all(p.exists() for p in paths):
            reused += len(paths)
            if progress:
                for i in range(len(paths)):
                    progress(name, i)
            continue
        for index, snap in enumerate(simulate_class(config, name)):
            if paths[index].exists():
                reused += 1
            else:
                write_athdf(snap, paths[index], meshblock_size=config.block)
                written += 1
            if progress:
                progress(name, index)
    return SimulationResult(out_dir=out_dir, files=files, written=written, reused=reused)
