"""Per-source work of ``prepare`` in worker processes, results in job order."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Sequence

from ..errors import CrturbError
from ..progress import progress_bar
from .sources import Source

SMALL_INPUT_BYTES = 32 * 2**20


def worker_count(requested: int, sources: Sequence[Source]) -> int:
    """Processes for per-source work: ``requested``, or (0) as many as cores, at most 4, and one
    for inputs under :data:`SMALL_INPUT_BYTES` in all."""
    if not requested:
        size = sum(os.path.getsize(path) for source in sources for path in source.paths)
        requested = 1 if size < SMALL_INPUT_BYTES else min(os.cpu_count() or 1, 4)
    return max(1, min(requested, len(sources)))


def run_parallel(function, jobs: list[tuple], workers: int, label: str, progress: bool) -> list:
    """``function(*job)`` for every job, in order, in ``workers`` processes, with a progress bar."""
    bar = progress_bar(total=len(jobs), desc=label, unit="snapshot", show=progress)
    if workers == 1:
        results = []
        for job in jobs:
            results.append(function(*job))
            bar.update(1)
    else:
        # fork is fastest, but forking a process whose JAX or TensorFlow runtime already runs
        # threads can deadlock the child: then start workers from a clean server process.
        threaded = any(name in sys.modules for name in ("jax", "tensorflow"))
        context = get_context("forkserver" if threaded else "fork")
        try:
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                futures = [pool.submit(function, *job) for job in jobs]
                for future in as_completed(futures):
                    future.result()  # raise the first failure early
                    bar.update(1)
                results = [f.result() for f in futures]
        except BrokenProcessPool as err:
            raise CrturbError(
                f"{label}: a worker process died ({err}); it was killed (out of memory?) or, "
                f"when prepare is called from a script, the script lacks an "
                f"'if __name__ == \"__main__\":' guard (worker processes re-import it); "
                f"add the guard or pass workers=1 (CLI: --workers 1)") from None
    bar.close()
    return results
