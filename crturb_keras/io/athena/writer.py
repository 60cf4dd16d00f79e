"""Write Athena++ ``.athdf`` outputs of uniform meshes: MeshBlocks in Athena++'s Z order, the file
written under a temporary name and renamed; or made first (:func:`start_athdf`) and filled x3
slab by x3 slab (:func:`fill_athdf`) by processes that each hold part of the mesh."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import h5py
import numpy as np

from ...errors import ConfigError
from ...snapshot import Snapshot
from ..atomic import atomic_path
from .layout import ATHENA_ATTRIBUTES, NAME_BYTES, PathLike


def _morton_order(locations: np.ndarray) -> np.ndarray:
    """Order of MeshBlocks along Athena++'s Z-order curve (x1 bit fastest at every level)."""
    keys = np.zeros(len(locations), dtype=np.int64)
    for bit in range(21):
        for axis in range(3):
            keys |= ((locations[:, axis] >> bit) & 1) << (3 * bit + axis)
    return np.argsort(keys, kind="stable")


def meshblock_edge(resolution: int, requested: int) -> int:
    """The largest MeshBlock edge that divides ``resolution`` and is at most ``requested``."""
    return max(b for b in range(1, min(requested, resolution) + 1) if resolution % b == 0)


def _block_shape(shape: Sequence[int], meshblock_size: int | Sequence[int] | None) -> np.ndarray:
    """MeshBlock size ``(bx1, bx2, bx3)`` for a mesh of ``shape = (nx3, nx2, nx1)``."""
    root = np.array(shape[::-1])
    if meshblock_size is None:
        return root.copy()
    block = np.broadcast_to(np.asarray(meshblock_size, dtype=int), (3,)).copy()
    if np.any(block < 1) or np.any(root % block):
        raise ConfigError(f"meshblock_size {block.tolist()} must divide the mesh {root.tolist()} "
                          f"(given as nx1, nx2, nx3)")
    return block


