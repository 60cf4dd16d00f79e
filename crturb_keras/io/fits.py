"""FITS cubes (one ImageHDU per field) and 2-D maps, via astropy.

A cube file has an empty primary HDU whose header carries provenance (``TIME``, ``CYCLE``,
``CRCLASS``, ``SRCFILE``, ``CRTKVER``, ``DATE``, the SHA-256 of every source file and the
solver's or surrogate's configuration in ``HISTORY``), then one ImageHDU per field named by
``EXTNAME``, with its data in Athena++ order ``(nx3, nx2, nx1)`` (FITS ``NAXIS1`` = x1) and a
linear WCS giving cell-centre coordinates. Every HDU carries ``CHECKSUM``/``DATASUM``.

Units: simulation code units have no physical scale, so ``BUNIT`` and ``CUNITn`` are written as
astropy-parseable dimensionless units (``''``, or ``'dex'`` for a log10 field) and the dimension
in code units goes in ``CODEUNIT`` (e.g. ``'code_mass / code_length**3'``), so that
``astropy.units.Unit(header["BUNIT"])`` and ``CCDData.read`` work while the meaning stays
written down. Maps are single 2-D images whose header (WCS included)
is kept as read, so a prediction written next to an observed map carries the same sky geometry.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from .._version import __version__
from ..checks import check_memory
from ..errors import ConfigError, DataFormatError
from ..snapshot import Snapshot
from .atomic import atomic_path
from .hashing import sha256 as _sha256

PathLike = str | os.PathLike

#: Code units of Athena++ fields, written as ``CODEUNIT`` (B absorbs sqrt(4 pi), as in
#: Athena++); ``BUNIT`` is the astropy-parseable dimensionless unit (see the module docstring).
CODE_UNITS = {
    "rho": "code_mass / code_length**3",
    "log10_rho": "dex(code_mass / code_length**3)",
    "press": "code_pressure",
    "vel1": "code_length / code_time",
    "vel2": "code_length / code_time",
    "vel3": "code_length / code_time",
    "Bcc1": "code_magnetic",
    "Bcc2": "code_magnetic",
    "Bcc3": "code_magnetic",
    "Ec": "code_pressure",
    "magnetic_energy_density": "code_pressure",
}

@dataclass(frozen=True)
class FitsMap:
    """A 2-D image and the header it came with.

    Attributes
    ----------
    data : ndarray
        ``float32`` image of shape ``(H, W)`` (FITS ``NAXIS2``, ``NAXIS1``).
    header : astropy.io.fits.Header
        The HDU's header, WCS included, for writing results back with the same geometry.
    name : str
        ``EXTNAME`` of the HDU, or ``"PRIMARY"``.
    """

    data: np.ndarray
    header: fits.Header
    name: str = "PRIMARY"


def _check_memory(path: Path, fields: Iterable[str] | None) -> None:
    """Refuse, from the headers alone, a file whose data (all HDUs are read) plus the float32
    copies of the requested fields would not fit in memory. Unreadable headers are left to
    :func:`_open`, which names the problem."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=True, lazy_load_hdus=False) as hdul:
                headers = [h.header.copy() for h in hdul]
    except (OSError, ValueError, TypeError):
        return
    sizes = {}
    raw = 0
    for index, header in enumerate(headers):
        axes = [int(header.get(f"NAXIS{i}", 0)) for i in range(1, int(header.get("NAXIS", 0)) + 1)]
        cells = int(np.prod(axes, dtype=np.int64)) if axes else 0
        raw += cells * abs(int(header.get("BITPIX", 8))) // 8
        sizes[str(header.get("FIELD", header.get("EXTNAME", index)))] = (cells, axes)
    wanted = list(fields) if fields is not None else list(sizes)
    copies = sum(4 * sizes[n][0] for n in wanted if n in sizes)
    shape = "x".join(str(a) for a in reversed(sizes[wanted[0]][1])) if wanted and \
        wanted[0] in sizes else "?"
    check_memory(raw + copies, str(path), f"reading {len(wanted)} field(s) of {shape} cells")


