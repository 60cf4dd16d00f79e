"""The package's exception family.

Every error a user can cause (bad file, bad option, impossible split) is raised as a subclass of
:class:`CrturbError` whose message names the file or option, what was expected, and what to do.
Pipelines print that message and exit non-zero without a traceback.
"""

from __future__ import annotations


class CrturbError(Exception):
    """Base class of every error raised on purpose by crturb-keras."""


class DataFormatError(CrturbError, ValueError):
    """An input file or array is unreadable, truncated, inconsistent or lacks what was asked for.

    Also a ``ValueError``, so callers that catch the builtin for bad values still catch it.
    """


class ConfigError(CrturbError, ValueError):
    """An option or configuration value is impossible or conflicts with existing outputs.

    Also a ``ValueError``, so callers that catch the builtin for bad arguments still catch it.
    """


class SplitError(CrturbError):
    """Train/val/test regions or buffers cannot be laid out as asked."""


class DivergenceError(CrturbError):
    """Training met a NaN or infinite loss or weight; the run was not kept."""
