"""Figures of generative models: sample grids and generated statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
from matplotlib.figure import Figure

from ._figure import save_figure


def plot_sample_grid(rows: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path) -> Path:
    """Real tiles beside generated ones, one row per class, on one colour scale per row.

    Parameters
    ----------
    rows : mapping of class name to (real ``(n, H, W)``, generated ``(m, H, W)``)
        ``n`` may be 0 (generated maps only; the colour scale then follows them).
    path : path
        PNG file to write (atomically).
    """
    names = list(rows)
    n_real = max(len(r) for r, _ in rows.values())
    n_fake = max(len(f) for _, f in rows.values())
    columns = n_real + n_fake
    fig = Figure(figsize=(1.3 * columns + 0.6, 1.4 * len(names) + 0.5), layout="constrained")
    axes = fig.subplots(len(names), columns, squeeze=False)
    for row, name in enumerate(names):
        real, fake = rows[name]
        lo, hi = np.percentile(real if len(real) else fake, [0.5, 99.5])
        for col in range(columns):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            tiles, index = (real, col) if col < n_real else (fake, col - n_real)
            if index < len(tiles):
                ax.imshow(tiles[index], cmap="magma", vmin=lo, vmax=hi, origin="lower")
            else:
                ax.set_axis_off()
            if row == 0:
                ax.set_title("real" if col < n_real else "generated", fontsize=8)
        axes[row, 0].set_ylabel(name, fontsize=8)
    return save_figure(fig, path)


def plot_generated_statistics(spectra: Mapping[str, Mapping[str, tuple]],
                              pdfs: Mapping[str, Mapping[str, np.ndarray]],
                              path: str | Path) -> Path:
    """Mean power spectra (top) and pixel PDFs (bottom) of real and generated tiles per class.

    Parameters
    ----------
    spectra : class -> label -> (k, mean power) from ``radial_power_spectrum``
    pdfs : class -> label -> pixel values (any shape)
    path : path
        PNG file to write (atomically).
    """
    names = list(spectra)
    fig = Figure(figsize=(3.0 * len(names) + 0.5, 5.4), layout="constrained")
    axes = fig.subplots(2, len(names), squeeze=False)
    styles = {"real test": dict(color="k", lw=1.6), "real train": dict(color="0.55", ls="--"),
              "generated": dict(color="tab:red", lw=1.2)}
    for col, name in enumerate(names):
        ax = axes[0, col]
        for label, (k, power) in spectra[name].items():
            keep = k > 0
            ax.loglog(k[keep], power[keep], label=label, **styles.get(label, {}))
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("k (cycles per tile)")
        ax = axes[1, col]
        values = {label: np.asarray(v).ravel() for label, v in pdfs[name].items()}
        lo, hi = np.percentile(np.concatenate(list(values.values())), [0.1, 99.9])
        for label, v in values.items():
            ax.hist(v, bins=60, range=(lo, hi), density=True, histtype="step", label=label,
                    **{key: val for key, val in styles.get(label, {}).items() if key != "ls"})
        ax.set_yscale("log")
        ax.set_xlabel("standardised log10 rho")
    axes[0, 0].set_ylabel("mean power")
    axes[1, 0].set_ylabel("PDF")
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    return save_figure(fig, path)