@contextlib.contextmanager
def _open(path: Path) -> Iterator[fits.HDUList]:
    """Open a FITS file fully (data read), turning truncation and format errors into one error."""
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    with open(path, "rb") as handle:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", AstropyUserWarning)
                hdul = fits.open(handle, memmap=False, lazy_load_hdus=False)
                for hdu in hdul:
                    _ = hdu.data
        except (OSError, ValueError, TypeError, AstropyUserWarning) as err:
            raise DataFormatError(
                f"{path}: not a readable FITS file ({err}); it may be truncated: copy or write "
                f"it again"
            ) from None
        try:
            yield hdul
        finally:
            hdul.close()


def _cell_faces(header: fits.Header, axis: int, n: int) -> np.ndarray:
    """Cell faces along FITS axis ``axis`` (1-based) from a linear WCS; unit cells if none."""
    delt = float(header.get(f"CDELT{axis}", 1.0))
    pix = float(header.get(f"CRPIX{axis}", 1.0))
    val = float(header.get(f"CRVAL{axis}", 0.5 * delt))
    centres = val + (np.arange(n) + 1.0 - pix) * delt
    return np.concatenate([centres - 0.5 * delt, centres[-1:] + 0.5 * delt])


def _linear_wcs(faces: list[np.ndarray]) -> fits.Header | None:
    """The ``astropy.wcs`` header of a uniform grid with cell faces ``faces`` (x1, x2, x3), cell
    centres at pixel centres, lengths in code units (``CUNITn`` ``''``); None if a spacing is
    not uniform."""
    from astropy.wcs import WCS

    widths = [np.diff(f) for f in faces]
    if not all(np.allclose(w, w[0], rtol=1e-5) for w in widths):
        return None
    wcs = WCS(naxis=len(faces))
    wcs.wcs.ctype = [f"X{axis}" for axis in range(1, len(faces) + 1)]
    wcs.wcs.cunit = [""] * len(faces)
    wcs.wcs.crpix = [1.0] * len(faces)
    wcs.wcs.crval = [float(f[0] + 0.5 * w[0]) for f, w in zip(faces, widths)]
    wcs.wcs.cdelt = [float(w[0]) for w in widths]
    header = wcs.to_header()
    for axis in range(1, len(faces) + 1):  # astropy leaves out empty units: say them
        header[f"CUNIT{axis}"] = ("", "code_length (no physical scale)")
    return header


def _physical_unit(text: str | None) -> str | None:
    """``text`` in FITS unit syntax if astropy parses it as a physical unit (not code units,
    which have no scale), else None."""
    if not text or "code_" in text:
        return None
    from astropy import units

    try:
        return units.Unit(text.replace("**", "^")).to_string("fits")
    except ValueError:
        return None


