"""Helpers shared by the test modules: small snapshots with known values, a small prepared
surrogate dataset, and a runner for code on another Keras backend (in a fresh process).

Imported as ``from helpers import ...`` (pytest puts ``tests/`` on the path); fixtures live in
``conftest.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from crturb_keras.data.sources import discover_sources
from crturb_keras.data import PrepareConfig, prepare
from crturb_keras.simulate import SurrogateConfig, simulate
from crturb_keras.snapshot import Snapshot

CR_VARIABLES = (
    ["rho", "vel1", "vel2", "vel3", "Ec", "Fc1", "Fc2", "Fc3"]
    + [f"Sigma_diff{i}" for i in (1, 2, 3)]
    + [f"Sigma_adv{i}" for i in (1, 2, 3)]
    + [f"Vc{i}" for i in (1, 2, 3)]
)


def make_snapshot(shape=(8, 12, 16), names=("rho", "vel1", "Bcc1", "Bcc2", "Bcc3"), seed=0,
                  time=1.5, cycle=42) -> Snapshot:
    """A snapshot of shape (nx3, nx2, nx1) whose values are random but positive for rho."""
    rng = np.random.default_rng(seed)
    fields = {}
    for name in names:
        data = rng.standard_normal(shape).astype(np.float32)
        fields[name] = np.exp(data) if name in ("rho", "Ec") else data
    nx3, nx2, nx1 = shape
    return Snapshot(
        fields=fields,
        x1f=np.linspace(-0.5, 0.5, nx1 + 1), x2f=np.linspace(0.0, 2.0, nx2 + 1),
        x3f=np.linspace(0.0, 1.0, nx3 + 1), time=time, cycle=cycle,
        attributes={"SurrogateClass": "CR_Advect"},
    )


def surrogate_dataset(root: Path, config: PrepareConfig = PrepareConfig(tile=16)) -> Path:
    """Simulate the five classes at 32^3 (2 outputs each) into ROOT/sim, prepare ROOT/prep."""
    simulate(SurrogateConfig(resolution=32, snapshots=2, meshblock=16), root / "sim")
    prepare(discover_sources([str(root / "sim")]), root / "prep", config, progress=False)
    return root / "prep"


def run_on_backend(backend: str, code: str, timeout: int = 600, **env: str) -> Any:
    """Run ``code`` (dedented) in a fresh Python with ``KERAS_BACKEND=backend`` and ``env``;
    return the JSON its last printed line holds. A non-zero exit fails with the stderr tail."""
    environment = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", **env)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=environment, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def die(*_):
    """A worker job that kills its process (for the broken-pool test)."""
    os._exit(1)


def write_refined_athdf(path: Path, fields: dict | None = None, time: float = 0.5,
                        cycle: int = 7, attributes: dict | None = None) -> Path:
    """Write a two-level Athena++ ``.athdf`` (the layout Athena++ 21+ writes, as yt reads it).

    The mesh is 16^3 root cells on [0, 1]^3 in 8^3 MeshBlocks; the root block at logical
    location (0, 0, 0) is refined into eight level-1 blocks (16^3 cells of width 1/32 covering
    [0, 0.5)^3), the other seven root blocks stay. As in Athena++, only leaf blocks are stored
    (no coarse block under the fine ones), in tree (Z) order.

    Parameters
    ----------
    path : Path
        File to write.
    fields : dict of str to callable, optional
        ``name -> f(x1, x2, x3)`` evaluated at cell centres (code units); default
        ``{"rho": 1 + x1 + 2 x2 + 3 x3}``, linear so that a block average equals the centre value.
    time, cycle : float, int
        ``Time`` and ``NumCycles`` attributes.
    attributes : dict, optional
        Extra file attributes (e.g. ``{"SimulationClass": "CR_Advect"}``).

    Returns
    -------
    Path
        The written file.
    """
    import h5py

    fields = fields or {"rho": lambda x1, x2, x3: 1.0 + x1 + 2.0 * x2 + 3.0 * x3}
    names = list(fields)
    size = 8
    fine = [(1, (i, j, k)) for k in (0, 1) for j in (0, 1) for i in (0, 1)]
    blocks = fine + [(0, loc) for _, loc in fine if loc != (0, 0, 0)]   # the 7 unrefined roots
    faces = {axis: [] for axis in range(3)}
    for level, location in blocks:
        width = 1.0 / (2 * 2 ** level)              # one block spans half the domain at level 0
        for axis in range(3):
            start = location[axis] * width
            faces[axis].append(np.linspace(start, start + width, size + 1))
    faces = {axis: np.array(v) for axis, v in faces.items()}
    centres = {axis: 0.5 * (v[:, 1:] + v[:, :-1]) for axis, v in faces.items()}
    data = np.empty((len(names), len(blocks), size, size, size), np.float32)
    for b in range(len(blocks)):
        x3, x2, x1 = np.meshgrid(centres[2][b], centres[1][b], centres[0][b], indexing="ij")
        for v, name in enumerate(names):
            data[v, b] = fields[name](x1, x2, x3)
    with h5py.File(path, "w") as f:
        a = f.attrs
        a.create("NumCycles", np.int32(cycle), dtype=">i4")
        a.create("Time", np.float32(time), dtype=np.float32)
        a.create("Coordinates", np.bytes_("cartesian"), dtype="S20")
        for axis in range(3):
            a.create(f"RootGridX{axis + 1}", np.array([0.0, 1.0, 1.0], np.float32))
        a.create("RootGridSize", np.array([16, 16, 16], np.int32), dtype=">i4")
        a.create("MeshBlockSize", np.array([size] * 3, np.int32), dtype=">i4")
        a.create("NumMeshBlocks", np.int32(len(blocks)), dtype=">i4")
        a.create("MaxLevel", np.int32(1), dtype=">i4")
        a.create("NumVariables", np.array([len(names)], np.int32), dtype=">i4")
        a.create("DatasetNames", np.array([b"prim"], dtype="S20"))
        a.create("VariableNames", np.array([n.encode() for n in names], dtype="S20"))
        for key, value in (attributes or {}).items():
            a[key] = np.bytes_(value) if isinstance(value, str) else value
        f.create_dataset("Levels", data=np.array([lv for lv, _ in blocks], np.int32), dtype=">i4")
        f.create_dataset("LogicalLocations", data=np.array([loc for _, loc in blocks], np.int64),
                         dtype=">i8")
        for axis in range(3):
            f.create_dataset(f"x{axis + 1}f", data=faces[axis].astype(np.float32))
            f.create_dataset(f"x{axis + 1}v", data=centres[axis].astype(np.float32))
        f.create_dataset("prim", data=data)
    return Path(path)
