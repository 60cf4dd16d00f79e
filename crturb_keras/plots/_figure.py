"""Shared figure plumbing: atomic saving, sky axes from a FITS header."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from ..io.atomic import atomic_path


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` (format from its suffix, 120 dpi) under a temporary name, then
    rename."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
    return path


def sky_axes(fig: Figure, spec, header=None):
    """A subplot in sky coordinates (astropy's WCSAxes) when ``header`` holds a celestial WCS,
    else in pixels; data coordinates are pixels either way (``(col, row)``)."""
    wcs = None
    if header is not None:
        import warnings

        from astropy.wcs import WCS, FITSFixedWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            try:
                found = WCS(header)
            except Exception:  # astropy raises many kinds for a malformed header: use pixels
                found = None
        if found is not None and found.has_celestial:
            wcs = found.celestial
    if wcs is None:
        ax = fig.add_subplot(spec)
        ax.set_xlabel("pixel")
        ax.set_ylabel("pixel")
        return ax
    ax = fig.add_subplot(spec, projection=wcs)
    for coord, ctype in zip(ax.coords, wcs.wcs.ctype):
        kind = ctype.split("-")[0]
        coord.set_axislabel({"RA": "right ascension", "DEC": "declination",
                             "GLON": "galactic longitude", "GLAT": "galactic latitude"}
                            .get(kind, kind))
    return ax
