"""Figures of the interpretation report: saliency, sanity checks, class spectra, experiments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ._figure import save_figure


def plot_saliency_grid(images: np.ndarray, maps: np.ndarray, probabilities: np.ndarray,
                       labels: np.ndarray, names: list[str], method: str, path: str | Path) -> Path:
    """Per class (rows): tiles with the saliency overlaid, and their mean class probabilities."""
    rows = [i for i in range(len(names)) if (labels == i).any()]
    per_row = max(int((labels == rows[0]).sum()), 1)
    fig = Figure(figsize=(2.1 * per_row + 3.2, 2.1 * len(rows)), layout="constrained")
    grid = fig.add_gridspec(len(rows), per_row + 1)
    for r, cls in enumerate(rows):
        chosen = np.nonzero(labels == cls)[0][:per_row]
        for c, i in enumerate(chosen):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(images[i], origin="lower", cmap="gray")
            weight = np.abs(maps[i])
            ax.imshow(weight / (weight.max() or 1), origin="lower", cmap="inferno", alpha=0.55)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(names[cls], fontsize=8)
        bar = fig.add_subplot(grid[r, per_row])
        bar.barh(range(len(names)), probabilities[chosen].mean(axis=0),
                 color=[f"C{j}" for j in range(len(names))])
        bar.set_xlim(0, 1)
        bar.set_yticks(range(len(names)), names if r == 0 else [""] * len(names), fontsize=7)
    fig.suptitle(f"{method} saliency on test tiles (overlay) and mean class probabilities")
    return save_figure(fig, path)


def plot_class_mean_maps(mean_maps: dict[str, np.ndarray], spectra: dict[str, tuple],
                         title: str, path: str | Path) -> Path:
    """Mean saliency map per class, and the radial power spectrum of saliency per class."""
    names = list(mean_maps)
    fig = Figure(figsize=(2.3 * len(names) + 3.8, 2.8), layout="constrained")
    grid = fig.add_gridspec(1, len(names) + 1, width_ratios=[1] * len(names) + [1.6])
    for i, name in enumerate(names):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(mean_maps[name], origin="lower", cmap="inferno")
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(grid[0, -1])
    for name, (k, power) in spectra.items():
        ax.loglog(k, power, label=name)
    ax.set_xlabel("k (cycles per tile)")
    ax.set_ylabel("saliency power")
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_class_spectra(spectra: dict[str, dict], ratios: dict[str, np.ndarray],
                       path: str | Path, reference: str = "MHD") -> Path:
    """Per-class tile spectra: mean +- 1 sigma, k^2 P(k), and the ratio to the reference class."""
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    axes = [fig.add_subplot(1, 3, i + 1) for i in range(3)]
    for j, (name, s) in enumerate(spectra.items()):
        colour = f"C{j}"
        axes[0].loglog(s["k"], s["mean"], color=colour, label=f"{name} (n={s['n']})")
        axes[0].fill_between(s["k"], np.maximum(s["mean"] - s["std"], 1e-12), s["mean"] + s["std"],
                             color=colour, alpha=0.2)
        axes[1].loglog(s["k"], s["k"] ** 2 * s["mean"], color=colour)
        axes[2].semilogx(s["k"], ratios[name], color=colour)
    axes[0].set_ylabel("E(k), mean ± 1σ over tiles")
    axes[1].set_ylabel("k² E(k)")
    axes[2].set_ylabel(f"E(k) / E_{reference}(k)")
    axes[2].axhline(1, color="grey", lw=0.8)
    for ax in axes:
        ax.set_xlabel("k (cycles per tile)")
    axes[0].legend(fontsize=7)
    return save_figure(fig, path)


def plot_blur_experiment(result: dict, path: str | Path) -> Path:
    """Mean predicted probability of each class against blur width, one panel per true class."""
    names = result["classes"]
    truths = list(result["mean_probability"])
    fig = Figure(figsize=(3.2 * len(truths), 3.0), layout="constrained")
    for i, truth in enumerate(truths):
        ax = fig.add_subplot(1, len(truths), i + 1)
        probs = np.array(result["mean_probability"][truth])
        for j, name in enumerate(names):
            ax.plot(result["sigmas"], probs[:, j], "o-", ms=3, color=f"C{j}", label=name)
        ax.set_title(f"true: {truth}", fontsize=9)
        ax.set_xlabel("blur σ (px)")
        ax.set_ylim(0, 1)
        if i == 0:
            ax.set_ylabel("mean predicted probability")
            ax.legend(fontsize=6)
    return save_figure(fig, path)


def plot_accuracy_lines(x: list, per_class: dict[str, dict[str, float]], xlabel: str,
                        path: str | Path,
                        spread: dict[str, dict[str, float]] | None = None) -> Path:
    """Accuracy per class against a setting (e.g. projection depth, blur width); ``per_class``
    maps ``str(setting)`` to ``{class: accuracy}``, ``spread`` (optional, same keys) to the
    error bar of each point (e.g. the std over training seeds)."""
    fig = Figure(figsize=(5.2, 3.4), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    names = sorted({n for values in per_class.values() for n in values})
    for j, name in enumerate(names):
        errors = None if spread is None else [spread[str(v)].get(name, np.nan) for v in x]
        ax.errorbar(x, [per_class[str(v)].get(name, np.nan) for v in x], yerr=errors, fmt="o-",
                    color=f"C{j}", capsize=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_grouped_bars(groups: dict[str, dict[str, float]], path: str | Path,
                      ylabel: str = "test accuracy") -> Path:
    """Side-by-side bars per class for each group (e.g. full vs flattened spectra)."""
    fig = Figure(figsize=(7, 3.4), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    names = list(next(iter(groups.values())))
    width = 0.8 / len(groups)
    for g, (label, values) in enumerate(groups.items()):
        ax.bar(np.arange(len(names)) + g * width, [values[n] or 0 for n in names], width,
               label=label)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=20, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_sanity(results: dict[str, list[dict]], path: str | Path) -> Path:
    """Rank correlation with the trained model's saliency as layers are randomised top-down."""
    fig = Figure(figsize=(6.5, 3.4), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for method, steps in results.items():
        ax.plot(range(1, len(steps) + 1), [s["spearman"] for s in steps], "o-", label=method)
    if results:
        layers = [s["layer"] for s in next(iter(results.values()))]
        ax.set_xticks(range(1, len(layers) + 1), layers, rotation=40, ha="right", fontsize=7)
    ax.set_ylabel("Spearman ρ with trained model")
    ax.set_xlabel("randomised down to layer (cumulative)")
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
