"""Readers and writers: Athena++ ``.athdf`` (HDF5), FITS cubes and maps, and any yt dataset."""

from .athena import cycle_outputs, read_athdf, write_athdf
from .fits import (
    FitsMap,
    read_fits_cube,
    read_fits_map,
    write_fits_cube,
    write_fits_fields,
    write_fits_map,
)
from .yt_reader import read_yt

__all__ = [
    "FitsMap",
    "cycle_outputs",
    "read_athdf",
    "read_fits_cube",
    "read_fits_map",
    "read_yt",
    "write_athdf",
    "write_fits_cube",
    "write_fits_fields",
    "write_fits_map",
]
