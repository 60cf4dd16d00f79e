"""Write Athena++ ``.athdf`` outputs of uniform meshes: MeshBlocks in Athena++'s Z order, the file
written under a temporary name and renamed."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

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
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype("float32"), np.dtype("float64")):
        raise ConfigError(f"dtype must be float32 or float64, got {dtype}")
    nx3, nx2, nx1 = snapshot.shape
    root = np.array([nx1, nx2, nx3])
    if meshblock_size is None:
        block = root.copy()
    else:
        block = np.broadcast_to(np.asarray(meshblock_size, dtype=int), (3,)).copy()
    if np.any(block < 1) or np.any(root % block):
        raise ConfigError(f"meshblock_size {block.tolist()} must divide the mesh {root.tolist()} "
                         f"(given as nx1, nx2, nx3)")
    per_axis = root // block
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in per_axis], indexing="ij"), axis=-1)
    locations = grid.reshape(-1, 3)
    locations = locations[_morton_order(locations)]
    nblocks = len(locations)

    magnetic = [n for n in ("Bcc1", "Bcc2", "Bcc3") if n in snapshot.fields]
    if magnetic and len(magnetic) != 3:
        raise ConfigError(f"write_athdf needs all of Bcc1, Bcc2, Bcc3 or none, got {magnetic}")
    hydro = [n for n in snapshot.fields if n not in magnetic]
    groups = [(variable, hydro)] if hydro else []
    if magnetic:
        groups.append(("B", magnetic))
    if any(len(n) >= NAME_BYTES for n in snapshot.fields):
        raise ConfigError(f"variable names must be shorter than {NAME_BYTES} bytes")

    faces = [snapshot.x1f, snapshot.x2f, snapshot.x3f]
    out = Path(path)
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        a = f.attrs
        a.create("NumCycles", np.int32(snapshot.cycle), dtype=">i4")
        a.create("Time", dtype.type(snapshot.time), dtype=dtype)
        a.create("Coordinates", np.bytes_(snapshot.coordinates), dtype=f"S{NAME_BYTES}")
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
        for key, value in snapshot.attributes.items():
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
        nb1, nb2, nb3 = per_axis.tolist()
        lx1, lx2, lx3 = locations.T
        for name, members in groups:
            ds = f.create_dataset(name, shape=(len(members), nblocks, bx3, bx2, bx1), dtype=dtype)
            for index, member in enumerate(members):
                cube = np.asarray(snapshot.fields[member])
                blocks = cube.reshape(nb3, bx3, nb2, bx2, nb1, bx1).transpose(0, 2, 4, 1, 3, 5)
                ds[index] = blocks[lx3, lx2, lx1].astype(dtype)
    return out
