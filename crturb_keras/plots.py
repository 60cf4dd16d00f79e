"""Figures, one function each, drawn with matplotlib's object API (no GUI backend needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
from matplotlib.figure import Figure

from .io.atomic import atomic_path
from .simulate.stats import slice_spectrum
from .snapshot import Snapshot


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
    return path


def plot_surrogate_overview(snapshots: Mapping[str, Snapshot], path: str | Path) -> Path:
    """Slices of ``log10 rho`` normal to the mean field (x1), one per class, and their spectra.

    Parameters
    ----------
    snapshots : mapping of class name to Snapshot
        One output per class (the first output of each run, say).
    path : path
        PNG file to write (atomically).
    """
    names = list(snapshots)
    fig = Figure(figsize=(2.6 * len(names) + 3.6, 3.2), layout="constrained")
    grid = fig.add_gridspec(1, len(names) + 1, width_ratios=[1] * len(names) + [1.5])
    images = {n: np.log10(snapshots[n]["rho"][:, :, 0]) for n in names}
    lo = min(float(im.min()) for im in images.values())
    hi = max(float(im.max()) for im in images.values())
    for column, name in enumerate(names):
        ax = fig.add_subplot(grid[0, column])
        shown = ax.imshow(images[name], origin="lower", cmap="magma", vmin=lo, vmax=hi,
                          extent=(0, 1, 0, 1))
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("x2")
        if column == 0:
            ax.set_ylabel("x3")
        else:
            ax.set_yticklabels([])
    fig.colorbar(shown, ax=fig.axes, label=r"$\log_{10}\rho$ (slice normal to x1)", shrink=0.8,
                 location="bottom")
    ax = fig.add_subplot(grid[0, -1])
    for name in names:
        k, power = slice_spectrum(np.log(snapshots[name]["rho"]))
        ax.loglog(k, power, label=name)
    k_ref = k[(k >= 3) & (k <= k[-1] / 2)]
    ref_power = power[int(k_ref[0]) - 1] if len(k_ref) else 1.0
    ax.loglog(k_ref, ref_power * 3 * (k_ref / k_ref[0]) ** (-5 / 3), "k--", lw=1, label=r"$k^{-5/3}$")
    ax.set_xlabel("k (cycles per box)")
    ax.set_ylabel(r"$E_{\ln\rho}(k)$")
    ax.legend(fontsize=7)
    return _save(fig, path)
