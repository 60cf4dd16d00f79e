"""Independent solver runs (classes x seeds) in worker processes, the cores shared out.

Workers are started fresh (``spawn``: the parent's JAX runtime already runs threads) with XLA's
CPU thread pool limited to ``cores // workers`` threads (one thread: Eigen's pool off); each runs
:func:`~crturb_keras.simulate.mhd.simulate_mhd` as a sequential campaign would, so outputs
(bit-identical: tested), checkpoints and resumption are unchanged. On a GPU, runs stay in one
process (they would each claim the device's memory).

Measured (``benchmarks.campaign``, 2-core AMD EPYC, four 16^3 runs to t = 2, medians of 2
alternating rounds): one process 79.4 s, two single-threaded workers 98.0 s (0.81x). One
process already keeps both cores busy at the main job's size, and every worker compiles its own
step, so this pays only where one run cannot use the cores (many cores per run; not measured
here). Hence ``workers=1`` is the default.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..errors import ConfigError, CrturbError
from ..progress import progress_bar

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


@contextlib.contextmanager
def _thread_limit(workers: int) -> Iterator[None]:
    """``XLA_FLAGS`` for the workers started inside (each gets ``cores // workers`` threads;
    one thread: Eigen's pool off), restored after."""
    before = os.environ.get("XLA_FLAGS")
    threads = max(1, (os.cpu_count() or 1) // workers)
    flags = ONE_THREAD if threads == 1 else f"intra_op_parallelism_threads={threads}"
    os.environ["XLA_FLAGS"] = f"{before} {flags}" if before else flags
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("XLA_FLAGS", None)
        else:
            os.environ["XLA_FLAGS"] = before


def _run(config, root: str, name: str, run: str):
    from .mhd import simulate_mhd

    return simulate_mhd(config, Path(root), name, run=run)


def run_parallel(jobs: Sequence[tuple], root: Path, workers: int,
                 report: Callable[[int, object], None] | None = None,
                 progress: bool = False) -> list:
    """``simulate_mhd(config, root, name, run=run)`` for every ``(name, config, run)`` job in
    ``workers`` processes; return the results in job order. ``report(index, result)`` is called
    as each run finishes (in finishing order).

    Raises
    ------
    CrturbError
        As the failing run raised it (the other runs finish or keep their checkpoints), or if a
        worker process died.
    """
    results: list = [None] * len(jobs)
    bar = progress_bar(total=len(jobs), desc=f"runs ({workers} processes)", unit="run",
                       show=progress)
    with _thread_limit(workers), ProcessPoolExecutor(workers, mp_context=get_context("spawn")) \
            as pool:
        futures = {pool.submit(_run, config, str(root), name, run): i
                   for i, (name, config, run) in enumerate(jobs)}
        try:
            for future in as_completed(futures):
                index = futures[future]
                results[index] = future.result()
                bar.update(1)
                if report:
                    report(index, results[index])
        except BrokenProcessPool:
            raise CrturbError(f"{root}: a simulation worker process died (out of memory?); "
                              f"finished runs are kept: run the same command again, with "
                              f"--workers 1 to stay in one process") from None
        finally:
            bar.close()
    return results
