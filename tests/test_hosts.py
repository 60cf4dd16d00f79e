"""One box over two processes (JAX's multi-controller runtime over loopback): the same outputs
as the grid split over two devices of one process (which tests/test_sharding.py holds to the
one-device run), and files from process 0 only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crturb_keras.errors import ConfigError
from crturb_keras.io.athena import read_athdf

ROOT = Path(__file__).resolve().parents[1]
RUN = ["--classes", "CR_Streaming", "--seeds", "2", "--resolution", "16", "--k-max", "3",
       "--t-start", "0.1", "--dt-output", "0.05", "--outputs", "2", "--precision", "float64"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _simulate(out: Path, *flags: str, devices: int = 1, env: dict | None = None):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "TQDM_DISABLE": "1",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "pipelines.simulate", "--out", str(out),
                             *RUN, *flags], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(process) -> str:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return out


@pytest.mark.slow
def test_two_processes_write_the_two_device_outputs_once(tmp_path):
    """Catches a slab exchanged wrongly between hosts or not at all (an error of order the
    flow), a gather that loses or repeats slabs, and a second process writing (or printing)
    over the first. Tolerance: bit for bit against two devices of one process (the same
    partitioned program, only the transport differs)."""
    port = _free_port()
    address = f"127.0.0.1:{port}"
    hosts = [_simulate(tmp_path / "hosts", "--devices", "0", "--processes", "2",
                       "--process-id", str(k), "--coordinator", address,
                       env={"JAX_COORDINATOR_BIND_ADDRESS": address}) for k in (0, 1)]
    printed = [_finish(p) for p in hosts]
    assert "joined 2 processes" in printed[0] and "summary:" in printed[0]
    # Process 1 says nothing of its own (gloo, the CPU transport, announces its connection).
    assert [line for line in printed[1].splitlines() if not line.startswith("[Gloo]")] == []
    _finish(_simulate(tmp_path / "devices", "--devices", "2", devices=2))
    outputs = sorted((tmp_path / "hosts").rglob("*.athdf"))
    assert len(outputs) == 4    # two seeds (one ensemble) x two outputs
    leftovers = [p.name for p in (tmp_path / "hosts").rglob("*") if ".tmp" in p.name
                 or p.name == "checkpoint.npz"]
    assert not leftovers
    for path in outputs:
        relative = path.relative_to(tmp_path / "hosts")
        split, devices = (read_athdf(root / relative) for root in (
            tmp_path / "hosts", tmp_path / "devices"))
        assert split.cycle == devices.cycle > 0 and set(split.fields) == set(devices.fields)
        for name in devices.fields:
            np.testing.assert_array_equal(split[name], devices[name])


def test_join_hosts_refuses_inconsistent_settings():
    from crturb_keras.simulate.mhd.hosts import join_hosts

    with pytest.raises(ConfigError, match="--processes must be >= 1"):
        join_hosts("127.0.0.1:1", 0, 0)
    with pytest.raises(ConfigError, match=r"--process-id must be in 0\.\.1"):
        join_hosts("127.0.0.1:1", 2, 2)
