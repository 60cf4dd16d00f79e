"""Figures of training, evaluation and prediction."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ._figure import save_figure, sky_axes


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
    return save_figure(fig, path)


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
    return save_figure(fig, path)


def plot_reliability(curves: dict[str, dict], path: str | Path) -> Path:
    """Reliability diagram: accuracy against mean top-class probability per bin, one line per
    image kind (``curves`` maps a label to :func:`crturb_keras.metrics.calibration`'s output);
    the diagonal is perfect calibration, point areas follow the bin counts."""
    fig = Figure(figsize=(4.6, 4.2), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    for label, curve in curves.items():
        counts = np.asarray(curve["count"], dtype=float)
        line, = ax.plot(curve["confidence"], curve["accuracy"], "-", lw=1,
                        label=f"{label} (ECE {curve['ece']:.3f})")
        ax.scatter(curve["confidence"], curve["accuracy"], s=80 * counts / counts.max(),
                   color=line.get_color())
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean top-class probability")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8, loc="upper left")
    return save_figure(fig, path)


def plot_seed_bars(groups: dict[str, dict[str, tuple[float, float]]], path: str | Path,
                   title: str = "") -> Path:
    """Per-class accuracy as bars of the mean with error bars of the std over training seeds,
    side by side per group (e.g. CNN, logistic baseline); ``groups`` maps a label to
    ``{class: (mean, std)}``."""
    fig = Figure(figsize=(7, 3.4), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    names = list(next(iter(groups.values())))
    width = 0.8 / len(groups)
    for g, (label, values) in enumerate(groups.items()):
        means = [values[n][0] for n in names]
        spreads = [values[n][1] for n in names]
        ax.bar(np.arange(len(names)) + g * width, means, width, yerr=spreads, capsize=3,
               label=label)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=20, fontsize=8)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


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
    return save_figure(fig, path)


def plot_map_prediction(image: np.ndarray, positions: np.ndarray, tile: int,
                        probabilities: np.ndarray, names: list[str], path: str | Path,
                        header=None) -> Path:
    """The map (on the sky when ``header`` has a celestial WCS) with its tiles coloured by
    predicted class, opacity the confidence, and the whole-map mean class probabilities."""
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    grid = fig.add_gridspec(1, 2)
    ax = sky_axes(fig, grid[0, 0], header)
    ax.imshow(np.log10(np.where(image > 0, image, np.nan)), origin="lower", cmap="gray")
    colours = [f"C{i}" for i in range(len(names))]
    winners = probabilities.argmax(axis=1)
    for (row, col), winner, p in zip(positions, winners, probabilities.max(axis=1)):
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), tile, tile, fill=True, alpha=0.25 * p,
                               color=colours[winner], lw=0))
    ax.set_title("tiles by predicted class (opacity = confidence)", fontsize=9)
    bar = fig.add_subplot(grid[0, 1])
    mean = probabilities.mean(axis=0)
    bar.barh(range(len(names)), mean, color=colours)
    bar.set_yticks(range(len(names)), names)
    bar.set_xlabel("mean probability over tiles")
    bar.set_xlim(0, 1)
    return save_figure(fig, path)


def plot_predicted_fields(image: np.ndarray, fields: np.ndarray, names: list[str],
                          path: str | Path, header=None) -> Path:
    """The input map and each predicted field ``(H, W, n_targets)``, ``log10`` scaled, side by
    side on the sky when ``header`` has a celestial WCS."""
    fig = Figure(figsize=(4.2 * (len(names) + 1), 4.0), layout="constrained")
    grid = fig.add_gridspec(1, len(names) + 1)
    panels = [("input map", image)] + [(n, fields[..., i]) for i, n in enumerate(names)]
    for i, (title, data) in enumerate(panels):
        ax = sky_axes(fig, grid[0, i], header)
        shown = ax.imshow(np.log10(np.where(data > 0, data, np.nan)), origin="lower",
                          cmap="gray" if i == 0 else "magma")
        fig.colorbar(shown, ax=ax, shrink=0.8, label=f"log10 {title}")
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
