"""Figures, one function each, drawn with matplotlib's object API (no GUI backend needed)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

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


def plot_learning_curves(history_csv: str | Path, path: str | Path) -> Path:
    """Training and validation loss (and accuracy or SSIM when logged) against epoch."""

    with open(history_csv) as handle:
        rows = list(csv.DictReader(handle))
    epochs = [int(r["epoch"]) + 1 for r in rows]
    extra = next((m for m in ("accuracy", "ssim") if rows and m in rows[0]), None)
    fig = Figure(figsize=(9 if extra else 4.8, 3.4), layout="constrained")
    panels = [("loss", "loss")] + ([(extra, extra)] if extra else [])
    for i, (key, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.plot(epochs, [float(r[key]) for r in rows], "o-", ms=3, label="train")
        ax.plot(epochs, [float(r[f"val_{key}"]) for r in rows], "o-", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    if rows:
        best = min(range(len(rows)), key=lambda i: float(rows[i]["val_loss"]))
        for ax in fig.axes:
            ax.axvline(epochs[best], color="grey", ls=":", lw=1)
    return _save(fig, path)


def plot_confusion_matrix(counts: np.ndarray, names: list[str], path: str | Path,
                          title: str = "") -> Path:
    """Confusion matrix as counts and row-normalised (recall per true class), side by side."""
    counts = np.asarray(counts)
    rows = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, rows, out=np.zeros_like(counts, dtype=float), where=rows > 0)
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    for i, (data, label, fmt) in enumerate(((counts, "tiles", "d"),
                                            (normalised, "fraction of true class", ".2f"))):
        ax = fig.add_subplot(1, 2, i + 1)
        shown = ax.imshow(data, cmap="Blues", vmin=0, vmax=data.max() if i == 0 else 1)
        for (r, c), value in np.ndenumerate(data):
            ax.text(c, r, format(value, fmt), ha="center", va="center", fontsize=8,
                    color="white" if value > 0.6 * (data.max() or 1) else "black")
        ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        fig.colorbar(shown, ax=ax, label=label, shrink=0.8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_map_panels(inputs: np.ndarray, targets: np.ndarray, predictions: np.ndarray,
                    target_name: str, path: str | Path) -> Path:
    """Rows of input / target / prediction / residual for a few test tiles ``(n, H, W)``."""
    n = len(inputs)
    fig = Figure(figsize=(10, 2.5 * n), layout="constrained")
    for row in range(n):
        lo = float(min(targets[row].min(), predictions[row].min()))
        hi = float(max(targets[row].max(), predictions[row].max()))
        residual = predictions[row] - targets[row]
        bound = float(np.abs(residual).max()) or 1.0
        panels = [(inputs[row], "input (log density, std.)", "magma", None, None),
                  (targets[row], f"true {target_name}", "viridis", lo, hi),
                  (predictions[row], f"predicted {target_name}", "viridis", lo, hi),
                  (residual, "residual", "RdBu_r", -bound, bound)]
        for col, (data, label, cmap, vmin, vmax) in enumerate(panels):
            ax = fig.add_subplot(n, 4, 4 * row + col + 1)
            shown = ax.imshow(data, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(label, fontsize=9)
            fig.colorbar(shown, ax=ax, shrink=0.8)
    return _save(fig, path)


def plot_map_prediction(image: np.ndarray, positions: np.ndarray, tile: int,
                        probabilities: np.ndarray, names: list[str], path: str | Path) -> Path:
    """A map with its tiles coloured by predicted class, and the whole-map class probabilities."""
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    ax = fig.add_subplot(1, 2, 1)
    ax.imshow(np.log10(np.where(image > 0, image, np.nan)), origin="lower", cmap="gray")
    colours = [f"C{i}" for i in range(len(names))]
    winners = probabilities.argmax(axis=1)
    for (row, col), winner, p in zip(positions, winners, probabilities.max(axis=1)):
        ax.add_patch(Rectangle((col, row), tile, tile, fill=True, alpha=0.25 * p,
                               color=colours[winner], lw=0))
    ax.set_title("tiles by predicted class (opacity = confidence)", fontsize=9)
    bar = fig.add_subplot(1, 2, 2)
    mean = probabilities.mean(axis=0)
    bar.barh(range(len(names)), mean, color=colours)
    bar.set_yticks(range(len(names)), names)
    bar.set_xlabel("mean probability over tiles")
    bar.set_xlim(0, 1)
    return _save(fig, path)
