"""One box over several hosts: JAX's multi-controller runtime (``jax.distributed``).

Every process runs the same program (as MPI ranks run Athena++): :func:`join_hosts` connects
them through JAX's coordinator before anything else touches JAX, after which ``jax.devices()``
lists the devices of every process and the solver's one-axis mesh (:mod:`.sharding`) spans
them all; XLA's collectives then cross hosts (NCCL between GPUs, gloo between CPU processes).
What the run loop reads between chunks (time, history means, outputs, checkpoints) is fetched
to every process with :func:`to_host`; only process 0 writes files (:func:`is_writer`), so the
output folder must be one that process 0 sees and, to resume, one every process sees (a shared
file system, as Athena++'s restart files need).

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


def to_host(tree):
    """``tree`` with every array as a NumPy copy of its whole value, on every process.

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
