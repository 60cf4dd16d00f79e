"""Outputs of any code yt reads (FLASH, Enzo, RAMSES, Gadget/AREPO, Athena/Athena++, adaptive
meshes included) as a :class:`~crturb_keras.snapshot.Snapshot`, through yt's uniform
``covering_grid`` at one refinement level.

yt is optional (``pip install yt``; the ``yt`` and ``dev`` extras install it). Field values are
kept in the units yt reports for the field chosen (code units for Athena++'s own
``("athena_pp", ...)`` fields; yt's units, e.g. g/cm**3, for ``("gas", ...)`` fields); the units
of each field go in ``attributes["units"]``.

Adaptive meshes: at the finest level, coarse cells are injected (copied into the finer cells
they hold), as yt's covering grid does. At a coarser level, regions that only finer grids cover
(Athena++ stores leaf MeshBlocks only, so a refined region has no coarse block) are filled with
the mean of the finer cells (the volume average on Cartesian meshes), level by level.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

import numpy as np

from ..checks import check_memory
from ..errors import ConfigError, DataFormatError
from ..snapshot import Snapshot

#: The package's field names and the yt fields tried for each, in order (code-specific on-disk
#: fields first, so that Athena++ data stays in code units, then yt's FITS frontend, which names
#: an image after its ``BTYPE`` card, then yt's derived gas fields).
FIELD_NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "rho": (("athena_pp", "rho"), ("athena", "density"), ("enzo", "Density"),
            ("flash", "dens"), ("ramses", "Density"), ("fits", "rho"), ("gas", "density")),
    **{f"vel{i}": (("athena_pp", f"vel{i}"), ("fits", f"vel{i}"), ("gas", f"velocity_{axis}"))
       for i, axis in zip((1, 2, 3), "xyz")},
    **{f"Bcc{i}": (("athena_pp", f"Bcc{i}"), ("fits", f"Bcc{i}"),
                   ("gas", f"magnetic_field_{axis}"))
       for i, axis in zip((1, 2, 3), "xyz")},
    "Ec": (("athena_pp", "Ec"), ("fits", "Ec")),
}


def require_yt() -> Any:
    """The yt module, or a ConfigError saying how to install it."""
    try:
        import yt
    except ImportError:
        raise ConfigError("reading through yt needs yt: pip install yt (or the package's extra: "
                          "pip install -e '.[yt]')") from None
    return yt


def _load(source: str | os.PathLike | Any) -> tuple[Any, str]:
    """A yt dataset and the name errors give it (the path, or the dataset's file name)."""
    yt = require_yt()
    if not isinstance(source, (str, os.PathLike)):
        return source, str(getattr(source, "filename", source))
    where = str(source)
    if not os.path.exists(where):  # yt.load would look for a sample dataset of that name
        raise DataFormatError(f"{where}: no such file or folder; check the path")
    yt.set_log_level(40)
    try:
        ds = yt.load(where)
        ds.field_list  # builds the index, where frontends meet most of a file's problems
        return ds, where
    except Exception as err:  # yt raises many kinds (YTUnidentifiedDataType, OSError, ...)
        detail = str(err).splitlines()[0] if str(err) else ""
        raise DataFormatError(
            f"{where}: yt cannot open it ({type(err).__name__}: {detail}); give the output's "
            f"main file in a format yt reads (https://yt-project.org/doc/reference/"
            f"code_support.html), check that it is complete, or leave it out of --source "
            f"yt:...") from None


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


def yt_field_names(source: str | os.PathLike | Any) -> set[str]:
    """The package's field names (keys of :data:`FIELD_NAMES`) a yt-loadable output provides.

    Raises
    ------
    ConfigError
        If yt is not installed.
    DataFormatError
        If yt cannot open the source.
    """
    ds, _ = _load(source)
    available = set(ds.field_list) | set(ds.derived_field_list)
    return {name for name, candidates in FIELD_NAMES.items()
            if any(c in available for c in candidates)}


def _cycle(ds: Any) -> int:
    """The output's cycle: from yt's parameters, or the HDF5 attribute ``NumCycles`` that yt
    leaves on Athena++ files (0 when neither is there)."""
    value = ds.parameters.get("NumCycles")
    if value is None:
        handle = getattr(ds, "_handle", None)
        value = getattr(handle, "attrs", {}).get("NumCycles", 0) if handle is not None else 0
    return int(value)


def _covered(ds: Any, level: int, start: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """Which cells of the level-``level`` index box ``start .. start + dims`` (x, y, z) some grid
    of level <= ``level`` covers; shape ``dims``, bool."""
    dx = np.asarray(ds.domain_width.d) / (np.asarray(ds.domain_dimensions)
                                           * int(ds.refine_by) ** level)
    origin = np.asarray(ds.domain_left_edge.d)
    levels = np.asarray(ds.index.grid_levels).ravel()
    lows = np.rint((np.asarray(ds.index.grid_left_edge.d) - origin) / dx).astype(int) - start
    highs = np.rint((np.asarray(ds.index.grid_right_edge.d) - origin) / dx).astype(int) - start
    mask = np.zeros(dims, dtype=bool)
    for low, high in zip(np.clip(lows[levels <= level], 0, dims),
                         np.clip(highs[levels <= level], 0, dims)):
        mask[low[0]:high[0], low[1]:high[1], low[2]:high[2]] = True
    return mask


def _uniform(ds: Any, fields: dict[str, tuple[str, str]], level: int, start: np.ndarray,
             dims: np.ndarray, where: str) -> dict[str, Any]:
    """yt arrays of ``fields`` on the level-``level`` index box ``start .. start + dims``, shape
    ``dims`` (x, y, z); cells no grid of this level or coarser covers get the mean of the next
    level's cells (recursively)."""
    check_memory(int(np.prod(dims)) * 8 * (len(fields) + 1), where,
                 f"a {'x'.join(map(str, dims))} covering grid of {len(fields)} field(s) at "
                 f"level {level}")
    refine = int(ds.refine_by)
    dx = np.asarray(ds.domain_width.d) / (np.asarray(ds.domain_dimensions) * refine ** level)
    grid = ds.covering_grid(level, left_edge=np.asarray(ds.domain_left_edge.d) + start * dx,
                            dims=dims)
    values = {name: grid[field] for name, field in fields.items()}
    if level == int(ds.max_level):
        return values
    holes = ~_covered(ds, level, start, dims)
    if holes.any():
        inside = np.argwhere(holes)
        low, high = inside.min(axis=0), inside.max(axis=0) + 1
        box = tuple(slice(a, b) for a, b in zip(low, high))
        n = high - low
        finer = _uniform(ds, fields, level + 1, (start + low) * refine, n * refine, where)
        for name, array in values.items():
            mean = np.asarray(finer[name].d).reshape(n[0], refine, n[1], refine, n[2],
                                                      refine).mean(axis=(1, 3, 5))
            array.d[box][holes[box]] = mean[holes[box]]
    return values


def read_yt(source: str | os.PathLike | Any, fields: Iterable[str] = ("rho",),
            level: int | None = None, units: str = "as_read") -> Snapshot:
    """Read fields of a yt-loadable output on a uniform grid.

    Parameters
    ----------
    source : path or yt dataset
        Anything ``yt.load`` opens, or an already loaded dataset.
    fields : iterable of str
        The package's names (``rho``, ``vel1..3``, ``Bcc1..3``, ``Ec``; see
        :data:`FIELD_NAMES`) or yt fields written ``"type,field"``.
    level : int, optional
        Refinement level of the uniform grid (0 = the root grid, ``N * refine_by**level`` cells
        along an axis of ``N`` root cells); default the finest level. Coarser regions are
        injected into finer cells; regions only finer grids cover are averaged down (see the
        module docstring).
    units : {"as_read", "cgs"}
        Keep each field in the units yt reports for it (code units for a code's own fields), or
        convert to CGS with the dataset's unit system (for Athena++ that is its ``units_override``
        or yt's default of 1 cm, 1 g, 1 s per code unit; give the real system through
        ``yt.load(..., units_override=...)`` and pass the dataset). The FITS writer then labels
        the field with the physical unit.

    Returns
    -------
    Snapshot
        Fields of shape (nx3, nx2, nx1), float32, with cell faces spanning the domain, yt's
        time and the cycle; ``attributes`` holds ``units``, ``level``, ``code`` (yt's dataset
        class) and ``yt_fields`` (the yt field read for each name).

    Raises
    ------
    ConfigError
        If yt is not installed, or the level is outside the dataset's.
    DataFormatError
        If yt cannot open the source or lacks a field.
    """
    if units not in ("as_read", "cgs"):
        raise ConfigError(f"units must be 'as_read' or 'cgs', got {units!r}")
    ds, where = _load(source)
    finest = int(getattr(ds, "max_level", 0))
    level = finest if level is None else int(level)
    if not 0 <= level <= finest:
        raise ConfigError(f"{where}: level must be in 0..{finest}, got {level}")
    dims = np.asarray(ds.domain_dimensions, dtype=int) * int(ds.refine_by) ** level
    chosen = {name: _field(ds, name, where) for name in fields}
    values = _uniform(ds, chosen, level, np.zeros(3, dtype=int), dims, where)
    if units == "cgs":
        values = {name: v.in_cgs() for name, v in values.items()}
    data = {name: np.ascontiguousarray(np.asarray(v.d, dtype=np.float32).transpose(2, 1, 0))
            for name, v in values.items()}
    left = np.asarray(ds.domain_left_edge.d, dtype=np.float64)
    right = np.asarray(ds.domain_right_edge.d, dtype=np.float64)
    faces = [np.linspace(left[a], right[a], dims[a] + 1) for a in range(3)]
    return Snapshot(data, faces[0], faces[1], faces[2], time=float(ds.current_time.d),
                    cycle=_cycle(ds),
                    sources=(where,),
                    attributes={"units": {name: str(v.units) for name, v in values.items()},
                                "level": level, "code": type(ds).__name__,
                                "yt_fields": {k: list(v) for k, v in chosen.items()}})
