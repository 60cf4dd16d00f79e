"""Single source of the package version (read by setup.cfg and written into every output)."""

__version__ = "0.1.0"
