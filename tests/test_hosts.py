"""One box over two processes (JAX's multi-controller runtime over loopback): killed and resumed
from one checkpoint per process, the same outputs as the grid split over two devices of one
process (which tests/test_sharding.py holds to the one-device run), each process holding only
its own planes; and the per-slab box means against the whole box's."""

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
from crturb_keras.simulate.mhd.diagnostics import (box_means, cell_field, combine_sums,
                                                   means_from_sums, slab_sums)
from crturb_keras.simulate.mhd.scheme import State

ROOT = Path(__file__).resolve().parents[1]
RUN = ["--classes", "CR_Streaming", "--seeds", "2", "--resolution", "16", "--k-max", "3",
       "--t-start", "0.1", "--dt-output", "0.05", "--outputs", "2", "--precision", "float64"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: ``pipelines.simulate`` that dies (as if killed) right after writing its first output.
KILLED_AFTER_FIRST_OUTPUT = """
import os, runpy, sys
from crturb_keras.simulate.mhd import run
write = run.write_output
def write_then_die(*args, **kwargs):
    write(*args, **kwargs)
    os._exit(3)
run.write_output = write_then_die
runpy.run_module("pipelines.simulate", run_name="__main__")
"""


def _simulate(out: Path, *flags: str, devices: int = 1, env: dict | None = None,
              killed: bool = False):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "TQDM_DISABLE": "1",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", **(env or {})}
    program = ["-c", KILLED_AFTER_FIRST_OUTPUT] if killed else ["-m", "pipelines.simulate"]
    return subprocess.Popen([sys.executable, *program, "--out", str(out), *RUN, *flags],
                            cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _finish(process, code: int = 0) -> str:
    out, err = process.communicate(timeout=600)
    assert process.returncode == code, err[-3000:]
    return out


def _two_processes(out: Path, killed: bool = False) -> list[str]:
    address = f"127.0.0.1:{_free_port()}"
    hosts = [_simulate(out, "--devices", "0", "--processes", "2", "--process-id", str(k),
                       "--coordinator", address, "--checkpoint-interval", "1e-9",
                       env={"JAX_COORDINATOR_BIND_ADDRESS": address}, killed=killed)
             for k in (0, 1)]
    return [_finish(p, 3 if killed else 0) for p in hosts]


@pytest.mark.slow
def test_two_processes_resume_their_own_checkpoints_to_the_two_device_outputs(tmp_path):
    """Catches a slab exchanged wrongly between hosts or not at all (an error of order the
    flow), a slab written to the wrong planes of an output or a checkpoint (or by both
    processes, or by neither), a checkpoint holding the whole box, a resume that mixes the
    processes' parts, and a second process writing (or printing) over the first. Tolerance: bit
    for bit against two devices of one process (the same partitioned program, only the
    transport differs)."""
    hosts = tmp_path / "hosts"
    _two_processes(hosts, killed=True)
    for seed in ("seed0", "seed1"):
        folder = hosts / "CR_Streaming" / seed
        assert not (folder / "checkpoint.npz").exists()
        parts = [np.load(folder / f"checkpoint.{k}-of-2.npz") for k in (0, 1)]
        assert [int(p["x3_start"]) for p in parts] == [0, 8]
        assert all(p["rho"].shape == (8, 16, 16) and p["b"].shape == (3, 8, 16, 16)
                   and p["ec"].shape == (8, 16, 16) for p in parts)
        assert int(parts[0]["steps"]) == int(parts[1]["steps"]) > 0
    assert len(list(hosts.rglob("*.athdf"))) == 1   # died after its first output
    printed = _two_processes(hosts)
    assert "joined 2 processes" in printed[0] and "summary:" in printed[0]
    assert "resuming" in printed[0]
    # Process 1 says nothing of its own (gloo, the CPU transport, announces its connection).
    assert [line for line in printed[1].splitlines() if not line.startswith("[Gloo]")] == []
    _finish(_simulate(tmp_path / "devices", "--devices", "2", devices=2))
    outputs = sorted(hosts.rglob("*.athdf"))
    assert len(outputs) == 4    # two seeds (one ensemble) x two outputs
    leftovers = [p.name for p in hosts.rglob("*") if ".tmp" in p.name
                 or p.name.startswith("checkpoint")]
    assert not leftovers
    for path in outputs:
        relative = path.relative_to(hosts)
        split, devices = (read_athdf(root / relative) for root in (hosts, tmp_path / "devices"))
        assert split.cycle == devices.cycle > 0 and set(split.fields) == set(devices.fields)
        for name in devices.fields:
            np.testing.assert_array_equal(split[name], devices[name])


def test_box_means_from_slabs_equal_those_of_the_whole_box():
    """Catches a slab's cell-centred B3 taken without the plane above it (which lies on the
    next process), a sum counted twice or dropped, and a maximum or non-finite count combined
    as a sum. Tolerance: 1e-14 relative (float64 sums in another order)."""
    rng = np.random.default_rng(3)
    n = 12
    state = State(1.0 + 0.5 * rng.random((n, n, n)), rng.standard_normal((3, n, n, n)),
                  rng.standard_normal((3, n, n, n)))
    ec = rng.random((n, n, n))
    whole = box_means(state, 1.0, ec)
    cuts = [0, 5, 6, 12]
    rows = [slab_sums(state.rho[a:b], state.mom[:, a:b],
                      cell_field(state.b[:, a:b], state.b[2][b % n]), ec[a:b], 1.0)
            for a, b in zip(cuts[:-1], cuts[1:])]
    slabs = means_from_sums(combine_sums(rows), 1.0)
    assert slabs.keys() == whole.keys() and whole["finite"] and slabs["finite"]
    for name, value in whole.items():
        assert slabs[name] == pytest.approx(value, rel=1e-14), name
    rho = state.rho.copy()
    rho[7, 1, 2] = np.nan
    rows[2] = slab_sums(rho[6:], state.mom[:, 6:], cell_field(state.b[:, 6:], state.b[2][0]),
                        ec[6:], 1.0)
    assert not means_from_sums(combine_sums(rows), 1.0)["finite"]


def test_join_hosts_refuses_inconsistent_settings():
    from crturb_keras.simulate.mhd.hosts import join_hosts

    with pytest.raises(ConfigError, match="--processes must be >= 1"):
        join_hosts("127.0.0.1:1", 0, 0)
    with pytest.raises(ConfigError, match=r"--process-id must be in 0\.\.1"):
        join_hosts("127.0.0.1:1", 2, 2)


def test_one_process_refuses_the_checkpoints_of_two(tmp_path):
    """A folder holding per-process checkpoints of a two-process run is not silently restarted
    from t = 0 by one process (which would leave them stale): it is refused, naming the file."""
    from crturb_keras.simulate.mhd import MHDConfig, simulate_mhd

    folder = tmp_path / "MHD"
    folder.mkdir()
    (folder / "checkpoint.0-of-2.npz").write_bytes(b"part of another run")
    with pytest.raises(ConfigError, match=r"checkpoint\.0-of-2\.npz.*other number of processes"):
        simulate_mhd(MHDConfig(resolution=16, k_max=3, t_start=0.1, outputs=1), tmp_path)
    assert (folder / "checkpoint.0-of-2.npz").read_bytes() == b"part of another run"
