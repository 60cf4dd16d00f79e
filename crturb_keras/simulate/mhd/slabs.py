"""This process's x3 slab of the box: what the run loop reads between chunks (box means,
``.athdf`` outputs, checkpoints), made from the planes each process holds, so that no host ever
holds the whole box when it is split over several (:mod:`.hosts`).

With one process the slab is the whole box and each step below is the plain one: the box means
of :func:`~.diagnostics.box_means`, an ``.athdf`` written under a temporary name and renamed,
one ``checkpoint.npz``. With ``P`` processes:

* box means: each process adds up its cells in float64 (:func:`~.diagnostics.slab_sums`), the
  ``P`` rows of 11 numbers are exchanged and every process combines them in the same order, so
  every decision taken from them (a failed run, the injection rate's control) is the same on
  every process;
* outputs: process 0 creates the file with its metadata
  (:func:`~crturb_keras.io.athena.start_athdf`), the processes write their planes into it one
  after another (HDF5 without MPI allows one writer at a time; the file is never read whole),
  and process 0 renames it;
* checkpoints: each process writes its planes and the replicated scalars to
  ``checkpoint.<k>-of-<P>.npz``; a resume needs the same process count.

The cell-centred field of a slab needs the ``B3`` plane above it, which lies on the next process:
the ``P`` such planes are gathered (``P N2 N1`` numbers). The output folder must be on a file
system every process sees, as Athena++'s outputs and restart files need.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import numpy as np

from ...errors import ConfigError
from ...io.athena import fill_athdf, start_athdf
from ...io.atomic import atomic_path, os_errors, remove_stale, temporary_path
from .config import MHDConfig
from .diagnostics import cell_field, combine_sums, means_from_sums, slab_sums
from .hosts import (barrier, from_writer, gather_rows, is_writer, process_count, slab_bounds,
                    slab_of, to_host)
from .outputs import OutputUnits, output_fields, output_header
from .solver import Carry, to_numpy


def local_cells(carry: Carry) -> tuple[int, dict[str, np.ndarray | None]]:
    """``(first plane, cells)``: this process's x3 planes of ``rho``, ``mom``, the cell-centred
    field ``bcc`` (float64) and, with CRs, ``ec`` and ``flux`` (None without)."""
    start, rho = slab_of(carry.state.rho)
    _, mom = slab_of(carry.state.mom)
    _, b = slab_of(carry.state.b)
    above = None
    if process_count() > 1:
        ends = np.array([stop % carry.state.b.shape[-3] for _, stop in slab_bounds(carry.state.b)])
        above = to_host(carry.state.b[2][ends])[jax.process_index()]
    cells = {"rho": rho, "mom": mom, "bcc": cell_field(np.asarray(b, np.float64), above),
             "ec": None, "flux": None}
    if carry.cr is not None:
        cells.update(ec=slab_of(carry.cr.ec)[1], flux=slab_of(carry.cr.flux)[1])
    return start, cells


def measure(carry: Carry, sound_speed: float) -> tuple[float, int, float, dict[str, float]]:
    """``(time, steps, injected, box means)`` of ``carry``, the same on every process (a
    collective): the means of :func:`~.diagnostics.means_from_sums`, ``finite`` included."""
    time, steps, injected = to_host((carry.time, carry.steps, carry.injected))
    _, cells = local_cells(carry)
    sums = slab_sums(cells["rho"], cells["mom"], cells["bcc"], cells["ec"], sound_speed)
    means = means_from_sums(combine_sums(gather_rows(sums)), sound_speed)
    return float(time), int(steps), float(injected), means


def write_output(path: Path, carry: Carry, config: MHDConfig, name: str, dedt: float,
                 units: OutputUnits = OutputUnits()) -> bool:
    """Write ``carry`` to the ``.athdf`` file ``path`` unless it exists (a collective: every
    process writes its planes); returns whether it was written."""
    if from_writer(int(path.exists())):
        return False
    start, cells = local_cells(carry)
    fields = output_fields(cells, units)
    tmp = temporary_path(path, from_writer(os.getpid()))
    writer = is_writer()
    try:
        with os_errors(path):
            if writer:
                remove_stale(path)
                header = output_header(float(to_host(carry.time)), int(to_host(carry.steps)),
                                       config, name, dedt, units)
                start_athdf(tmp, header, list(fields), config.block)
            for turn in range(process_count()):
                barrier(f"{path}:{turn}")
                if turn == jax.process_index():
                    fill_athdf(tmp, fields, start)
            barrier(f"{path}:written")
            if writer:
                os.replace(tmp, path)
    finally:
        if writer and tmp.exists():
            tmp.unlink()
    return True


def checkpoint_path(folder: Path) -> Path:
    """This process's checkpoint: ``checkpoint.npz``, or ``checkpoint.<k>-of-<P>.npz`` of
    process ``k`` of ``P``."""
    count = process_count()
    if count == 1:
        return folder / "checkpoint.npz"
    return folder / f"checkpoint.{jax.process_index()}-of-{count}.npz"


def save_checkpoint(folder: Path, carry: Carry, extra: dict[str, np.ndarray]) -> None:
    """Write this process's planes of ``carry``, its scalars and ``extra`` (every process)."""
    start = slab_bounds(carry.state.rho)[jax.process_index()][0]
    arrays = to_numpy(carry, grid=lambda x: slab_of(x)[1], small=to_host)
    arrays.update(extra, x3_start=np.int64(start), processes=np.int64(process_count()))
    with atomic_path(checkpoint_path(folder)) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def load_checkpoint(folder: Path) -> dict[str, np.ndarray] | None:
    """This process's checkpoint arrays (its planes, the scalars and the extras), or None when
    no process has one (a collective).

    Raises
    ------
    ConfigError
        If some processes have one and others not, or it was written by another process
        count, or unreadable, or the parts are of different steps.
    """
    path = checkpoint_path(folder)
    found = gather_rows(np.array([path.exists()]))[:, 0]
    if not found.any():
        count = process_count()
        foreign = sorted(p.name for p in folder.glob("checkpoint*.npz") if (
            p.name != "checkpoint.npz" if count == 1 else not p.name.endswith(f"-of-{count}.npz")))
        if foreign:
            raise ConfigError(f"{folder}: holds {foreign[0]}, a checkpoint of a run over another "
                              f"number of processes; resume with that many, or delete it to "
                              f"restart from t = 0")
        return None
    if not found.all():
        raise ConfigError(f"{folder}: checkpoints of processes "
                          f"{np.flatnonzero(~found).tolist()} are missing; delete every "
                          f"checkpoint*.npz there to restart from t = 0")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as err:
        raise ConfigError(f"{path}: unreadable checkpoint ({err}); delete it to restart "
                          f"this run from t = 0") from None
    steps = gather_rows(np.array([int(arrays["steps"])]))[:, 0]
    if len(set(steps.tolist())) > 1:
        raise ConfigError(f"{folder}: the processes' checkpoints are of different steps "
                          f"{steps.tolist()} (a run killed while writing them); delete every "
                          f"checkpoint*.npz there to restart from t = 0")
    return arrays


def remove_checkpoint(folder: Path) -> None:
    """Remove this process's checkpoint (every process its own)."""
    checkpoint_path(folder).unlink(missing_ok=True)
