"""How many worker processes ``prepare``'s per-source work gets (the pool itself is
:func:`crturb_keras.processes.run_parallel`)."""

from __future__ import annotations

import os
from typing import Sequence

from .sources import Source

SMALL_INPUT_BYTES = 32 * 2**20


def worker_count(requested: int, sources: Sequence[Source]) -> int:
    """Processes for per-source work: ``requested``, or (0) as many as cores, at most 4, and one
    for inputs under :data:`SMALL_INPUT_BYTES` in all."""
    if not requested:
        size = sum(os.path.getsize(path) for source in sources for path in source.paths)
        requested = 1 if size < SMALL_INPUT_BYTES else min(os.cpu_count() or 1, 4)
    return max(1, min(requested, len(sources)))
