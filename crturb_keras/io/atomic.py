"""Write-then-rename, so that a crash never leaves a half-written file or folder under its final
name; a lock, so that two processes never write the same output.

Temporaries are named ``.NAME.tmp-PID`` (plus the target's suffixes, which some writers insist
on, e.g. ``.keras`` or ``.weights.h5``) beside the target, and the lock ``.NAME.lock`` holds the
writer's PID. A process
killed with SIGKILL leaves both behind: the next writer of the same target removes temporaries
and takes over locks whose process is gone, and refuses to start while a live process holds the
lock. File-system errors (read-only folder, a parent that is a file, a full disk) are raised as
one :class:`~crturb_keras.errors.CrturbError` naming the path and the reason.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Iterator

from ..errors import ConfigError, CrturbError


def _alive(pid: int) -> bool:
    """Whether a process with this PID exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, but belongs to another user
        return True
    return True


def temporary_path(final: Path, pid: int, kind: str = "tmp") -> Path:
    """``.NAME.tmp-PID`` (a new version) or ``.NAME.old-PID`` (the version it replaces): the
    names :func:`remove_stale` clears once process ``pid`` is gone."""
    return final.with_name(f".{final.name}.{kind}-{pid}{''.join(final.suffixes)}")


@contextlib.contextmanager
def os_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn an ``OSError`` raised in the block into a CrturbError naming the file and the reason."""
    try:
        yield
    except OSError as err:
        where = err.filename or path
        raise CrturbError(f"{where}: cannot write ({err.strerror or err}); check that its folder "
                          f"exists, is writable and has free space") from err


def _make_parent(final: Path) -> None:
    """Create the folder of ``final``; a file standing where a folder must be is named."""
    for folder in (final.parent, *final.parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise CrturbError(f"{folder}: is a file, not a folder, so {final} cannot be "
                                  f"written; choose another output")
            break
    final.parent.mkdir(parents=True, exist_ok=True)


def remove_stale(final: str | os.PathLike) -> list[Path]:
    """Remove temporaries of ``final`` left by processes that no longer run; return them."""
    final = Path(final)
    suffixes = re.escape("".join(final.suffixes))
    pattern = re.compile(rf"\.{re.escape(final.name)}\.(?:tmp|old)-(\d+){suffixes}")
    removed = []
    if final.parent.is_dir():
        for path in final.parent.iterdir():
            match = pattern.fullmatch(path.name)
            if match and not _alive(int(match[1])):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed.append(path)
    return removed


@contextlib.contextmanager
def output_lock(final: str | os.PathLike) -> Iterator[None]:
    """Hold the lock ``.NAME.lock`` beside ``final`` for the block.

    The lock file is created exclusively and holds this process's PID; a lock whose process is
    gone is taken over.

    Raises
    ------
    ConfigError
        If a live process holds the lock.
    """
    final = Path(final)
    lock = final.with_name(f".{final.name}.lock")
    with os_errors(lock):
        _make_parent(final)
        while True:
            try:
                handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                break
            except FileExistsError:
                try:
                    text = lock.read_text().strip()
                except FileNotFoundError:
                    continue  # released meanwhile: try again
                # empty: its writer has created it and not yet written its PID
                if not text.isdigit() or (_alive(int(text)) and int(text) != os.getpid()):
                    raise ConfigError(f"{final}: another process (PID {text or '?'}) is writing "
                                      f"it; wait for it to finish or choose another output (if "
                                      f"no such process runs, delete {lock})") from None
                lock.unlink(missing_ok=True)  # left by a dead process: take it over
        with os.fdopen(handle, "w") as out:
            out.write(str(os.getpid()))
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` if the block succeeds.

    The temporary file is removed if the block raises, so a reader never sees partial output;
    temporaries of ``final`` left by dead processes are removed first. Parent folders are
    created as needed.
    """
    final = Path(final)
    tmp = temporary_path(final, os.getpid())
    with os_errors(final):
        _make_parent(final)
        remove_stale(final)
        try:
            yield tmp
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                tmp.unlink()


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, replace: bool = False) -> Iterator[Path]:
    """Yield a new, empty temporary folder beside ``final``; rename it to ``final`` if the block
    succeeds, else remove it.

    The whole write holds :func:`output_lock`, and temporaries of ``final`` left by dead
    processes are removed first.

    Parameters
    ----------
    final : path
        The folder to write.
    replace : bool
        Replace an existing ``final`` when the block succeeds; otherwise an existing ``final``
        is refused before the block runs.

    Raises
    ------
    ConfigError
        If ``final`` exists (and not ``replace``) or another live process is writing it.
    CrturbError
        If the file system refuses a write.
    """
    final = Path(final)
    tmp = temporary_path(final, os.getpid())
    with output_lock(final), os_errors(final):
        if final.exists() and not replace:
            raise ConfigError(f"{final}: exists; finished outputs are never overwritten; choose "
                              f"another output (or delete it)")
        remove_stale(final)
        try:
            tmp.mkdir()
            yield tmp
            if final.exists():
                old = temporary_path(final, os.getpid(), "old")
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old)
            else:
                os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
