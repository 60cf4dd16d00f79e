"""Shared fixtures (helpers that are not fixtures are in ``helpers.py``)."""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import pytest

from crturb_keras.snapshot import Snapshot

from helpers import make_snapshot


@pytest.fixture
def snapshot() -> Snapshot:
    return make_snapshot()


@pytest.fixture(autouse=True, scope="module")
def _release_keras_state():
    """Free each module's models, graphs and Keras name counters when it ends, so that later
    modules do not slow down with a heap full of earlier modules' objects."""
    yield
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
    gc.collect()


#: Seconds each test file took in the full suite under ``-n 2 --dist loadfile`` (2-core Intel
#: Xeon), to hand the longest files out first; refresh after adding a heavy file with
#: ``pytest -n 2 --dist loadfile --junitxml=J.xml`` and the per-file sums of its times.
DURATIONS = Path(__file__).with_name("durations.json")


def pytest_configure(config: pytest.Config) -> None:
    """pytest-xdist hands whole files to its workers, by default those with the most tests
    first; the suite's time is set by its longest files (a two-process run, a solver compile),
    so it is told to keep the order of :func:`pytest_collection_modifyitems` instead."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """Files longest first (:data:`DURATIONS`; a file not listed counts as the median), tests
    within a file in their written order: the workers finish at about the same time instead of
    one running the slowest files alone at the end."""
    seconds = json.loads(DURATIONS.read_text()) if DURATIONS.is_file() else {}
    typical = sorted(seconds.values())[len(seconds) // 2] if seconds else 0.0
    items.sort(key=lambda item: -seconds.get(item.path.name, typical))
