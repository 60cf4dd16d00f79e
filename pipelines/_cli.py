"""Shared command-line plumbing: dataclass-driven flags, error reporting, progress bars."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import warnings
from typing import Any, Callable, Sequence, TypeVar

from crturb_keras._version import __version__
from crturb_keras.errors import CrturbError

T = TypeVar("T")


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _sequence(element: type) -> Callable[[str], tuple]:
    def parse(text: str) -> tuple:
        return tuple(element(part.strip()) for part in text.split(",") if part.strip())
    return parse


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type,
                         skip: Sequence[str] = ()) -> None:
    """Add one ``--flag`` per field of a frozen config dataclass (``snake_case`` -> ``--kebab-case``).

    Booleans take ``true``/``false``; tuples take comma-separated values.
    """
    defaults = config_cls()
    for f in dataclasses.fields(config_cls):
        if f.name in skip:
            continue
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            parse, shown = _boolean, str(default).lower()
        elif isinstance(default, tuple):
            parse = _sequence(type(default[0]) if default else str)
            shown = ",".join(str(v) for v in default) or "none"
        else:
            parse, shown = type(default), default
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=parse,
                            default=default, help=f"(default: {shown})")


def config_from_args(config_cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    """Build the config dataclass from parsed flags (fields not given as flags keep defaults)."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    values.update(overrides)
    return config_cls(**values)


def _message(err: BaseException) -> str:
    """One line for an error: an ``OSError`` as ``PATH: reason``, a ``MemoryError`` with advice."""
    if isinstance(err, OSError) and err.filename:
        return f"{err.filename}: {err.strerror or err}"
    if isinstance(err, MemoryError):
        return (f"out of memory ({err or 'no details'}); use smaller inputs or a machine with "
                f"more memory")
    return str(err)


def _runtime_noise(verbose: bool) -> None:
    """Hide TensorFlow's start-up INFO lines and Keras/TensorFlow Python warnings unless
    ``verbose`` (they must be set before TensorFlow is imported; the jobs import it lazily)."""
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for module in ("keras", "tensorflow", "tf_keras_vis", "keras_tuner"):
        warnings.filterwarnings("ignore", module=module)


def run(main: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser,
        argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, call ``main``; print a CrturbError, ``OSError`` or ``MemoryError`` as one
    line and return 2 (``--debug``: raise it with its traceback).

    Every job gets ``--version``, ``-v/--verbose`` (TensorFlow's and Keras's own messages and
    warnings, normally hidden) and ``--debug``.
    """
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s (crturb-keras {__version__})")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show TensorFlow's and Keras's messages and warnings")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    args = parser.parse_args(argv)
    _runtime_noise(args.verbose)
    try:
        return main(args)
    except (CrturbError, OSError, MemoryError) as err:
        if args.debug:
            raise
        print(f"error: {_message(err)}", file=sys.stderr)
        return 2
