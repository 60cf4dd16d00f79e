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
    return _save(fig, path)


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
    return _save(fig, path)


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
    return _save(fig, path)


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
    return _save(fig, path)


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
    return _save(fig, path)


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
    return _save(fig, path)


def plot_accuracy_lines(x: list, per_class: dict[str, dict[str, float]], xlabel: str,
                        path: str | Path) -> Path:
    """Accuracy per class against a setting (e.g. projection depth)."""
    fig = Figure(figsize=(5.2, 3.4), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    names = sorted({n for values in per_class.values() for n in values})
    for j, name in enumerate(names):
        ax.plot(x, [per_class[str(v)].get(name, np.nan) for v in x], "o-", color=f"C{j}",
                label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    return _save(fig, path)


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
    return _save(fig, path)


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
    return _save(fig, path)


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
    return _save(fig, path)


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
    return _save(fig, path)


def plot_mhd_history(history: str | Path, path: str | Path, config) -> Path:
    """Energies and Mach numbers of a driven MHD run against time (``cr.hst``), with the target
    Mach number and the first output time marked.

    Parameters
    ----------
    history : path
        History file written by :func:`crturb_keras.simulate.mhd.diagnostics.write_history`.
    path : path
        PNG file to write (atomically).
    config : MHDConfig
        The run's configuration (target Mach number, output times).
    """
    from .simulate.mhd.diagnostics import read_history

    h = read_history(history)
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    energy, mach, rate = fig.subplots(1, 3)
    energy.plot(h["time"], h["kinetic_energy"], label="kinetic")
    energy.plot(h["time"], h["magnetic_energy"] - 0.5 * config.b0 ** 2, label="magnetic - mean field")
    if "cr_energy" in h and np.any(h["cr_energy"] > 0):
        energy.plot(h["time"], h["cr_energy"] - config.initial_ec, label="CR energy gained")
    energy.set(xlabel="t [L / c_s]", ylabel="energy per volume", title="energies")
    mach.plot(h["time"], h["mach_sonic"], label="M_s")
    mach.plot(h["time"], h["mach_alfven"], label="M_A")
    mach.axhline(config.mach, color="k", ls=":", lw=1, label=f"target M_s = {config.mach:g}")
    mach.set(xlabel="t [L / c_s]", title="Mach numbers")
    rate.plot(h["time"], h["dedt"])
    rate.set(xlabel="t [L / c_s]", ylabel="dE/dt per volume", title="injection rate")
    for ax in (energy, mach, rate):
        ax.axvline(config.t_start, color="0.6", lw=1)
    energy.legend(fontsize=8)
    mach.legend(fontsize=8)
    return _save(fig, path)
