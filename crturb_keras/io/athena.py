"""Read and write Athena++ ``.athdf`` (HDF5) outputs of uniform meshes.

The layout follows Athena++'s ``src/outputs/athena_hdf5.cpp``:

* root attributes ``NumCycles`` (big-endian int32), ``Time`` (output real), ``Coordinates``
  (fixed-length byte string), ``RootGridX1..3`` (``[min, max, ratio]``), ``RootGridSize``,
  ``NumMeshBlocks``, ``MeshBlockSize``, ``MaxLevel``, ``NumVariables`` (one count per dataset),
  ``DatasetNames`` and ``VariableNames`` (fixed-length byte strings);
* datasets ``Levels`` ``(nblocks,)``, ``LogicalLocations`` ``(nblocks, 3)`` as ``(lx1, lx2, lx3)``,
  faces ``x1f`` ``(nblocks, bx1 + 1)`` etc., centres ``x1v`` ``(nblocks, bx1)`` etc., and one
  dataset per entry of ``DatasetNames`` of shape ``(nvar, nblocks, bx3, bx2, bx1)``. Variable
  names are split over the datasets in order by ``NumVariables`` (``prim`` + ``B``, ``cons`` + ``B``).

MeshBlocks are placed by their ``LogicalLocations``, never by file order. Mesh refinement is not
supported: the density maps this package learns from come from uniform turbulence boxes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import h5py
import numpy as np

from ..checks import check_memory
from ..errors import ConfigError, DataFormatError
from ..snapshot import Snapshot, stored_requirements
from .atomic import atomic_path

#: Size of Athena++'s fixed-length name strings (``max_name_length + 1`` bytes).
NAME_BYTES = 21

#: Root attributes written by Athena++ itself (others are passed through as metadata).
ATHENA_ATTRIBUTES = (
    "NumCycles", "Time", "Coordinates", "RootGridX1", "RootGridX2", "RootGridX3",
    "RootGridSize", "NumMeshBlocks", "MeshBlockSize", "MaxLevel", "NumVariables",
    "DatasetNames", "VariableNames",
)

_REQUIRED_DATASETS = ("Levels", "LogicalLocations", "x1f", "x2f", "x3f")

PathLike = str | os.PathLike


def _decode(value: Any) -> Any:
    """Turn an HDF5 attribute value into plain Python (bytes -> str, arrays -> lists)."""
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace").rstrip("\x00")
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "S":
            return [_decode(v) for v in value.tolist()]
        return value.tolist() if value.ndim else value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


class _AthdfFile:
    """Validated view of one open ``.athdf`` file: which variable lives where, and the geometry."""

    def __init__(self, path: Path, handle: h5py.File) -> None:
        self.path = path
        self.handle = handle
        attrs = handle.attrs
        missing = [a for a in ATHENA_ATTRIBUTES if a not in attrs]
        missing += [d for d in _REQUIRED_DATASETS if d not in handle]
        if missing:
            self.fail(
                f"not an Athena++ HDF5 output: missing {', '.join(missing)}. Write files with "
                f"Athena++'s 'hdf5' output type or crturb_keras.io.write_athdf"
            )
        self.attributes = {str(k): _decode(attrs[k]) for k in attrs}
        for name, kinds in (("Time", (int, float)), ("NumCycles", (int,))):
            value = self.attributes[name]
            if isinstance(value, bool) or not isinstance(value, kinds):
                self.fail(f"attribute {name} is {value!r}, expected a number: not an Athena++ "
                          f"output, or a damaged one")
        if int(self.attributes["MaxLevel"]) != 0 or np.any(handle["Levels"][()] != 0):
            self.fail(
                f"mesh refinement (MaxLevel={self.attributes['MaxLevel']}) is not supported; "
                f"rerun without SMR/AMR or resample the output onto a uniform grid first"
            )
        self.block = np.asarray(self.attributes["MeshBlockSize"], dtype=int)   # (bx1, bx2, bx3)
        self.root = np.asarray(self.attributes["RootGridSize"], dtype=int)     # (nx1, nx2, nx3)
        self.nblocks = int(self.attributes["NumMeshBlocks"])
        self._check_geometry()
        self.variables = self._variable_map()

    def fail(self, problem: str) -> None:
        raise DataFormatError(f"{self.path}: {problem}")

    def _check_geometry(self) -> None:
        if self.block.shape != (3,) or self.root.shape != (3,) or np.any(self.block < 1):
            self.fail(f"MeshBlockSize {self.block.tolist()} / RootGridSize {self.root.tolist()} "
                      f"are not three positive integers")
        if np.any(self.root % self.block):
            self.fail(f"RootGridSize {self.root.tolist()} is not a multiple of MeshBlockSize "
                      f"{self.block.tolist()}: inconsistent attributes")
        per_axis = self.root // self.block
        if int(np.prod(per_axis)) != self.nblocks:
            self.fail(f"NumMeshBlocks={self.nblocks} but RootGridSize/MeshBlockSize gives "
                      f"{int(np.prod(per_axis))} blocks: inconsistent attributes")
        locations = self.handle["LogicalLocations"][()]
        if locations.shape != (self.nblocks, 3) or self.handle["Levels"].shape != (self.nblocks,):
            self.fail(f"LogicalLocations {locations.shape} / Levels {self.handle['Levels'].shape}"
                      f" do not match NumMeshBlocks={self.nblocks}: inconsistent attributes")
        if np.any(locations < 0) or np.any(locations >= per_axis[None, :]):
            self.fail(f"LogicalLocations outside the {per_axis.tolist()} block grid")
        if len({tuple(loc) for loc in locations.tolist()}) != self.nblocks:
            self.fail("two MeshBlocks share one LogicalLocation: inconsistent attributes")
        self.locations = locations.astype(int)
        self.faces = [self._global_faces(axis) for axis in range(3)]

    def _global_faces(self, axis: int) -> np.ndarray:
        name = f"x{axis + 1}f"
        local = self.handle[name][()]
        b = int(self.block[axis])
        if local.shape != (self.nblocks, b + 1):
            self.fail(f"dataset {name} has shape {local.shape}, expected "
                      f"({self.nblocks}, {b + 1}) from MeshBlockSize: inconsistent attributes")
        faces = np.empty(int(self.root[axis]) + 1, dtype=np.float64)
        for block, loc in enumerate(self.locations[:, axis]):
            faces[loc * b: loc * b + b + 1] = local[block]
        lo, hi = (float(v) for v in self.attributes[f"RootGridX{axis + 1}"][:2])
        tol = 1e-5 * max(abs(hi - lo), 1e-30)
        if not np.all(np.diff(faces) > 0) or abs(faces[0] - lo) > tol or abs(faces[-1] - hi) > tol:
            self.fail(f"cell faces {name} do not increase from RootGridX{axis + 1} min {lo} "
                      f"to max {hi}: inconsistent attributes")
        return faces

    def _variable_map(self) -> dict[str, tuple[str, int]]:
        counts = [int(n) for n in np.atleast_1d(self.attributes["NumVariables"])]
        datasets = [str(n) for n in np.atleast_1d(self.attributes["DatasetNames"])]
        names = [str(n) for n in np.atleast_1d(self.attributes["VariableNames"])]
        if len(counts) != len(datasets) or sum(counts) != len(names):
            self.fail(f"NumVariables {counts} does not split VariableNames ({len(names)} names) "
                      f"over DatasetNames {datasets}: inconsistent attributes")
        foreign = [n for n in names + datasets if not n.isascii()]
        if foreign:
            self.fail(f"variable or dataset name(s) {foreign} are not ASCII (undecodable bytes "
                      f"show as \ufffd); Athena++ writes ASCII names: the file is damaged")
        where: dict[str, tuple[str, int]] = {}
        start = 0
        for dataset, count in zip(datasets, counts):
            if dataset not in self.handle:
                self.fail(f"dataset {dataset!r} listed in DatasetNames is missing (truncated file?)")
            expected = (count, self.nblocks, *self.block[::-1].tolist())
            if self.handle[dataset].shape != expected:
                self.fail(f"dataset {dataset!r} has shape {self.handle[dataset].shape}, expected "
                          f"{expected} from NumVariables/MeshBlockSize: inconsistent attributes")
            dtype = self.handle[dataset].dtype
            if dtype.kind != "f":
                self.fail(f"dataset {dataset!r} holds {dtype} values; Athena++ writes float32 or "
                          f"float64 variables, and {dtype} would be cast to float32 silently "
                          f"(convert the data to floating point first, if it is right)")
            for index, name in enumerate(names[start:start + count]):
                where.setdefault(name, (dataset, index))
            start += count
        return where

    def itemsize(self, name: str) -> int:
        """Bytes per stored value of variable ``name``."""
        return self.handle[self.variables[name][0]].dtype.itemsize

    def read(self, name: str) -> np.ndarray:
        """Assemble one variable into a ``float32`` ``(nx3, nx2, nx1)`` array."""
        dataset, index = self.variables[name]
        blocks = self.handle[dataset][index]                         # (nblocks, bx3, bx2, bx1)
        bx1, bx2, bx3 = self.block.tolist()
        nb1, nb2, nb3 = (self.root // self.block).tolist()
        grid = np.empty((nb3, nb2, nb1, bx3, bx2, bx1), dtype=np.float32)
        lx1, lx2, lx3 = self.locations.T
        grid[lx3, lx2, lx1] = blocks
        return grid.transpose(0, 3, 1, 4, 2, 5).reshape(nb3 * bx3, nb2 * bx2, nb1 * bx1)


def read_athdf(
    path: PathLike | Sequence[PathLike],
    variables: Iterable[str] | None = None,
    check_finite: bool = False,
) -> Snapshot:
    """Read an Athena++ ``.athdf`` output (or several outputs of one cycle) into a Snapshot.

    Parameters
    ----------
    path : path or sequence of paths
        One file, or the files of one cycle (e.g. ``*.out1.00010.athdf`` with ``prim`` and
        ``*.out2.00010.athdf`` with ``cons``); see :func:`cycle_outputs`. Variables found in
        several files are taken from the first file that has them.
    variables : iterable of str, optional
        Stored names (``rho``, ``vel1``, ``Bcc1``, ``Ec``, ...) or derived ones
        (``magnetic_energy_density``, ``log10_rho``). Default: every stored variable.
    check_finite : bool
        Raise if any requested value is NaN or infinite (costs one pass over the data).

    Returns
    -------
    Snapshot
        Fields as ``float32`` ``(nx3, nx2, nx1)`` arrays, whatever the file's precision.

    Raises
    ------
    DataFormatError
        For a missing, non-HDF5 or truncated file, a refined mesh, inconsistent attributes, a
        missing variable, files of different cycles, or (with ``check_finite``) NaN/inf values.
    """
    paths = [Path(path)] if isinstance(path, (str, os.PathLike)) else [Path(p) for p in path]
    if not paths:
        raise DataFormatError("read_athdf: no file given")
    handles: list[h5py.File] = []
    try:
        files = [_open(p, handles) for p in paths]
        first = files[0]
        for other in files[1:]:
            _check_same_cycle(first, other)
        available: dict[str, _AthdfFile] = {}
        for f in files:
            for name in f.variables:
                available.setdefault(name, f)
        wanted = list(variables) if variables is not None else list(available)
        needed = stored_requirements(wanted)
        missing = [n for n in needed if n not in available]
        if missing:
            raise DataFormatError(
                f"{', '.join(map(str, paths))}: missing variable(s) {', '.join(missing)}; the "
                f"file(s) hold {', '.join(available)}. Ask for variables that exist, or add the "
                f"output that writes them (e.g. the out2 'cons' file of the same cycle)"
            )
        shape = "x".join(str(n) for n in first.root[::-1])
        widest = max(available[name].itemsize(name) for name in needed)
        cells = int(np.prod(first.root))  # fields read so far, one being assembled, its blocks
        check_memory(cells * (4 * (len(needed) + 1) + widest), ", ".join(map(str, paths)),
                     f"reading {len(needed)} variable(s) of {shape} cells")
        fields = {}
        for name in needed:
            try:
                fields[name] = available[name].read(name)
            except (OSError, KeyError, ValueError, RuntimeError) as err:
                raise DataFormatError(
                    f"{available[name].path}: cannot read variable {name!r} ({err}); the file is "
                    f"probably truncated: copy or write it again"
                ) from None
        attributes = dict(first.attributes)
        snap = Snapshot(
            fields=fields,
            x1f=first.faces[0], x2f=first.faces[1], x3f=first.faces[2],
            time=float(attributes["Time"]),
            cycle=int(attributes["NumCycles"]),
            coordinates=str(attributes["Coordinates"]),
            sources=tuple(str(p) for p in paths),
            attributes=attributes,
        )
    finally:
        for h in handles:
            h.close()
    if variables is not None:
        snap = snap.select(wanted)
    if check_finite:
        for name in snap.names:
            bad = int(np.count_nonzero(~np.isfinite(snap.fields[name])))
            if bad:
                raise DataFormatError(
                    f"{', '.join(snap.sources)}: variable {name!r} has {bad} NaN/inf cell(s) of "
                    f"{snap.fields[name].size}; the run crashed or the file is damaged: use "
                    f"another snapshot"
                )
    return snap


def athdf_variables(path: PathLike) -> list[str]:
    """Stored variable names of one ``.athdf`` file, after the checks :func:`read_athdf` makes.

    Raises
    ------
    DataFormatError
        As :func:`read_athdf` does for a file it cannot read.
    """
    handles: list[h5py.File] = []
    try:
        return list(_open(Path(path), handles).variables)
    finally:
        for handle in handles:
            handle.close()


def _open(path: Path, handles: list[h5py.File]) -> _AthdfFile:
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise DataFormatError(
            f"{path}: not a readable HDF5 file ({err}); it may be truncated or not an Athena++ "
            f"output: copy or write it again"
        ) from None
    handles.append(handle)
    try:
        return _AthdfFile(path, handle)
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as err:
        raise DataFormatError(
            f"{path}: damaged Athena++ file ({err}); it may be truncated: copy or write it again"
        ) from None


def _check_same_cycle(a: _AthdfFile, b: _AthdfFile) -> None:
    same_cycle = int(a.attributes["NumCycles"]) == int(b.attributes["NumCycles"])
    same_time = np.isclose(float(a.attributes["Time"]), float(b.attributes["Time"]), rtol=1e-6)
    if not (same_cycle and same_time):
        raise DataFormatError(
            f"{b.path}: cycle {b.attributes['NumCycles']} (time {b.attributes['Time']}) differs "
            f"from {a.path}: cycle {a.attributes['NumCycles']} (time {a.attributes['Time']}); "
            f"merge only outputs of one cycle"
        )
    if not all(np.allclose(fa, fb, rtol=1e-6) for fa, fb in zip(a.faces, b.faces)):
        raise DataFormatError(f"{b.path}: mesh differs from {a.path}; merge only outputs of one run")


_OUTPUT_NAME = re.compile(r"^(?P<base>.+)\.out(?P<id>\d+)\.(?P<num>\d+)\.athdf$")


def cycle_stem(path: PathLike) -> str | None:
    """``run.00010`` for ``run.out2.00010.athdf``: the name shared by all outputs of one cycle.

    None for files not named like Athena++ outputs.
    """
    match = _OUTPUT_NAME.match(Path(path).name)
    return f"{match['base']}.{match['num']}" if match else None


def cycle_outputs(path: PathLike) -> list[Path]:
    """All ``.athdf`` files of the same run and output number as ``path`` (``out1``, ``out2``...).

    ``run.out1.00010.athdf`` -> ``[run.out1.00010.athdf, run.out2.00010.athdf]`` when both exist,
    sorted by output id, so :func:`read_athdf` can merge ``prim`` and ``cons`` outputs.
    """
    path = Path(path)
    match = _OUTPUT_NAME.match(path.name)
    if not match:
        return [path]
    pattern = f"{match['base']}.out*.{match['num']}.athdf"
    found = [p for p in path.parent.glob(pattern) if _OUTPUT_NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_OUTPUT_NAME.match(p.name)["id"]))


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
