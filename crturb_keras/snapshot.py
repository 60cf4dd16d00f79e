"""One simulation snapshot in memory: 3-D fields on a uniform Cartesian mesh plus metadata.

Athena++ stores each cell-centred variable as ``(nx3, nx2, nx1)`` with ``x1`` varying fastest; a
:class:`Snapshot` keeps that order and names axes physically (``"x1"``, ``"x2"``, ``"x3"``). The mean
magnetic field of the turbulence boxes lies along ``x1``.

Derived fields are computed on request from the stored ones:

``magnetic_energy_density``
    ``(Bcc1**2 + Bcc2**2 + Bcc3**2) / 2`` in code units (Athena++ absorbs ``sqrt(4 pi)`` into B).
``log10_rho``
    ``log10(rho)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import numpy as np

from .errors import ConfigError, DataFormatError

#: Physical axis name -> numpy axis of a ``(nx3, nx2, nx1)`` array.
AXES: dict[str, int] = {"x3": 0, "x2": 1, "x1": 2}


def axis_index(axis: str) -> int:
    """Return the numpy axis of a ``(nx3, nx2, nx1)`` array for a physical axis name.

    Raises
    ------
    ValueError
        If ``axis`` is not one of ``"x1"``, ``"x2"``, ``"x3"``.
    """
    try:
        return AXES[axis]
    except KeyError:
        raise ConfigError(f"axis must be one of 'x1', 'x2', 'x3', got {axis!r}") from None


def _magnetic_energy_density(get: Callable[[str], np.ndarray]) -> np.ndarray:
    b1, b2, b3 = get("Bcc1"), get("Bcc2"), get("Bcc3")
    return (0.5 * (b1 * b1 + b2 * b2 + b3 * b3)).astype(np.float32)


def _log10_rho(get: Callable[[str], np.ndarray]) -> np.ndarray:
    return np.log10(get("rho")).astype(np.float32)


#: Derived field name -> (stored fields it needs, function computing it from a getter).
DERIVED: dict[str, tuple[tuple[str, ...], Callable[[Callable[[str], np.ndarray]], np.ndarray]]] = {
    "magnetic_energy_density": (("Bcc1", "Bcc2", "Bcc3"), _magnetic_energy_density),
    "log10_rho": (("rho",), _log10_rho),
}


def stored_requirements(names: list[str] | tuple[str, ...]) -> list[str]:
    """Expand derived field names into the stored variables needed, keeping order, no repeats."""
    needed: list[str] = []
    for name in names:
        for base in DERIVED[name][0] if name in DERIVED else (name,):
            if base not in needed:
                needed.append(base)
    return needed


@dataclass(frozen=True)
class Snapshot:
    """Fields of one output time of a uniform 3-D mesh.

    Attributes
    ----------
    fields : dict of str to ndarray
        Cell-centred variables, each ``float32`` of shape ``(nx3, nx2, nx1)``.
    x1f, x2f, x3f : ndarray
        Cell faces along each axis, shapes ``(nx1 + 1,)``, ``(nx2 + 1,)``, ``(nx3 + 1,)``.
    time : float
        Simulation time in code units.
    cycle : int
        Integration cycle (``NumCycles`` in Athena++ files).
    coordinates : str
        Athena++ coordinate system, e.g. ``"cartesian"``.
    sources : tuple of str
        Files the snapshot was read from (empty for in-memory snapshots).
    attributes : dict
        Other metadata (file attributes decoded to Python types, surrogate configuration, ...).
    """

    fields: Mapping[str, np.ndarray]
    x1f: np.ndarray
    x2f: np.ndarray
    x3f: np.ndarray
    time: float = 0.0
    cycle: int = 0
    coordinates: str = "cartesian"
    sources: tuple[str, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        expected = (len(self.x3f) - 1, len(self.x2f) - 1, len(self.x1f) - 1)
        for name, data in self.fields.items():
            if data.shape != expected:
                raise DataFormatError(
                    f"{self._where()}: field {name!r} has shape {data.shape}, expected "
                    f"(nx3, nx2, nx1) = {expected} from the cell faces"
                )

    def _where(self) -> str:
        return ", ".join(self.sources) if self.sources else "in-memory snapshot"

    @property
    def shape(self) -> tuple[int, int, int]:
        """Mesh shape ``(nx3, nx2, nx1)``."""
        return (len(self.x3f) - 1, len(self.x2f) - 1, len(self.x1f) - 1)

    @property
    def x1v(self) -> np.ndarray:
        """Cell centres along x1, shape ``(nx1,)``."""
        return 0.5 * (self.x1f[:-1] + self.x1f[1:])

    @property
    def x2v(self) -> np.ndarray:
        """Cell centres along x2, shape ``(nx2,)``."""
        return 0.5 * (self.x2f[:-1] + self.x2f[1:])

    @property
    def x3v(self) -> np.ndarray:
        """Cell centres along x3, shape ``(nx3,)``."""
        return 0.5 * (self.x3f[:-1] + self.x3f[1:])

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        """Domain bounds ``{"x1": (min, max), ...}`` in code length units."""
        return {
            "x1": (float(self.x1f[0]), float(self.x1f[-1])),
            "x2": (float(self.x2f[0]), float(self.x2f[-1])),
            "x3": (float(self.x3f[0]), float(self.x3f[-1])),
        }

    @property
    def names(self) -> list[str]:
        """Names of the stored fields, in file order."""
        return list(self.fields)

    def __getitem__(self, name: str) -> np.ndarray:
        """Return a stored or derived field as ``float32`` ``(nx3, nx2, nx1)``."""
        if name in self.fields:
            return self.fields[name]
        if name in DERIVED:
            needs, compute = DERIVED[name]
            missing = [n for n in needs if n not in self.fields]
            if missing:
                raise DataFormatError(
                    f"{self._where()}: derived field {name!r} needs {', '.join(missing)}, which "
                    f"the snapshot lacks (it has {', '.join(self.fields) or 'no fields'})"
                )
            return compute(self.fields.__getitem__)
        raise DataFormatError(
            f"{self._where()}: no field {name!r}; stored: {', '.join(self.fields) or 'none'}; "
            f"derived: {', '.join(DERIVED)}"
        )

    def __contains__(self, name: object) -> bool:
        if name in self.fields:
            return True
        return name in DERIVED and all(n in self.fields for n in DERIVED[name][0])

    def select(self, names: list[str] | tuple[str, ...]) -> "Snapshot":
        """Return a snapshot holding exactly ``names`` (stored or derived), in that order."""
        return replace(self, fields={name: self[name] for name in names})
