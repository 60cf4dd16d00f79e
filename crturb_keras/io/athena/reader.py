"""Read Athena++ ``.athdf`` outputs of uniform meshes (several output blocks of one cycle merged),
MeshBlocks placed by their ``LogicalLocations``, never by file order."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import h5py
import numpy as np

from ...checks import check_memory
from ...errors import DataFormatError
from ...snapshot import Snapshot, stored_requirements
from .layout import ATHENA_ATTRIBUTES, REQUIRED_DATASETS, PathLike


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
        missing += [d for d in REQUIRED_DATASETS if d not in handle]
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
