"""One box over several hosts: JAX's multi-controller runtime (``jax.distributed``).

Every process runs the same program (as MPI ranks run Athena++): :func:`join_hosts` connects
them through JAX's coordinator before anything else touches JAX, after which ``jax.devices()``
lists the devices of every process and the solver's one-axis mesh (:mod:`.sharding`) spans
them all; XLA's collectives then cross hosts (NCCL between GPUs, gloo between CPU processes).
Between chunks each process reads only its own x3 planes of the grid (:func:`slab_of`), with
the few numbers every process must agree on exchanged through JAX's collectives
(:func:`gather_rows`, :func:`from_writer`, :func:`barrier`); :mod:`.slabs` builds the run
loop's box means, outputs and checkpoints on them, so no host holds the whole box. Process 0
creates folders, records and history files (:func:`is_writer`); every process writes its planes
of each output and its own checkpoint, so the output folder must be on a file system every
process sees, as Athena++'s outputs and restart files need.

Connection settings come from the arguments, else from JAX's own environment:
``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process 0), and the process count and index
detected from SLURM, Open MPI or Kubernetes; ``JAX_COORDINATOR_BIND_ADDRESS`` limits the
address the coordinator listens on.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.experimental import multihost_utils

from ...errors import ConfigError


def join_hosts(coordinator: str | None = None, processes: int | None = None,
               process_id: int | None = None, timeout: int = 300) -> int:
    """Connect this process to the others of a multi-host run; returns the process count.

    Parameters
    ----------
    coordinator : str, optional
        ``host:port`` of process 0 (default: ``JAX_COORDINATOR_ADDRESS`` or the cluster's).
    processes, process_id : int, optional
        How many processes take part and which this is (default: detected from the cluster).
    timeout : int
        Seconds to wait for every process to join.

    Raises
    ------
    ConfigError
        If JAX has already started (the runtime must be joined first) or the settings are
        incomplete or inconsistent.
    """
    if processes is not None and processes < 1:
        raise ConfigError(f"--processes must be >= 1, got {processes}")
    if process_id is not None and processes is not None and not 0 <= process_id < processes:
        raise ConfigError(f"--process-id must be in 0..{processes - 1}, got {process_id}")
    # Between CPU processes XLA's collectives go through gloo (bundled with jaxlib); GPUs
    # use NCCL whatever this says.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=processes,
                                   process_id=process_id, initialization_timeout=timeout)
    except (RuntimeError, ValueError, TypeError) as error:
        raise ConfigError(
            f"could not join the multi-host run ({error}); give --coordinator HOST:PORT, "
            f"--processes N and --process-id K on every process (or run under SLURM / Open "
            f"MPI, or set JAX_COORDINATOR_ADDRESS), before any other JAX work") from None
    return jax.process_count()


def is_writer() -> bool:
    """Whether this process writes files (process 0; the only one without multi-host)."""
    return jax.process_index() == 0


def process_count() -> int:
    """How many processes run the box (1 without :func:`join_hosts`)."""
    return jax.process_count()


def slab_of(x) -> tuple[int, np.ndarray]:
    """``(first plane, planes)``: this process's consecutive x3 planes of a grid field
    ``(..., N3, N2, N1)`` as NumPy (the whole field when every device is this process's).

    Raises
    ------
    ConfigError
        If this process's planes are not consecutive (a mesh not ordered by process).
    """
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
        return 0, np.asarray(x)
    shards = {}
    for shard in x.addressable_shards:
        shards.setdefault(shard.index[-3].start or 0, shard)
    starts = sorted(shards)
    planes = [np.asarray(shards[start].data) for start in starts]
    if any(a + p.shape[-3] != b for a, p, b in zip(starts, planes, starts[1:])):
        raise ConfigError("this process's x3 planes are not consecutive; list the devices "
                          "process by process")
    return starts[0], np.concatenate(planes, axis=-3)


def slab_bounds(x) -> list[tuple[int, int]]:
    """``(first, last + 1)`` x3 plane of every process's slab of grid field ``x`` (an array, or
    a ``jax.ShapeDtypeStruct`` with its sharding), in process order (``[(0, N3)]`` for one
    process)."""
    n = x.shape[-3]
    if getattr(x, "sharding", None) is None or jax.process_count() == 1:
        return [(0, n)]
    bounds: dict[int, tuple[int, int]] = {}
    for device, index in x.sharding.devices_indices_map(x.shape).items():
        low = index[-3].start or 0
        high = n if index[-3].stop is None else index[-3].stop
        old = bounds.get(device.process_index, (low, high))
        bounds[device.process_index] = (min(old[0], low), max(old[1], high))
    return [bounds[p] for p in sorted(bounds)]


def gather_rows(row) -> np.ndarray:
    """Every process's ``row`` (a small 1-D array), stacked in process order ``(P, n)`` on
    every process (a collective)."""
    row = np.asarray(row)
    if jax.process_count() == 1:
        return row[None]
    return np.asarray(multihost_utils.process_allgather(row))


def from_writer(value: int) -> int:
    """Process 0's ``value`` on every process (a collective): what all must decide alike
    (whether a checkpoint is due by process 0's clock, whether a file exists)."""
    if jax.process_count() == 1:
        return int(value)
    return int(multihost_utils.broadcast_one_to_all(np.int64(value)))


def barrier(name: str) -> None:
    """Wait until every process has reached the barrier ``name`` (nothing with one process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def to_host(tree):
    """``tree`` with every array as a NumPy copy of its whole value, on every process (for
    replicated scalars and small arrays; grid fields are read per process with
    :func:`slab_of`).

    A split grid field whose slabs live on other hosts is gathered (``process_allgather``, a
    collective: every process must call this at the same point); a replicated value is read
    from the local copy; anything else is converted as it is.
    """
    def fetch(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return np.asarray(x)
        if x.is_fully_replicated:
            return np.asarray(x.addressable_data(0))
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))

    return jax.tree.map(fetch, tree)
