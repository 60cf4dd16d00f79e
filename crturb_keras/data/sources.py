"""Find simulation snapshots on disk and read the fields a prepared dataset needs from them.

A :class:`Source` is one snapshot of one class: the ``.athdf`` outputs of one cycle (``out1``,
``out2``, ... merged), one FITS cube, or one output of any code yt reads (a source spec
``yt:PATH`` or ``yt@LEVEL:PATH``; refined Athena++ meshes go this way). Classes come from folder
names (``runs/<class>/...``) or from the files themselves (the MHD solver's ``SimulationClass``
or the surrogate's ``SurrogateClass`` attribute, the FITS ``CRCLASS`` card) -- never from file
order.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import h5py
from astropy.io import fits

from ..checks import safe_name
from ..errors import ConfigError, DataFormatError
from ..io.athena import athdf_variables, cycle_stem, read_athdf
from ..io.fits import read_fits_cube
from ..io.yt_reader import read_yt, require_yt, yt_field_names
from ..snapshot import DERIVED, Snapshot, stored_requirements

_SUFFIXES = (".athdf", ".fits", ".fit")
#: A source spec read through yt: ``yt:PATH`` (finest level) or ``yt@LEVEL:PATH``.
_YT_SPEC = re.compile(r"yt(?:@(?P<level>\d+))?:(?P<path>.+)")


@dataclass(frozen=True)
class Source:
    """One snapshot of one class.

    Attributes
    ----------
    class_name : str
        The class.
    paths : tuple of str
        The files of one cycle (or one FITS cube, or the one file yt opens).
    reader : {"native", "yt"}
        ``native``: the package's ``.athdf`` and FITS readers; ``yt``: :func:`read_yt`, on a
        uniform grid at ``level``.
    level : int, optional
        yt refinement level (0 = root grid); default the finest.
    """

    class_name: str
    paths: tuple[str, ...]
    reader: str = "native"
    level: int | None = None

    def __post_init__(self) -> None:
        if self.reader not in ("native", "yt") or (self.level is not None and self.level < 0):
            raise ConfigError(f"Source {', '.join(self.paths)}: reader must be 'native' or "
                              f"'yt' and level None or >= 0, got {self.reader!r}, {self.level!r}")

    @classmethod
    def from_record(cls, record: dict) -> "Source":
        """The Source a prepared dataset's manifest records (``{"class", "files": [{"path"}],
        ["reader", "level"]}``; native-reader records carry neither of the last two)."""
        return cls(record["class"], tuple(f["path"] for f in record["files"]),
                   record.get("reader", "native"), record.get("level"))

    def reader_record(self) -> dict:
        """How this source is read, as the manifest records it (empty for the native readers, so
        that datasets prepared before yt sources existed keep their identity)."""
        return {} if self.reader == "native" else {"reader": self.reader, "level": self.level}

    @property
    def is_fits(self) -> bool:
        return self.paths[0].lower().endswith((".fits", ".fit"))

    def variables(self) -> set[str]:
        """Stored variable names available in the files, plus derived names they allow."""
        names: set[str] = set()
        for path in self.paths:
            if self.reader == "yt":
                names |= yt_field_names(path)
                continue
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
        if self.reader == "yt":
            return read_yt(self.paths[0], stored_requirements(names), self.level).select(names)
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


def _yt_matches(spec: str, path: str) -> list[Path]:
    """The files a ``yt:`` spec's PATH (a file or a glob) names."""
    if Path(path).is_dir():
        raise ConfigError(f"{spec}: {path} is a folder; yt sources are files: give the output's "
                          f"main file (e.g. a RAMSES info_*.txt) or a quoted glob such as "
                          f"'yt:{path.rstrip('/')}/*/*.athdf' with --classes-from-dirs")
    matches = [Path(m) for m in sorted(glob.glob(path, recursive=True)) if Path(m).is_file()]
    if not matches:
        raise ConfigError(f"{spec}: no file matches {path}; check the path or quote the glob")
    return matches


def discover_sources(specs: Iterable[str], classes_from_dirs: bool = False) -> list[Source]:
    """Turn folders or glob patterns into Sources, one per snapshot.

    Parameters
    ----------
    specs : iterable of str
        Folders (each sub-folder holding one class's files, as ``pipelines.simulate`` writes
        them), glob patterns such as ``'runs/*/cr.out1.*.athdf'`` (``**`` allowed), or
        ``yt:PATH`` / ``yt@LEVEL:PATH`` with PATH a file or glob of outputs yt reads (any name;
        one source per file, read by :func:`~crturb_keras.io.yt_reader.read_yt` at refinement
        ``LEVEL``, default the finest).
    classes_from_dirs : bool
        Name the class of a globbed file after its parent folder; otherwise the class is read
        from the file (surrogate attribute or FITS ``CRCLASS``). Files in class folders always
        take the folder name.

    Raises
    ------
    ConfigError
        If nothing matches, a file's class cannot be determined, a class folder's name is
        not a safe class name (see :func:`crturb_keras.checks.safe_name`), or a ``yt:`` spec is
        malformed, names a folder or matches nothing, or yt is not installed.
    DataFormatError
        If a class read from a file is not a safe class name.
    """
    specs = list(specs)
    # (file, class or None, group key, (reader, level)); yt keys are 3-tuples, native ones shorter
    found: list[tuple[Path, str | None, tuple, tuple[str, int | None]]] = []
    for spec in specs:
        if spec.startswith(("yt:", "yt@")):
            parsed = _YT_SPEC.fullmatch(spec)
            if parsed is None:
                raise ConfigError(f"--source {spec}: write yt:PATH or yt@LEVEL:PATH (LEVEL a "
                                  f"refinement level >= 0, e.g. yt@0:runs/*/amr.*.athdf)")
            require_yt()
            level = None if parsed["level"] is None else int(parsed["level"])
            found += [(m, m.parent.name if classes_from_dirs else None, ("yt", level, str(m)),
                       ("yt", level)) for m in _yt_matches(spec, parsed["path"])]
            continue
        path = Path(spec)
        if path.is_dir():
            files = [(f, sub.name) for sub in sorted(p for p in path.iterdir() if p.is_dir())
                     for f in sorted(sub.rglob("*")) if f.suffix.lower() in _SUFFIXES]
            files += [(f, None) for f in sorted(path.glob("*")) if f.suffix.lower() in _SUFFIXES]
        else:
            matches = sorted(Path(m) for m in glob.glob(spec, recursive=True))
            files = [(m, m.parent.name if classes_from_dirs else None) for m in matches
                     if m.is_file() and m.suffix.lower() in _SUFFIXES]
        for file, label in files:
            stem = cycle_stem(file)
            found.append((file, label, (str(file.parent), stem) if stem else (str(file),),
                          ("native", None)))
    if not found:
        raise ConfigError(f"no .athdf or .fits files found for {', '.join(specs)}")
    groups: dict[tuple, list[Path]] = {}
    classes: dict[tuple, str] = {}
    readers: dict[tuple, tuple[str, int | None]] = {}
    for path, label, key, reader in found:
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
        readers[key] = reader
    return [Source(classes[k], tuple(str(p) for p in sorted(set(v))), *readers[k])
            for k, v in groups.items()]
