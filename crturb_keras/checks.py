"""Checks of values that come from outside: names that become file names, paths read from
manifests, floating-point options, and the memory that an input will need.

Class names are read from files (the ``SurrogateClass`` attribute, the FITS ``CRCLASS`` card),
manifests, run records and command lines, and end up in file and folder names (prepared shards,
generated samples). They are therefore limited to a safe character set, so that no name can lead
outside the folder it is written to.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path

from .errors import ConfigError, CrturbError, DataFormatError

#: Allowed class (and target field) names: 1-64 letters, digits, ``_``, ``.``, ``-``, starting
#: with a letter or digit, and no ``..``.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def safe_name(name: object, where: str, what: str = "class name",
              error: type[CrturbError] = DataFormatError) -> str:
    """Return ``name`` if it is safe to use as a file name, else raise ``error``.

    Parameters
    ----------
    name : object
        The value to check (anything that is not a ``str`` is refused).
    where : str
        Where it came from (a file, a flag), named first in the message.
    what : str
        What the name is, for the message.
    error : type of CrturbError
        ``DataFormatError`` for names read from files, ``ConfigError`` for options.
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise error(f"{where}: {what} {name!r} is not allowed; names become file names, so use "
                    f"1-64 letters, digits, '_', '.' or '-', starting with a letter or digit "
                    f"(no '..')")
    return name


def inside(root: str | os.PathLike, relative: str | os.PathLike, where: str,
           error: type[CrturbError] = DataFormatError) -> Path:
    """``root / relative`` resolved, if it lies strictly inside ``root``; else raise ``error``.

    Absolute paths, ``..`` components and symbolic links that lead elsewhere are all refused,
    since the comparison is made after resolving both paths.
    """
    base = Path(root).resolve()
    path = (base / relative).resolve()
    if Path(relative).is_absolute() or base not in path.parents:
        raise error(f"{where}: {str(relative)!r} leads outside {base}; refused")
    return path


def check_finite(config: object, what: str) -> None:
    """Raise ConfigError if a float field (or a float in a tuple field) of a dataclass is NaN/inf.

    Comparisons with NaN are always false, so a NaN passes checks such as ``value <= 0``; every
    configuration dataclass calls this first in ``__post_init__``.
    """
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise ConfigError(f"invalid {what} configuration: {field.name} must be finite, "
                              f"got {value}")


def available_memory() -> int:
    """Bytes of memory a new allocation can use: ``MemAvailable`` from ``/proc/meminfo`` where
    the system has it, else the physical memory."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(needed: int, where: str, what: str) -> None:
    """Raise CrturbError, before any allocation, if ``needed`` bytes exceed the available memory.

    Parameters
    ----------
    needed : int
        Estimated peak bytes of the step.
    where : str
        The file (or input) it concerns, named first in the message.
    what : str
        What needs the memory, e.g. ``"reading 2 variables of 2048x2048x2048 cells"``.
    """
    available = available_memory()
    if needed > available:
        raise CrturbError(f"{where}: {what} needs about {needed / 2**30:.1f} GiB of memory, but "
                          f"only {available / 2**30:.1f} GiB is available; use a smaller input "
                          f"(fewer variables, a cut-out) or a machine with more memory")
