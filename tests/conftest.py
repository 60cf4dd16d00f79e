"""Shared fixtures (helpers that are not fixtures are in ``helpers.py``)."""

from __future__ import annotations

import gc
import sys

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
