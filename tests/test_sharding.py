"""The grid split over several devices gives the one-device solution (float64, virtual CPU
devices in a child process: the device count is fixed when JAX starts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from crturb_keras.errors import ConfigError
from crturb_keras.simulate.mhd.sharding import grid_mesh

_CHILD = r"""
import json
import jax
import numpy as np
jax.config.update("jax_enable_x64", True)
from crturb_keras.simulate.mhd import MHDConfig, Solver
from crturb_keras.simulate.mhd.presets import preset_config
from crturb_keras.simulate.mhd.problems import random_state
from crturb_keras.simulate.mhd.scheme import divergence

def run(preset, devices):
    config = preset_config(preset, MHDConfig(resolution=16, precision="float64", k_max=3))
    solver = Solver(config, devices=devices)
    carry = solver.advance(solver.start(random_state(16, seed=3)), 1e9, dedt=0.1, max_steps=12)
    return carry

out = {}
for preset, counts in (("MHD", (2, 4, 8)), ("CR_Streaming", (4,))):
    ref = run(preset, 1)
    leaves = lambda c: [np.asarray(x) for x in (c.state.rho, c.state.mom, c.state.b) + (
        (c.cr.ec, c.cr.flux) if c.cr is not None else ())]
    for n in counts:
        got = run(preset, n)
        diff = max(float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))
                   for a, b in zip(leaves(got), leaves(ref)))
        out[f"{preset}/{n}"] = {
            "relative_difference": diff,
            "devices_holding_rho": len(got.state.rho.sharding.device_set),
            "shard_shape": list(got.state.rho.addressable_shards[0].data.shape),
            "steps": [int(got.steps), int(ref.steps)],
            "time_difference": abs(float(got.time) - float(ref.time)),
            "div_b": float(np.max(np.abs(np.asarray(divergence(got.state.b, 1 / 16))))),
        }
import re
import jax.numpy as jnp
from crturb_keras.simulate.mhd.solver import _advance, stack_members
solver = Solver(MHDConfig(resolution=16, precision="float64", k_max=3), devices=2)
forcing = stack_members([solver.forcing(0.1)])
hlo = _advance.lower(solver.place(stack_members([solver.start(random_state(16))])),
                     jnp.asarray(1e9, solver.dtype), forcing,
                     jnp.asarray(5, jnp.int32), numerics=solver.numerics,
                     driven=True).compile().as_text()
out["collectives"] = {op: len(re.findall(rf"= [^=]*\b{op}(-start)?\(", hlo))
                      for op in ("collective-permute", "all-gather", "all-reduce")}
from crturb_keras.errors import ConfigError
try:
    Solver(MHDConfig(resolution=16, k_max=3), devices=3)
except ConfigError as error:
    out["uneven"] = str(error)
print(json.dumps(out))
"""


@pytest.mark.slow
def test_grid_split_over_2_4_8_devices_matches_one_device_in_float64():
    """Catches a wrong halo exchange or a lost periodic wrap across slab boundaries (an error
    of order the flow itself), a field left whole on one device or gathered every step instead
    of exchanging boundary planes, and CT broken by the split (div B must stay at round-off). Tolerance: 1e-12 relative after 12 driven steps; the box
    means sum in another order on several devices, so bit-identity is not expected."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "must divide the resolution 16" in result.pop("uneven")
    # The stencils exchange boundary planes; only the driving's FFT gathers its (small) input.
    collectives = result.pop("collectives")
    assert collectives["collective-permute"] >= 6 and collectives["all-gather"] <= 2, collectives
    assert set(result) == {"MHD/2", "MHD/4", "MHD/8", "CR_Streaming/4"}
    for key, r in result.items():
        devices = int(key.split("/")[1])
        assert r["devices_holding_rho"] == devices, key
        assert r["shard_shape"] == [16 // devices, 16, 16], key
        assert r["steps"][0] == r["steps"][1] == 12, key
        assert r["relative_difference"] < 1e-12, (key, r)
        assert r["time_difference"] < 1e-14, (key, r)
        assert r["div_b"] < 1e-11, (key, r)


def test_device_counts_are_checked_with_a_clear_error():
    assert grid_mesh(1, 16) is None
    assert grid_mesh(0, 16) is None          # 0: every device, and this process has one
    with pytest.raises(ConfigError, match="must be >= 0"):
        grid_mesh(-1, 16)
    with pytest.raises(ConfigError, match="xla_force_host_platform_device_count"):
        grid_mesh(10_000, 16)
