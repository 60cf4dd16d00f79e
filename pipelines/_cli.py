"""Shared command-line plumbing: running a job, one-line errors, loudness (-v/-q/--debug); the
flags of config dataclasses are in ``_flags`` (re-exported here)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from typing import Callable, Sequence

from crturb_keras._version import __version__
from crturb_keras.errors import CrturbError
from crturb_keras.optional import missing_message

from ._flags import _boolean, add_config_arguments, config_from_args, field_docs

__all__ = ["_boolean", "add_config_arguments", "config_from_args", "field_docs", "run"]


def _message(err: BaseException) -> str:
    """One line for an error: an ``OSError`` as ``PATH: reason``, a ``MemoryError`` with advice."""
    if isinstance(err, OSError) and err.filename:
        return f"{err.filename}: {err.strerror or err}"
    if isinstance(err, MemoryError):
        return (f"out of memory ({err or 'no details'}); use smaller inputs or a machine with "
                f"more memory")
    return str(err)


def _runtime_noise(verbose: bool, quiet: bool) -> None:
    """Hide TensorFlow's start-up INFO lines and Keras/TensorFlow Python warnings unless
    ``verbose`` (they must be set before TensorFlow is imported; the jobs import it lazily)."""
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        return
    logging.basicConfig(level=logging.ERROR if quiet else logging.WARNING,
                        format="%(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for module in ("keras", "tensorflow", "tf_keras_vis", "keras_tuner"):
        warnings.filterwarnings("ignore", module=module)


def run(main: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser,
        argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, call ``main``; print a CrturbError, ``OSError``, ``MemoryError`` or a
    missing optional dependency (naming the extra that installs it) as one line and return 2
    (``--debug``: raise it with its traceback).

    Every job gets ``--version``, ``-v/--verbose`` (TensorFlow's and Keras's own messages and
    warnings, normally hidden), ``-q/--quiet`` (no progress bars or per-epoch lines: results and
    errors only) and ``--debug``.
    """
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s (crturb-keras {__version__})")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true",
                          help="show TensorFlow's and Keras's messages and warnings")
    loudness.add_argument("-q", "--quiet", action="store_true",
                          help="no progress bars or per-epoch lines: results and errors only")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    args = parser.parse_args(argv)
    _runtime_noise(args.verbose, args.quiet)
    bars = os.environ.get("TQDM_DISABLE")
    if args.quiet:
        os.environ["TQDM_DISABLE"] = "1"  # every tqdm bar, the package's and the libraries'
    try:
        return main(args)
    except ModuleNotFoundError as err:
        message = missing_message(err.name or "")
        if args.debug or message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2
    except (CrturbError, OSError, MemoryError) as err:
        if args.debug:
            raise
        print(f"error: {_message(err)}", file=sys.stderr)
        return 2
    finally:
        if bars is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = bars
