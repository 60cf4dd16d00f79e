"""Where a run's ``.athdf`` outputs go and in which units they are written.

The solver works in ``L = c_s = rho0 = 1``; a run set up from an Athena++ input file writes its
outputs in that file's units and with Athena++'s file names, so the same analysis reads both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError


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
