"""Readers and writers: Athena++ ``.athdf`` (HDF5) and FITS cubes and maps."""

from .athena import cycle_outputs, read_athdf, write_athdf
from .fits import FitsMap, read_fits_cube, read_fits_map, write_fits_cube, write_fits_map

__all__ = [
    "FitsMap",
    "cycle_outputs",
    "read_athdf",
    "read_fits_cube",
    "read_fits_map",
    "write_athdf",
    "write_fits_cube",
    "write_fits_map",
]