def start_athdf(
    path: PathLike,
    header: Snapshot,
    names: Sequence[str],
    meshblock_size: int | Sequence[int] | None = None,
    dtype: str | np.dtype = "float32",
    variable: str = "prim",
) -> Path:
    """Create ``path`` as an ``.athdf`` file with every attribute, coordinate and dataset, the
    cell data left to :func:`fill_athdf` (so that processes each holding some x3 planes of the
    mesh can write their own in turn).

    Parameters
    ----------
    path : path
        The file to create (written in place: callers rename it when every plane is in).
    header : Snapshot
        Faces, time, cycle, coordinates and attributes; its fields are not read.
    names : sequence of str
        The variables the file will hold; ``Bcc1..3`` go to a ``B`` dataset, all others to
        ``variable``.
    meshblock_size, dtype, variable
        As :func:`write_athdf`.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype("float32"), np.dtype("float64")):
        raise ConfigError(f"dtype must be float32 or float64, got {dtype}")
    shape = (len(header.x3f) - 1, len(header.x2f) - 1, len(header.x1f) - 1)
    root = np.array(shape[::-1])
    block = _block_shape(shape, meshblock_size)
    per_axis = root // block
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in per_axis], indexing="ij"), axis=-1)
    locations = grid.reshape(-1, 3)
    locations = locations[_morton_order(locations)]
    nblocks = len(locations)

    magnetic = [n for n in ("Bcc1", "Bcc2", "Bcc3") if n in names]
    if magnetic and len(magnetic) != 3:
        raise ConfigError(f"write_athdf needs all of Bcc1, Bcc2, Bcc3 or none, got {magnetic}")
    hydro = [n for n in names if n not in magnetic]
    groups = [(variable, hydro)] if hydro else []
    if magnetic:
        groups.append(("B", magnetic))
    if any(len(n) >= NAME_BYTES for n in names):
        raise ConfigError(f"variable names must be shorter than {NAME_BYTES} bytes")

    faces = [header.x1f, header.x2f, header.x3f]
    out = Path(path)
    with h5py.File(out, "w") as f:
        a = f.attrs
        a.create("NumCycles", np.int32(header.cycle), dtype=">i4")
        a.create("Time", dtype.type(header.time), dtype=dtype)
        a.create("Coordinates", np.bytes_(header.coordinates), dtype=f"S{NAME_BYTES}")
        for axis in range(3):
            rng = [faces[axis][0], faces[axis][-1], 1.0]
            a.create(f"RootGridX{axis + 1}", np.array(rng, dtype=dtype), dtype=dtype)
        a.create("RootGridSize", root.astype(np.int32), dtype=">i4")
        a.create("NumMeshBlocks", np.int32(nblocks), dtype=">i4")
        a.create("MeshBlockSize", block.astype(np.int32), dtype=">i4")
        a.create("MaxLevel", np.int32(0), dtype=">i4")
        a.create("NumVariables", np.array([len(v) for _, v in groups], np.int32), dtype=">i4")
        a.create("DatasetNames", np.array([g for g, _ in groups], dtype=f"S{NAME_BYTES}"))
        a.create("VariableNames",
                 np.array([n for _, v in groups for n in v], dtype=f"S{NAME_BYTES}"))
        for key, value in header.attributes.items():
            if key not in ATHENA_ATTRIBUTES and isinstance(value, (str, int, float, bool)):
                a[key] = np.bytes_(value) if isinstance(value, str) else value
        f.create_dataset("Levels", data=np.zeros(nblocks, np.int32), dtype=">i4")
        f.create_dataset("LogicalLocations", data=locations.astype(np.int64), dtype=">i8")
        for axis in range(3):
            b = int(block[axis])
            starts = locations[:, axis] * b
            fx = np.stack([faces[axis][s:s + b + 1] for s in starts])
            f.create_dataset(f"x{axis + 1}f", data=fx.astype(dtype))
            f.create_dataset(f"x{axis + 1}v", data=(0.5 * (fx[:, :-1] + fx[:, 1:])).astype(dtype))
        bx1, bx2, bx3 = block.tolist()
        for name, members in groups:
            f.create_dataset(name, shape=(len(members), nblocks, bx3, bx2, bx1), dtype=dtype)
    return out


def fill_athdf(path: PathLike, fields: Mapping[str, np.ndarray], x3_start: int = 0) -> None:
    """Write the cells of x3 planes ``x3_start ..`` of a file made by :func:`start_athdf`.

    Parameters
    ----------
    path : path
        The file, opened for writing.
    fields : mapping of str to ndarray
        Every variable of the file, each ``(planes, nx2, nx1)``: consecutive x3 planes of the
        mesh (all of them, or one process's slab). MeshBlocks cut by the slab's edges get the
        part that lies in it.
    x3_start : int
        Index of the first plane.
    """
    with h5py.File(path, "r+") as f:
        a = f.attrs
        bx1, bx2, bx3 = (int(v) for v in a["MeshBlockSize"])
        nx1, nx2, nx3 = (int(v) for v in a["RootGridSize"])
        locations = f["LogicalLocations"][()]
        names = [n.decode() for n in a["VariableNames"]]
        counts = [int(c) for c in a["NumVariables"]]
        datasets = [n.decode() for n in a["DatasetNames"]]
        slots = {}
        for dataset, count in zip(datasets, counts):
            for index in range(count):
                slots[names.pop(0)] = (dataset, index)
        if set(fields) != set(slots):
            raise ConfigError(f"{path}: fields {sorted(fields)} do not match the file's "
                              f"variables {sorted(slots)}")
        planes = next(iter(fields.values())).shape[0]
        stop = x3_start + planes
        if x3_start < 0 or stop > nx3:
            raise ConfigError(f"{path}: planes {x3_start}..{stop - 1} lie outside the mesh's "
                              f"{nx3} x3 planes")
        nb1, nb2 = nx1 // bx1, nx2 // bx2
        for row in range(x3_start // bx3, -(-stop // bx3)):
            low, high = max(x3_start, row * bx3), min(stop, (row + 1) * bx3)
            chosen = np.flatnonzero(locations[:, 2] == row)
            lx1, lx2 = locations[chosen, 0], locations[chosen, 1]
            for name, cube in fields.items():
                dataset, index = slots[name]
                ds = f[dataset]
                part = np.asarray(cube[low - x3_start:high - x3_start])
                blocks = part.reshape(high - low, nb2, bx2, nb1, bx1).transpose(1, 3, 0, 2, 4)
                ds[index, chosen, low - row * bx3:high - row * bx3] = \
                    blocks[lx2, lx1].astype(ds.dtype)


def write_athdf(
    snapshot: Snapshot,
    path: PathLike,
    meshblock_size: int | Sequence[int] | None = None,
    dtype: str | np.dtype = "float32",
    variable: str = "prim",
) -> Path:
    """Write a Snapshot as an Athena++ ``.athdf`` file, atomically.

    Parameters
    ----------
    snapshot : Snapshot
        Fields to write; ``Bcc1..3`` go to a ``B`` dataset, all others to ``variable``.
    path : path
        Output file; written to a temporary name in the same folder and renamed when complete.
    meshblock_size : int or (bx1, bx2, bx3), optional
        MeshBlock size in cells; must divide the mesh. Default: one block per mesh.
    dtype : {"float32", "float64"}
        Precision of the cell data and coordinates (Athena++'s ``H5Real``).
    variable : {"prim", "cons"}
        Name of the dataset holding the non-magnetic variables.

    Returns
    -------
    Path
        The written file.
    """
    out = Path(path)
    with atomic_path(out) as tmp:
        start_athdf(tmp, snapshot, list(snapshot.fields), meshblock_size, dtype, variable)
        if snapshot.fields:
            fill_athdf(tmp, snapshot.fields)
    return out
