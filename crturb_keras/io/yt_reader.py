"""Outputs of any code yt reads (FLASH, Enzo, RAMSES, Gadget/AREPO, Athena/Athena++, adaptive
meshes included) as a :class:`~crturb_keras.snapshot.Snapshot`, through yt's uniform
``covering_grid`` at one refinement level.

yt is optional (``pip install yt``; the ``dev`` extra installs it). Field values are kept in the
units yt reports for the field chosen (code units for Athena++'s own ``("athena_pp", ...)``
fields; yt's units, e.g. g/cm**3, for ``("gas", ...)`` fields); the units of each field go in
``attributes["units"]``.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

import numpy as np

from ..checks import check_memory
from ..errors import ConfigError, DataFormatError
from ..snapshot import Snapshot

#: The package's field names and the yt fields tried for each, in order (code-specific on-disk
#: fields first, so that Athena++ data stays in code units, then yt's derived gas fields).
FIELD_NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "rho": (("athena_pp", "rho"), ("athena", "density"), ("enzo", "Density"),
            ("flash", "dens"), ("ramses", "Density"), ("gas", "density")),
    **{f"vel{i}": (("athena_pp", f"vel{i}"), ("gas", f"velocity_{axis}"))
       for i, axis in zip((1, 2, 3), "xyz")},
    **{f"Bcc{i}": (("athena_pp", f"Bcc{i}"), ("gas", f"magnetic_field_{axis}"))
       for i, axis in zip((1, 2, 3), "xyz")},
    "Ec": (("athena_pp", "Ec"),),
}


def _field(ds: Any, name: str, where: str) -> tuple[str, str]:
    """The yt field that holds the package's field ``name`` (or ``name`` given as "type,field")."""
    if "," in name:
        kind, _, field = name.partition(",")
        return kind.strip(), field.strip()
    available = set(ds.field_list) | set(ds.derived_field_list)
    for candidate in FIELD_NAMES.get(name, ()):
        if candidate in available:
            return candidate
    on_disk = ", ".join(sorted(f"{k}/{f}" for k, f in ds.field_list))
    raise DataFormatError(f"{where}: yt finds no field for {name!r} (tried "
                          f"{', '.join('/'.join(c) for c in FIELD_NAMES.get(name, ())) or 'none'});"
                          f" it holds {on_disk}; name a field as 'type,field'")


def _cycle(ds: Any) -> int:
    """The output's cycle: from yt's parameters, or the HDF5 attribute ``NumCycles`` that yt
    leaves on Athena++ files (0 when neither is there)."""
    value = ds.parameters.get("NumCycles")
    if value is None:
        handle = getattr(ds, "_handle", None)
        value = getattr(handle, "attrs", {}).get("NumCycles", 0) if handle is not None else 0
    return int(value)


def read_yt(source: str | os.PathLike | Any, fields: Iterable[str] = ("rho",),
            level: int | None = None) -> Snapshot:
    """Read fields of a yt-loadable output on a uniform grid.

    Parameters
    ----------
    source : path or yt dataset
        Anything ``yt.load`` opens, or an already loaded dataset.
    fields : iterable of str
        The package's names (``rho``, ``vel1..3``, ``Bcc1..3``, ``Ec``; see
        :data:`FIELD_NAMES`) or yt fields written ``"type,field"``.
    level : int, optional
        Refinement level of the uniform grid (0 = the root grid); default the finest level, so
        adaptive meshes keep their finest cells and coarser regions are filled by injection.

    Raises
    ------
    ConfigError
        If yt is not installed, or the level is outside the dataset's.
    DataFormatError
        If yt cannot open the source or lacks a field.
    """
    try:
        import yt
    except ImportError:
        raise ConfigError("reading through yt needs yt: pip install yt (or the dev extra "
                          "pip install -e '.[dev]')") from None
    where = str(source)
    if isinstance(source, (str, os.PathLike)):
        yt.set_log_level(40)
        try:
            ds = yt.load(str(source))
        except Exception as err:  # yt raises many kinds (YTUnidentifiedDataType, OSError, ...)
            raise DataFormatError(f"{where}: yt cannot open it ({type(err).__name__}: "
                                  f"{str(err).splitlines()[0] if str(err) else ''})") from None
    else:
        ds, where = source, str(getattr(source, "filename", source))
    finest = int(getattr(ds, "max_level", 0))
    level = finest if level is None else int(level)
    if not 0 <= level <= finest:
        raise ConfigError(f"{where}: level must be in 0..{finest}, got {level}")
    dims = np.asarray(ds.domain_dimensions, dtype=int) * int(ds.refine_by) ** level
    names = list(fields)
    check_memory(int(np.prod(dims)) * 8 * (len(names) + 1), where,
                 f"a {'x'.join(map(str, dims))} covering grid of {len(names)} field(s)")
    chosen = {name: _field(ds, name, where) for name in names}
    grid = ds.covering_grid(level, left_edge=ds.domain_left_edge, dims=dims)
    data, units = {}, {}
    for name, field in chosen.items():
        values = grid[field]
        data[name] = np.ascontiguousarray(np.asarray(values.d, dtype=np.float32).transpose(2, 1, 0))
        units[name] = str(values.units)
    left = np.asarray(ds.domain_left_edge.d, dtype=np.float64)
    right = np.asarray(ds.domain_right_edge.d, dtype=np.float64)
    faces = [np.linspace(left[a], right[a], dims[a] + 1) for a in range(3)]
    return Snapshot(data, faces[0], faces[1], faces[2], time=float(ds.current_time.d),
                    cycle=_cycle(ds),
                    sources=(where,),
                    attributes={"units": units, "level": level, "code": type(ds).__name__,
                                "yt_fields": {k: list(v) for k, v in chosen.items()}})
