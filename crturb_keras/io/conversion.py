"""Conversion of simulation outputs to FITS cubes: which files make which cube, and the writing.

Athena++ outputs of one cycle written by several output blocks (``run.out1.00010.athdf`` with
``prim``, ``run.out2.00010.athdf`` with ``cons``) become one cube ``run.00010.fits``; a dataset
read through yt becomes ``<input name>.fits``. Existing cubes are kept unless ``overwrite``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..checks import safe_name
from ..errors import ConfigError
from ..progress import progress_bar
from ..snapshot import Snapshot
from .athena import cycle_stem, read_athdf
from .fits import write_fits_cube

#: One conversion: the input files of one cube and the cube's path.
Job = tuple[list[Path], Path]
_FITS = (".fits", ".fit")


@dataclass
class Conversion:
    """What :func:`convert` did: cubes written, cubes kept, and inputs that lacked some fields."""

    written: int = 0
    kept: int = 0
    partial: list[str] = field(default_factory=list)


def _single_target(out: Path, count: int, what: str) -> bool:
    """True when ``out`` names one FITS file for one job; refuse one file for several."""
    if out.suffix.lower() not in _FITS:
        return False
    if count != 1:
        raise ConfigError(f"{out}: {count} {what} to convert need an output folder, not a single "
                          f".fits file")
    return True


def plan_yt(inputs: Sequence[str | Path], out: str | Path) -> list[Job]:
    """One job per yt dataset: ``out`` itself for one input and an ``out`` ending in ``.fits``,
    else ``out/<input name>.fits``."""
    paths = [Path(i) for i in inputs]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ConfigError(f"{missing[0]}: no such file or folder")
    out = Path(out)
    if _single_target(out, len(paths), "datasets"):
        return [([paths[0]], out)]
    return [([p], out / f"{p.stem}.fits") for p in paths]


def plan_athdf(inputs: Sequence[str | Path], out: str | Path) -> list[Job]:
    """Group ``.athdf`` files (given, or found below given folders) by cycle and pair each group
    with its cube: ``out`` for one cycle and an ``out`` ending in ``.fits``, else
    ``out/<path below the folder searched>/<stem>.<cycle>.fits``."""
    found: list[tuple[Path, Path]] = []          # (file, folder it was found under)
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(path.rglob("*.athdf"))
            if not files:
                raise ConfigError(f"{path}: no .athdf files below this folder")
            found += [(f, path) for f in files]
        elif path.is_file():
            found.append((path, path.parent))
        else:
            raise ConfigError(f"{path}: no such file or folder")
    groups: dict[tuple[Path, str], list[Path]] = {}
    base_of: dict[tuple[Path, str], Path] = {}
    for file, root in found:
        key = (file.parent, cycle_stem(file) or file.stem)
        groups.setdefault(key, []).append(file)
        base_of[key] = root
    out = Path(out)
    if _single_target(out, len(groups), "cycles"):
        return [(sorted(set(files)), out) for files in groups.values()]
    return [(sorted(set(files)), out / key[0].relative_to(base_of[key]) / f"{key[1]}.fits")
            for key, files in groups.items()]


def convert(jobs: Iterable[Job], read: Callable[[list[Path]], Snapshot] = read_athdf,
            fields: Sequence[str] | None = None, class_name: str | None = None,
            overwrite: bool = False, progress: bool = False) -> Conversion:
    """Write each job's cube (``fields``: all stored fields when None; the ones an input lacks
    are left out and listed in ``partial``; an input with none of them is refused), with a tqdm
    bar on stderr if ``progress``."""
    if class_name is not None:
        safe_name(class_name, "--class-name", error=ConfigError)
    done = Conversion()
    jobs = list(jobs)
    for files, target in progress_bar(jobs, desc="convert", unit="file", show=progress):
        if target.exists() and not overwrite:
            done.kept += 1
            continue
        snapshot = read(files)
        wanted = None if fields is None else [f for f in fields if f in snapshot]
        if fields is not None and not wanted:
            raise ConfigError(f"{files[0]}: none of the fields {', '.join(fields)}; it holds "
                              f"{', '.join(snapshot.names)}")
        if fields is not None and len(wanted) < len(fields):
            done.partial.append(f"{files[0]}: lacks {', '.join(sorted(set(fields) - set(wanted)))}")
        write_fits_cube(snapshot, target, fields=wanted, class_name=class_name, overwrite=overwrite)
        done.written += 1
    return done
