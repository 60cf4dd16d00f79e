"""Figures of simulated data: the class overview and a solver run's history."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
from matplotlib.figure import Figure

from ..simulate.stats import slice_spectrum
from ..snapshot import Snapshot
from ._figure import save_figure


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
    return save_figure(fig, path)


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
    from ..simulate.mhd.diagnostics import read_history

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
    return save_figure(fig, path)
