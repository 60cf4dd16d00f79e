"""Independent jobs in worker processes, results in job order: the one process pool of the
package (``prepare``'s per-source work, ``simulate``'s independent runs)."""

from __future__ import annotations

import contextlib
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any, Callable, Iterator

from .errors import CrturbError
from .progress import progress_bar


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` updated by ``env`` inside (for the workers started there), restored after."""
    before = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_parallel(function: Callable, jobs: list[tuple], workers: int, label: str,
                 progress: bool, unit: str = "snapshot", env: dict[str, str] | None = None,
                 on_result: Callable[[int, Any], None] | None = None) -> list:
    """``function(*job)`` for every job, in ``workers`` processes, with a progress bar.

    Parameters
    ----------
    function : callable
        A module-level function (workers import it).
    jobs : list of tuple
        Arguments of each call.
    workers : int
        Processes; 1 runs the jobs here, in order.
    label : str
        Names the bar and the error of a dying worker.
    progress : bool
        Show the bar (``unit`` per job).
    env : dict, optional
        Environment of the workers (e.g. ``XLA_FLAGS`` that must be set before JAX starts);
        given, workers are started fresh (``spawn``).
    on_result : callable, optional
        ``on_result(index, result)`` as each job finishes (finishing order).

    Returns
    -------
    list
        The results in job order.

    Raises
    ------
    CrturbError
        If a worker process died; a job's own error is raised as it is.
    """
    bar = progress_bar(total=len(jobs), desc=label, unit=unit, show=progress)
    results: list = [None] * len(jobs)
    if workers == 1:
        for index, job in enumerate(jobs):
            results[index] = function(*job)
            bar.update(1)
            if on_result:
                on_result(index, results[index])
        bar.close()
        return results
    # fork is fastest, but forking a process whose JAX or TensorFlow runtime already runs threads
    # can deadlock the child: then start workers from a clean server process (or afresh, when
    # they need their own environment before anything is imported)
    threaded = any(name in sys.modules for name in ("jax", "tensorflow"))
    context = get_context("spawn" if env else "forkserver" if threaded else "fork")
    try:
        with _environment(env or {}), ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = {pool.submit(function, *job): index for index, job in enumerate(jobs)}
            for future in as_completed(futures):
                index = futures[future]
                results[index] = future.result()  # raise the first failure early
                bar.update(1)
                if on_result:
                    on_result(index, results[index])
    except BrokenProcessPool as err:
        raise CrturbError(
            f"{label}: a worker process died ({err}); it was killed (out of memory?) or, when "
            f"this is called from a script, the script lacks an 'if __name__ == \"__main__\":' "
            f"guard (worker processes re-import it); add the guard or pass workers=1 (CLI: "
            f"--workers 1); finished work is kept") from None
    finally:
        bar.close()
    return results
