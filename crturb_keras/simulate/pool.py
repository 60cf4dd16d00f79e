"""Independent solver runs (classes x seeds) in worker processes, the cores shared out.

Workers are started fresh (``spawn``: the parent's JAX runtime already runs threads) with XLA's
CPU thread pool limited to ``cores // workers`` threads (one thread: Eigen's pool off); each runs
:func:`~crturb_keras.simulate.mhd.simulate_mhd` as a sequential campaign would, so outputs
(bit-identical: tested), checkpoints and resumption are unchanged. On a GPU, runs stay in one
process (they would each claim the device's memory).

Measured (``benchmarks.campaign``, 2-core AMD EPYC, four 16^3 runs to t = 1, medians of 2
alternating rounds, after ``scheme.materialize`` made the step 24x faster): one process 19.6 s,
two single-threaded workers 30.3 s (0.65x). Every worker compiles its own step, which at this
size costs more than the runs, and one process already uses both cores, so this pays only where
one run cannot use the cores (many cores per run; not measured here). Hence ``workers=1`` is
the default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

from ..errors import ConfigError
from ..processes import run_parallel

#: XLA flags that keep a process's CPU work on one thread.
ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def run_workers(requested: int, runs: int) -> int:
    """Worker processes for ``runs`` independent runs: ``requested``, or (0) one per CPU core
    on the CPU backend and 1 on an accelerator; never more than ``runs``."""
    if requested < 0:
        raise ConfigError(f"--workers must be >= 0 (0: one per core), got {requested}")
    if not requested:
        import jax

        requested = (os.cpu_count() or 1) if jax.default_backend() == "cpu" else 1
    return max(1, min(requested, runs))


def thread_flags(workers: int) -> str:
    """``XLA_FLAGS`` of each of ``workers`` processes: the caller's flags plus ``cores //
    workers`` threads (one thread: Eigen's pool off)."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    flags = ONE_THREAD if threads == 1 else f"intra_op_parallelism_threads={threads}"
    before = os.environ.get("XLA_FLAGS")
    return f"{before} {flags}" if before else flags


def _run(config, root: str, name: str, run: str):
    from .mhd import simulate_mhd

    return simulate_mhd(config, Path(root), name, run=run)


def run_runs(jobs: Sequence[tuple], root: Path, workers: int,
             report: Callable[[int, object], None] | None = None,
             progress: bool = False) -> list:
    """``simulate_mhd(config, root, name, run=run)`` for every ``(name, config, run)`` job in
    ``workers`` spawned processes (:func:`crturb_keras.processes.run_parallel`); the results in
    job order, ``report(index, result)`` as each run finishes. A failing run's error is raised
    as it is (finished runs and checkpoints are kept)."""
    return run_parallel(_run, [(config, str(root), name, run) for name, config, run in jobs],
                        workers, f"{root}: runs ({workers} processes)", progress, unit="run",
                        env={"XLA_FLAGS": thread_flags(workers)}, on_result=report)