def write_fits_cube(
    snapshot: Snapshot,
    path: PathLike,
    fields: Iterable[str] | None = None,
    class_name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write fields of a Snapshot as a FITS cube, one ImageHDU per field, atomically.

    Parameters
    ----------
    snapshot : Snapshot
        Source of the fields (stored or derived names).
    path : path
        Output ``.fits`` file.
    fields : iterable of str, optional
        Fields to write; default all stored fields.
    class_name : str, optional
        Simulation class (e.g. ``"CR_Streaming"``) for the ``CRCLASS`` card; default the
        snapshot's ``SimulationClass`` or ``SurrogateClass`` attribute if it has one.
    overwrite : bool
        Replace an existing file; otherwise an existing file is refused.
    """
    out = Path(path)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out}: exists; pass overwrite=True (CLI: --overwrite) to replace it")
    names = list(fields) if fields is not None else snapshot.names
    primary = fits.PrimaryHDU()
    head = primary.header
    head["ORIGIN"] = ("crturb-keras", "software that wrote this file")
    head["CRTKVER"] = (__version__, "crturb-keras version")
    head["TIME"] = (float(snapshot.time), "simulation time [code_time]")
    head["CYCLE"] = (int(snapshot.cycle), "simulation cycle")
    head["COORDSYS"] = (snapshot.coordinates, "Athena++ coordinate system")
    label = (class_name or snapshot.attributes.get("SimulationClass")
             or snapshot.attributes.get("SurrogateClass"))
    if label:
        head["CRCLASS"] = (str(label), "cosmic-ray transport class")
    head["DATE"] = (datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
                    "UTC date this file was written")
    for source in snapshot.sources:
        head.add_history(f"source: {source}")
        if Path(source).is_file():
            head.add_history(f"sha256 {_sha256(source)}")  # of the source line above
    if snapshot.sources:
        head["SRCFILE"] = (Path(snapshot.sources[0]).name, "first source (paths: HISTORY)")
    for key in ("MHDConfig", "SurrogateConfig"):
        if key in snapshot.attributes:
            head.add_history(f"{key}: {snapshot.attributes[key]}")
    hdus = [primary]
    grid = _linear_wcs([snapshot.x1f, snapshot.x2f, snapshot.x3f])
    known = snapshot.attributes.get("units", {})
    for name in names:
        hdu = fits.ImageHDU(data=np.asarray(snapshot[name], dtype=np.float32), name=name)
        hdu.header["FIELD"] = (name, "field name with its case")
        physical = _physical_unit(known.get(name))
        if physical is not None:
            hdu.header["BUNIT"] = (physical, "physical unit (as read, e.g. through yt)")
        elif name in CODE_UNITS:
            hdu.header["BUNIT"] = ("dex" if name.startswith("log10_") else "",
                                   "code units (no physical scale): see CODEUNIT")
            hdu.header["CODEUNIT"] = (CODE_UNITS[name], "dimension in code units")
        if grid is not None:
            hdu.header.update(grid)
        hdus.append(hdu)
    with atomic_path(out) as tmp:
        fits.HDUList(hdus).writeto(tmp, checksum=True)
    return out


def read_fits_cube(path: PathLike, fields: Iterable[str] | None = None) -> Snapshot:
    """Read a FITS cube with one 3-D ImageHDU per field (``EXTNAME``) into a Snapshot.

    Coordinates come from each HDU's linear WCS (cell centres); without one, cells are unit
    width from 0. Provenance cards of the primary header become ``attributes``.

    Raises
    ------
    DataFormatError
        For a missing, non-FITS or truncated file, a missing field, or HDUs that are not 3-D or
        whose shapes differ.
    """
    path = Path(path)
    if path.is_file():
        _check_memory(path, fields)
    with _open(path) as hdul:
        cubes = {str(h.header.get("FIELD", h.name)): h for h in hdul if h.data is not None}
        names = list(fields) if fields is not None else list(cubes)
        missing = [n for n in names if n not in cubes]
        if missing or not names:
            raise DataFormatError(
                f"{path}: missing field(s) {', '.join(missing) or '(none found)'}; the file holds "
                f"{', '.join(cubes) or 'no image HDUs'}"
            )
        shapes = {n: cubes[n].data.shape for n in names}
        if any(len(s) != 3 for s in shapes.values()) or len(set(shapes.values())) != 1:
            raise DataFormatError(
                f"{path}: expected 3-D image HDUs of one shape (nx3, nx2, nx1), got {shapes}; "
                f"use read_fits_map for 2-D maps"
            )
        data = {n: np.asarray(cubes[n].data, dtype=np.float32) for n in names}
        ref = cubes[names[0]].header
        nx3, nx2, nx1 = shapes[names[0]]
        primary = hdul[0].header
        attributes = {k: primary[k] for k in ("CRCLASS", "SRCFILE", "CRTKVER", "ORIGIN")
                      if k in primary}
        if "CRCLASS" in primary:
            attributes["SurrogateClass"] = primary["CRCLASS"]
        return Snapshot(
            fields=data,
            x1f=_cell_faces(ref, 1, nx1), x2f=_cell_faces(ref, 2, nx2), x3f=_cell_faces(ref, 3, nx3),
            time=float(primary.get("TIME", 0.0)),
            cycle=int(primary.get("CYCLE", 0)),
            coordinates=str(primary.get("COORDSYS", "cartesian")),
            sources=(str(path),),
            attributes=attributes,
        )


def read_fits_map(path: PathLike, hdu: int | str | None = None) -> FitsMap:
    """Read a 2-D map (e.g. an observed H I column-density image) and keep its header.

    Parameters
    ----------
    path : path
        FITS file.
    hdu : int or str, optional
        HDU index or ``EXTNAME``; default the first HDU with data. A 3-D HDU with one plane
        (``NAXIS3 = 1``) is accepted and squeezed.

    Raises
    ------
    DataFormatError
        For a missing, non-FITS or truncated file, a missing HDU, or data that is not 2-D.
    """
    path = Path(path)
    with _open(path) as hdul:
        if hdu is None:
            found = [h for h in hdul if h.data is not None]
            if not found:
                raise DataFormatError(f"{path}: no HDU holds image data")
            chosen = found[0]
        else:
            try:
                chosen = hdul[hdu]
            except (KeyError, IndexError):
                raise DataFormatError(
                    f"{path}: no HDU {hdu!r}; HDUs: {', '.join(h.name for h in hdul)}"
                ) from None
        if chosen.data is None:
            raise DataFormatError(f"{path}: HDU {chosen.name} holds no data")
        data = np.asarray(chosen.data, dtype=np.float32)
        while data.ndim > 2 and data.shape[0] == 1:
            data = data[0]
        if data.ndim != 2:
            raise DataFormatError(
                f"{path}: HDU {chosen.name} has shape {chosen.data.shape}, expected a 2-D map "
                f"(H, W); use read_fits_cube for 3-D cubes"
            )
        return FitsMap(data=data, header=chosen.header.copy(), name=chosen.name)


def write_fits_map(
    image: np.ndarray | FitsMap,
    path: PathLike,
    header: fits.Header | None = None,
    name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a 2-D map as a primary-HDU FITS file, keeping a given header (WCS included).

    Parameters
    ----------
    image : ndarray of shape (H, W) or FitsMap
        The map; a FitsMap brings its own header and name.
    header : astropy.io.fits.Header, optional
        Header to carry over (shape cards are rewritten by astropy).
    name : str, optional
        ``EXTNAME`` card.
    overwrite : bool
        Replace an existing file; otherwise an existing file is refused.
    """
    out = Path(path)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out}: exists; pass overwrite=True (CLI: --overwrite) to replace it")
    if isinstance(image, FitsMap):
        header = header if header is not None else image.header
        name = name or image.name
        image = image.data
    data = np.asarray(image, dtype=np.float32)
    if data.ndim != 2:
        raise ConfigError(f"write_fits_map needs a 2-D array (H, W), got shape {data.shape}")
    hdu = fits.PrimaryHDU(data=data, header=header.copy() if header is not None else None)
    if name and name != "PRIMARY":
        hdu.header["EXTNAME"] = name
    hdu.header["CRTKVER"] = (__version__, "crturb-keras version")
    with atomic_path(out) as tmp:
        hdu.writeto(tmp)
    return out


