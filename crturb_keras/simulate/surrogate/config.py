"""Knobs of the surrogate simulator and the physics that tells the five classes apart.

Code units follow isothermal Athena++ boxes: box size ``L = 1``, sound speed ``c_s = 1``, mean
density ``rho0 = 1`` (so gas pressure ``P_g = 1``), and magnetic fields with ``sqrt(4 pi)``
absorbed, so the magnetic pressure is ``B**2 / 2`` and ``B0 = sqrt(2 / beta)``.

Class physics (facts from the literature; numbers are this surrogate's choices):

* ``MHD`` -- driven, subsonic MHD turbulence: log-normal density with
  ``sigma_s**2 = ln(1 + b**2 M**2)`` (Padoan, Nordlund & Jones 1997; Federrath et al. 2008) and
  eddies elongated along the mean field (Goldreich & Sridhar 1995).
* ``CR_Advect`` -- CRs locked to the gas add pressure: the effective sound speed rises to
  ``sqrt(c_s**2 + gamma_c P_c / rho)`` so the effective Mach number falls (Bustard & Oh 2023);
  ``Ec`` is adiabatic, ``Ec ~ rho**(4/3)``.
* ``CR_Diff_Fiducial`` -- diffusing CRs damp the compressive cascade below the diffusion scale
  (Bustard & Oh 2023, "Cosmic Ray Drag and Damping of Compressive Turbulence"): an exponential
  cut-off of compressive power, i.e. a blurred density map; ``Ec`` follows density smoothed over
  the diffusion length.
* ``CR_Diff100`` -- 100x faster diffusion decouples the CRs: weak damping only at the smallest
  scales; the diffusion length is ``sqrt(100) = 10`` times longer, so ``Ec`` is nearly uniform.
* ``CR_Streaming`` -- streaming at the Alfven speed drains large-scale kinetic energy (up to ~10x
  in Bustard & Oh 2023) while keeping the spectral slope; ``Ec ~ rho**(gamma_c / 2) = rho**(2/3)``
  (Wiener, Zweibel & Oh 2017 for the streaming adiabat).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

from ...checks import check_finite
from ...errors import ConfigError
from ...io.athena import meshblock_edge
from ..classes import CLASSES


@dataclass(frozen=True)
class ClassPhysics:
    """How one cosmic-ray transport class modifies the MHD baseline.

    Attributes
    ----------
    name : str
        Class name (also the output folder).
    mach_factor : float
        Effective Mach number / baseline Mach number (kinetic energy scales as its square).
    damping_k : float or None
        Wavenumber (cycles per box) of the exponential cut-off of compressive modes; None = none.
    damping_depth : float
        Fraction of compressive amplitude removed well beyond ``damping_k`` (0 = none, 1 = all).
    ec_law : {"none", "adiabatic", "streaming", "diffusive"}
        How the CR energy density follows the gas.
    diffusion_length : float
        Gaussian smoothing length of density for ``ec_law="diffusive"``, in box lengths.
    """

    name: str
    mach_factor: float = 1.0
    damping_k: float | None = None
    damping_depth: float = 0.0
    ec_law: str = "none"
    diffusion_length: float = 0.0


#: CR-to-gas pressure ratio used for CR classes (equipartition, as in Bustard & Oh 2023).
CR_PRESSURE_RATIO = 1.0
_ADVECT_MACH = 1.0 / math.sqrt(1.0 + (4.0 / 3.0) * CR_PRESSURE_RATIO)

CLASS_PHYSICS: dict[str, ClassPhysics] = {
    "MHD": ClassPhysics("MHD"),
    "CR_Advect": ClassPhysics("CR_Advect", mach_factor=_ADVECT_MACH, ec_law="adiabatic"),
    "CR_Diff_Fiducial": ClassPhysics(
        "CR_Diff_Fiducial", mach_factor=0.9, damping_k=6.0, damping_depth=0.85,
        ec_law="diffusive", diffusion_length=0.05,
    ),
    "CR_Diff100": ClassPhysics(
        "CR_Diff100", mach_factor=0.97, damping_k=16.0, damping_depth=0.5,
        ec_law="diffusive", diffusion_length=0.5,
    ),
    "CR_Streaming": ClassPhysics("CR_Streaming", mach_factor=0.5, ec_law="streaming"),
}

@dataclass(frozen=True)
class SurrogateConfig:
    """Every knob of the surrogate simulator (stored as JSON in each output file).

    Attributes
    ----------
    resolution : int
        Cells per side of the cube ``N`` (``N**3`` cells); even, at least 8.
    snapshots : int
        Outputs per class, spaced by ``dt``.
    dt : float
        Time between outputs in code units (the driving-scale eddy turnover time of MHD is
        ``1 / (k_drive * mach)`` = 1 with the defaults).
    mach : float
        Sonic Mach number of the MHD baseline.
    forcing_b : float
        Forcing parameter ``b`` in ``sigma_s**2 = ln(1 + b**2 M**2)`` (1/3 solenoidal, 1 compressive).
    beta : float
        Plasma beta of the mean field, ``P_g / (B0**2 / 2)``.
    spectral_index : float
        Slope ``alpha`` of the 1-D density spectrum ``E(k) ~ k**-alpha`` in the inertial range.
    k_drive : float
        Driving wavenumber (cycles per box): power falls off below it.
    anisotropy : float
        Strength of Goldreich-Sridhar elongation along x1: 0 isotropic, 1 ``k_par ~ k_perp**(2/3)``.
    solenoidal_fraction : float
        Fraction of kinetic energy in Alfvenic (solenoidal) motions.
    meshblock : int
        MeshBlock size of the written ``.athdf`` files (clipped to the resolution).
    seed : int
        Root seed; each class draws from its own stream, so runs are independent but repeatable.
    """

    resolution: int = 64
    snapshots: int = 4
    dt: float = 0.25
    mach: float = 0.5
    forcing_b: float = 1.0
    beta: float = 10.0
    spectral_index: float = 5.0 / 3.0
    k_drive: float = 2.0
    anisotropy: float = 1.0
    solenoidal_fraction: float = 0.5
    meshblock: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        check_finite(self, "surrogate")
        checks = [
            (self.resolution >= 8 and self.resolution % 2 == 0, "resolution must be even and >= 8"),
            (self.snapshots >= 1, "snapshots must be >= 1"),
            (self.dt > 0, "dt must be > 0"),
            (self.mach > 0, "mach must be > 0"),
            (self.forcing_b > 0, "forcing_b must be > 0"),
            (self.beta > 0, "beta must be > 0"),
            (0 < self.spectral_index < 6, "spectral_index must be in (0, 6)"),
            (0 < self.k_drive < self.resolution / 2, "k_drive must be in (0, resolution / 2)"),
            (0 <= self.anisotropy <= 1, "anisotropy must be in [0, 1]"),
            (0 <= self.solenoidal_fraction <= 1, "solenoidal_fraction must be in [0, 1]"),
            (self.meshblock >= 1, "meshblock must be >= 1"),
        ]
        bad = [message for ok, message in checks if not ok]
        if bad:
            raise ConfigError(f"invalid surrogate configuration: {'; '.join(bad)}")

    @property
    def block(self) -> int:
        """MeshBlock edge actually used: the largest divisor of the resolution <= ``meshblock``."""
        return meshblock_edge(self.resolution, self.meshblock)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys), the form stored in file attributes."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SurrogateConfig":
        """Inverse of :meth:`to_json`."""
        return cls(**json.loads(text))


def resolve_classes(names: str | list[str] | tuple[str, ...]) -> list[str]:
    """Turn ``"all"``, ``"MHD,CR_Advect"`` or a list into validated class names (canonical order)."""
    if isinstance(names, str):
        names = list(CLASSES) if names.strip() == "all" else [n.strip() for n in names.split(",")]
    unknown = [n for n in names if n not in CLASS_PHYSICS]
    if unknown or not names:
        raise ConfigError(
            f"unknown class(es) {', '.join(unknown) or '(none given)'}; choose from "
            f"{', '.join(CLASSES)} or 'all'"
        )
    return [c for c in CLASSES if c in names]
