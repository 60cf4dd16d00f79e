"""Progress bars of long library work: tqdm on stderr that ``TQDM_DISABLE=1`` (the command
lines' ``-q``) always hides; tqdm's explicit ``disable=False`` would override it."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def progress_bar(iterable: Any = None, show: bool = True, **options: Any) -> tqdm:
    """A tqdm bar over ``iterable`` on stderr; hidden when ``show`` is false or
    ``TQDM_DISABLE`` is set."""
    if not show:
        options["disable"] = True
    return tqdm(iterable, file=sys.stderr, **options)
