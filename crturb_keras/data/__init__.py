"""Data preparation: buffered splits, images, transforms, prepared datasets, tf.data pipelines.

``make_dataset`` and ``array_dataset`` live in :mod:`crturb_keras.data.pipeline` (it imports
TensorFlow); they are re-exported here lazily so that preparing data never pays for importing
TensorFlow.
"""

from .config import PrepareConfig
from .manifest import Manifest, load_manifest, load_split
from .sources import Source, discover_sources
from .splits import SPLITS, Region, SplitLayout, autocorrelation_length, check_layout, split_regions
from .writer import prepare

__all__ = [
    "SPLITS",
    "array_dataset",
    "PrepareConfig",
    "Region",
    "Source",
    "SplitLayout",
    "autocorrelation_length",
    "check_layout",
    "discover_sources",
    "Manifest",
    "load_manifest",
    "load_split",
    "make_dataset",
    "prepare",
    "split_regions",
]


def __getattr__(name: str):
    if name in ("make_dataset", "array_dataset"):
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
