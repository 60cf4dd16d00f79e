"""crturb-keras: learn cosmic-ray transport in turbulent, magnetised gas from density maps.

The public API is re-exported here; see README.md for the command-line jobs.
"""

from ._version import __version__
from .errors import ConfigError, CrturbError, DataFormatError, SplitError
from .io import (
    FitsMap,
    cycle_outputs,
    read_athdf,
    read_fits_cube,
    read_fits_map,
    write_athdf,
    write_fits_cube,
    write_fits_map,
)
from .simulate import CLASSES, SurrogateConfig, simulate, simulate_class
from .snapshot import Snapshot

__all__ = [
    "CLASSES",
    "ConfigError",
    "CrturbError",
    "DataFormatError",
    "FitsMap",
    "Snapshot",
    "SplitError",
    "SurrogateConfig",
    "__version__",
    "cycle_outputs",
    "read_athdf",
    "read_fits_cube",
    "read_fits_map",
    "simulate",
    "simulate_class",
    "write_athdf",
    "write_fits_cube",
    "write_fits_map",
]
