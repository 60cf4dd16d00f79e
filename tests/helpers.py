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
from crturb_keras.data.store import PrepareConfig, prepare
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
