"""One box over several devices: the solver's grid split along x3 with ``jax.sharding``.

Every field ``(N3, N2, N1)`` (and every vector field ``(3, N3, N2, N1)``) is cut into equal slabs
of x3 planes, one per device of a one-axis mesh; the driving modes, the random key and the
scalars are replicated. The step is the same jit-compiled code: XLA's SPMD partitioner turns the
periodic shifts (``jnp.roll``) along x3 into collective permutes of the boundary planes, the
CFL minimum into an all-reduce, and gathers what the driving's FFT needs. The driving's box
means add in one fixed order (:func:`~.driving.box_mean`), and without cosmic rays one split
step is the one-device step bit for bit (measured at 16^3 on 2 devices); the CR step, and
driven runs over many steps, differ in the last bits (XLA compiles the split program
differently; the cause was not isolated), so results agree with one device to round-off,
~2e-15 relative (``tests/test_sharding.py`` states the tolerance).

On a CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (set before JAX starts) makes
``N`` virtual devices of the cores, which is how this is tested; on GPUs the devices are the
GPUs of the process, and after :func:`~.hosts.join_hosts` those of every process.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ...errors import ConfigError

#: Name of the mesh axis the x3 planes are split along.
AXIS = "x3"


def grid_mesh(devices: int, resolution: int) -> Mesh | None:
    """A one-axis mesh of the first ``devices`` devices (0: all of them, on every process of a
    multi-host run; None for one device).

    Raises
    ------
    ConfigError
        If fewer devices exist or the x3 planes do not split evenly among them.
    """
    if devices < 0:
        raise ConfigError(f"--devices must be >= 0 (0: every device), got {devices}")
    devices = devices or len(jax.devices())
    if devices == 1:
        return None
    present = jax.devices()
    if devices > len(present):
        raise ConfigError(
            f"--devices {devices}: only {len(present)} {present[0].platform} device(s) here "
            f"(on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count={devices} before "
            f"JAX starts makes virtual ones)")
    if jax.process_count() > 1 and devices != len(present):
        raise ConfigError(
            f"--devices {devices}: a run over {jax.process_count()} processes spans every "
            f"device of every process; give --devices {len(present)} (or 0: all)")
    if resolution % devices:
        raise ConfigError(f"--devices {devices} must divide the resolution {resolution} "
                          f"(the x3 planes are split evenly)")
    return Mesh(present[:devices], (AXIS,))


def _sharding(x, mesh: Mesh, resolution: int) -> NamedSharding:
    """Grid fields (``(..., N3, N2, N1)``, any leading member or component axes) split along
    x3, everything else replicated."""
    if x.ndim >= 3 and tuple(x.shape[-3:]) == (resolution,) * 3:
        return grid_sharding(x.ndim, mesh)
    return NamedSharding(mesh, PartitionSpec())


def grid_sharding(ndim: int, mesh: Mesh | None) -> NamedSharding | None:
    """How a grid field of ``ndim`` axes (``(..., N3, N2, N1)``) is split over ``mesh``: along
    x3 (None without a mesh)."""
    if mesh is None:
        return None
    return NamedSharding(mesh, PartitionSpec(*(None,) * (ndim - 3), AXIS))


def place_planes(planes: np.ndarray, mesh: Mesh, resolution: int) -> jax.Array:
    """One grid field split over ``mesh`` from this process's consecutive x3 planes of it
    (``(..., n3, N2, N1)``, as :func:`~.hosts.slab_of` gives them): no process holds the
    whole field."""
    shape = planes.shape[:-3] + (resolution,) * 3
    return jax.make_array_from_process_local_data(grid_sharding(planes.ndim, mesh), planes,
                                                  shape)


def place(tree, mesh: Mesh | None, resolution: int):
    """``tree`` (a carry) with its grid fields split over ``mesh`` and the rest replicated.

    With several processes each passes the same whole value; an array already spread over the
    mesh's processes stays where it is.
    """
    if mesh is None:
        return tree

    def put(x):
        if jax.process_count() > 1 and (not isinstance(x, jax.Array) or x.is_fully_addressable):
            x = np.asarray(x)
        return jax.device_put(x, _sharding(x, mesh, resolution))

    return jax.tree.map(put, tree)


def constrain(tree, mesh: Mesh | None, resolution: int):
    """Inside a jit: keep ``tree``'s grid fields split over ``mesh`` (loop carries included)."""
    if mesh is None:
        return tree
    return jax.tree.map(
        lambda x: jax.lax.with_sharding_constraint(x, _sharding(x, mesh, resolution)), tree)
