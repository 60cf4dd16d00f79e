"""Progress bars of long work: tqdm on stderr that ``TQDM_DISABLE`` (the command lines' ``-q``)
hides when it is set at call time (tqdm itself reads its environment once, when imported, and an
explicit ``disable=False`` overrides it)."""

from __future__ import annotations

import os
import sys
from typing import Any

from tqdm import tqdm


def progress_bar(iterable: Any = None, show: bool = True, **options: Any) -> tqdm:
    """A tqdm bar over ``iterable`` on stderr; hidden when ``show`` is false or
    ``TQDM_DISABLE`` is set."""
    if not show or os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes", "on"):
        options["disable"] = True
    return tqdm(iterable, file=sys.stderr, **options)
