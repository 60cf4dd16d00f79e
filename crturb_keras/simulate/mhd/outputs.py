"""Where a run's ``.athdf`` outputs go and in which units they are written.

The solver works in ``L = c_s = rho0 = 1``; a run set up from an Athena++ input file writes its
outputs in that file's units and with Athena++'s file names, so the same analysis reads both.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ..._version import __version__
from ...errors import ConfigError
from ...snapshot import Snapshot
from .config import MHDConfig


@dataclass(frozen=True)
class OutputUnits:
    """Scales from the solver's units (``L = c_s = rho0 = 1``) to those of the written files.

    Attributes
    ----------
    length : float
        Box size ``L``.
    origin : tuple of float
        ``(x1min, x2min, x3min)`` of the box.
    velocity : float
        Sound speed ``c_s``.
    density : float
        Mean density ``rho0``.
    """

    length: float = 1.0
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    velocity: float = 1.0
    density: float = 1.0

    @property
    def time(self) -> float:
        """Time unit ``L / c_s``."""
        return self.length / self.velocity

    def scale(self, name: str) -> float:
        """Factor that takes field ``name`` from code units to these units."""
        if name == "rho":
            return self.density
        if name.startswith("vel"):
            return self.velocity
        if name.startswith("Bcc"):
            return math.sqrt(self.density) * self.velocity
        if name == "Ec" or name.startswith("Fc"):
            return self.density * self.velocity ** 2
        raise ConfigError(f"no unit known for field {name!r}")

    @property
    def identity(self) -> bool:
        """True when files are written in the solver's own units."""
        return self == OutputUnits()


@dataclass(frozen=True)
class OutputNaming:
    """How output files are named: ``<stem>.out<block>.<NNNNN>.athdf``."""

    stem: str = "cr"
    block: int = 1


def output_path(folder: str | Path, index: int, naming: OutputNaming = OutputNaming()) -> Path:
    """``folder/<stem>.out<block>.<index:05d>.athdf``."""
    return Path(folder) / f"{naming.stem}.out{naming.block}.{index:05d}.athdf"


def output_fields(cells: Mapping[str, np.ndarray | None], units: OutputUnits = OutputUnits()
                  ) -> dict[str, np.ndarray]:
    """The written variables, float32 in ``units``, from cell data in code units: ``rho``
    ``(n3, N2, N1)``, ``mom`` and ``bcc`` (cell-centred) ``(3, n3, N2, N1)``, ``ec`` and ``flux``
    (None without CRs); the whole box or one process's x3 planes of it."""
    rho = np.asarray(cells["rho"], np.float64)
    mom = np.asarray(cells["mom"], np.float64)
    fields = {"rho": rho}
    fields.update({f"vel{c + 1}": mom[c] / rho for c in range(3)})
    if cells.get("ec") is not None:
        fields["Ec"] = np.asarray(cells["ec"], np.float64)
        flux = np.asarray(cells["flux"], np.float64)
        fields.update({f"Fc{c + 1}": flux[c] for c in range(3)})
    bcc = np.asarray(cells["bcc"], np.float64)
    fields.update({f"Bcc{c + 1}": bcc[c] for c in range(3)})
    return {k: (v * units.scale(k)).astype(np.float32) for k, v in fields.items()}


def output_header(time: float, cycle: int, config: MHDConfig, name: str, dedt: float,
                  units: OutputUnits = OutputUnits()) -> Snapshot:
    """Everything of an output but its cells (a Snapshot without fields): faces, time and cycle
    in ``units``, and the configuration in the attributes."""
    faces = [units.origin[d] + units.length * np.linspace(0.0, 1.0, config.resolution + 1)
             for d in range(3)]
    solver = f"crturb-keras isothermal MHD: VL2 + PLM + {config.riemann.upper()} + CT"
    if config.cosmic_rays:
        solver += " + two-moment CRs (Jiang & Oh 2018)"
    attributes = {"SimulationClass": name, "MHDConfig": config.to_json(),
                  "InjectionRate": float(dedt), "CrturbVersion": __version__, "Solver": solver}
    if not units.identity:
        attributes["CodeUnits"] = json.dumps(dataclasses.asdict(units))
    return Snapshot(fields={}, x1f=faces[0], x2f=faces[1], x3f=faces[2],
                    time=float(time) * units.time, cycle=int(cycle), attributes=attributes)