def write_fits_fields(
    fields: Mapping[str, np.ndarray],
    path: PathLike,
    header: fits.Header | None = None,
    comment: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write 2-D maps of one region as image extensions named after each field, every one
    carrying ``header`` (its WCS included), behind a primary HDU holding ``header`` alone.

    Parameters
    ----------
    fields : mapping of str to ndarray of shape (H, W)
        Field name -> map (NaN allowed for blank pixels).
    header : astropy.io.fits.Header, optional
        Header of the input map to carry over (shape cards are rewritten by astropy).
    comment : str, optional
        ``COMMENT`` card of each extension (e.g. what produced it).
    overwrite : bool
        Replace an existing file; otherwise an existing file is refused.
    """
    out = Path(path)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out}: exists; pass --overwrite or another --out")
    header = header.copy() if header is not None else fits.Header()
    hdus = [fits.PrimaryHDU(header=header)]
    for name, data in fields.items():
        data = np.asarray(data, dtype=np.float32)
        if data.ndim != 2:
            raise ConfigError(f"write_fits_fields needs 2-D maps (H, W); {name} has shape "
                              f"{data.shape}")
        extension = fits.ImageHDU(data, header=header, name=name)
        extension.header["FIELD"] = (name, "field name with its case")
        extension.header["CRTKVER"] = (__version__, "crturb-keras version")
        if comment:
            extension.header["COMMENT"] = comment
        hdus.append(extension)
    with atomic_path(out) as tmp:
        fits.HDUList(hdus).writeto(tmp, output_verify="silentfix")
    return out

