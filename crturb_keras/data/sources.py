"""Find simulation snapshots on disk and read the fields a prepared dataset needs from them.

A :class:`Source` is one snapshot of one class: the ``.athdf`` outputs of one cycle (``out1``,
``out2``, ... merged) or one FITS cube. Classes come from folder names (``runs/<class>/...``) or
from the files themselves (the MHD solver's ``SimulationClass`` or the surrogate's
``SurrogateClass`` attribute, the FITS ``CRCLASS`` card) -- never from file order.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import h5py
from astropy.io import fits

from ..checks import safe_name
from ..errors import ConfigError, DataFormatError
from ..io.athena import athdf_variables, cycle_stem, read_athdf
from ..io.fits import read_fits_cube
from ..snapshot import DERIVED, Snapshot

_SUFFIXES = (".athdf", ".fits", ".fit")


@dataclass(frozen=True)
class Source:
    """One snapshot of one class: ``paths`` are the files of one cycle (or one FITS cube)."""

    class_name: str
    paths: tuple[str, ...]

    @property
    def is_fits(self) -> bool:
        return self.paths[0].lower().endswith((".fits", ".fit"))

    def variables(self) -> set[str]:
        """Stored variable names available in the files, plus derived names they allow."""
        names: set[str] = set()
        for path in self.paths:
            if not self.is_fits:
                names |= set(athdf_variables(path))
                continue
            try:
                with fits.open(path) as hdul:
                    names |= {str(h.header.get("FIELD", h.name)) for h in hdul[1:]}
            except (OSError, KeyError) as err:
                raise DataFormatError(f"{path}: cannot list its variables ({err}); is it a valid "
                                      f"FITS file?") from None
        return names | {d for d, (needs, _) in DERIVED.items() if set(needs) <= names}

    def read(self, names: list[str]) -> Snapshot:
        """Read ``names`` (stored or derived) as a Snapshot."""
        if self.is_fits:
            return read_fits_cube(self.paths[0]).select(names)
        return read_athdf(list(self.paths), names, check_finite=True)


def _class_from_file(path: Path) -> str | None:
    try:
        if path.suffix.lower() in (".fits", ".fit"):
            with fits.open(path) as hdul:
                value = hdul[0].header.get("CRCLASS")
        else:
            with h5py.File(path, "r") as f:
                value = f.attrs.get("SimulationClass", f.attrs.get("SurrogateClass"))
    except OSError:
        return None
    if isinstance(value, bytes):
        value = value.decode()
    return str(value) if value else None


def discover_sources(specs: Iterable[str], classes_from_dirs: bool = False) -> list[Source]:
    """Turn folders or glob patterns into Sources, one per snapshot.

    Parameters
    ----------
    specs : iterable of str
        Folders (each sub-folder holding one class's files, as ``pipelines.simulate`` writes
        them) or glob patterns such as ``'runs/*/cr.out1.*.athdf'`` (``**`` allowed).
    classes_from_dirs : bool
        Name the class of a globbed file after its parent folder; otherwise the class is read
        from the file (surrogate attribute or FITS ``CRCLASS``). Files in class folders always
        take the folder name.

    Raises
    ------
    ConfigError
        If nothing matches, a file's class cannot be determined, or a class folder's name is
        not a safe class name (see :func:`crturb_keras.checks.safe_name`).
    DataFormatError
        If a class read from a file is not a safe class name.
    """
    found: list[tuple[Path, str | None]] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            for sub in sorted(p for p in path.iterdir() if p.is_dir()):
                found += [(f, sub.name) for f in sorted(sub.rglob("*"))
                          if f.suffix.lower() in _SUFFIXES]
            found += [(f, None) for f in sorted(path.glob("*")) if f.suffix.lower() in _SUFFIXES]
        else:
            matches = sorted(Path(m) for m in glob.glob(spec, recursive=True))
            matches = [m for m in matches if m.is_file() and m.suffix.lower() in _SUFFIXES]
            found += [(m, m.parent.name if classes_from_dirs else None) for m in matches]
    if not found:
        raise ConfigError(f"no .athdf or .fits files found for {', '.join(specs)}")
    groups: dict[tuple, list[Path]] = {}
    classes: dict[tuple, str] = {}
    for path, label in found:
        stem = cycle_stem(path)
        key = (str(path.parent), stem) if stem else (str(path),)
        if label is not None:
            safe_name(label, f"{path.parent}", "class folder name", ConfigError)
        else:
            label = _class_from_file(path)
            if label is None:
                raise ConfigError(f"{path}: cannot tell its class; put files in class folders "
                                  f"(runs/<class>/...) and pass --classes-from-dirs")
            safe_name(label, str(path), "class name (SimulationClass/SurrogateClass attribute or CRCLASS card)")
        groups.setdefault(key, []).append(path)
        classes[key] = label
    return [Source(classes[k], tuple(str(p) for p in sorted(set(v)))) for k, v in groups.items()]
