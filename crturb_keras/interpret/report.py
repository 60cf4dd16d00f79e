"""Run the interpretation probes on a classifier run and write ``RUN/interpret/report.md``.

The report embeds every figure and states the numbers: saliency grids and per-class mean saliency
and its spectrum for each method, the sanity check of each method, the per-class image spectra,
and the blur / flattened-spectrum / projection-depth experiments.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..io.atomic import atomic_path
from ..plots import (
    plot_accuracy_lines,
    plot_blur_experiment,
    plot_class_mean_maps,
    plot_class_spectra,
    plot_grouped_bars,
    plot_saliency_grid,
    plot_sanity,
)
from ..progress import progress_bar
from ..runs.training import load_run
from ..spectra import radial_power_spectrum
from .class_spectra import class_spectra, ratio_to
from .experiments import (
    _probabilities,
    blur_experiment,
    depth_experiment,
    flatten_experiment,
    held_out_tiles,
)
from .saliency import (
    METHODS,
    cascading_randomization,
    occlusion_maps,
    saliency_maps,
    sanity_verdict,
)

EXPERIMENTS = ("blur", "flatten", "depth")


def _table(header: list[str], rows: list[list]) -> str:
    def cell(v):
        return f"{v:.3f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def interpret(run_dir: str | os.PathLike, methods: Sequence[str] = ("vanilla", "smoothgrad",
                                                                      "gradcam++", "occlusion"),
              experiments: Sequence[str] = EXPERIMENTS, per_class: int = 4,
              sanity: bool = True, seed: int = 0, aggregate: int = 64,
              progress: bool = True) -> Path:
    """Write ``RUN/interpret/`` (figures, ``results.json``, ``report.md``); return the report.

    ``per_class`` tiles of each class go into the figure grids; the per-class mean saliency and
    its spectrum aggregate ``aggregate`` test tiles per class (all of them if fewer). With
    ``progress``, a bar on stderr names each stage (saliency method, sanity check, experiment)
    while it runs.
    """
    run = Path(run_dir)
    record, model = load_run(run)
    if record.task != "classify":
        raise ConfigError(f"{run}: interpretation probes need a classifier run")
    unknown = (set(methods) - set(METHODS) - {"occlusion"}) | (set(experiments) - set(EXPERIMENTS))
    if unknown:
        raise ConfigError(f"unknown method/experiment {sorted(unknown)}; methods: "
                          f"{METHODS + ('occlusion',)}, experiments: {EXPERIMENTS}")
    out = run / "interpret"
    out.mkdir(exist_ok=True)
    images, labels, names = held_out_tiles(run)
    rng = np.random.default_rng(seed)
    pool = np.concatenate([rng.permutation(np.nonzero(labels == i)[0])[:max(aggregate, per_class)]
                           for i in range(len(names))])
    xa, ya = images[pool], labels[pool]
    shown = np.concatenate([np.nonzero(ya == i)[0][:per_class] for i in range(len(names))])
    probe = np.concatenate([np.nonzero(ya == i)[0][:2] for i in range(len(names))])
    checked = [m for m in methods if m in ("vanilla", "smoothgrad", "gradcam++")] if sanity \
        else []
    stages = [*methods, *(f"sanity {m}" for m in checked), "spectra",
              *(e for e in ("blur", "depth", "flatten") if e in experiments)]
    bar = progress_bar(total=len(stages), desc="interpret", unit="stage", show=progress)
    bar.set_postfix_str(stages[0])

    def done() -> None:
        bar.update(1)
        if bar.n < len(stages):
            bar.set_postfix_str(stages[bar.n])

    results: dict = {"run": str(run), "tiles_per_class": per_class, "saliency": {},
                     "sanity": {}}
    lines = [f"# Interpretation of `{run.name}`", "",
             f"Test split of `{record.data_path}`, {len(images)} tiles of "
             f"{record.tile} px; model selected on validation.", ""]

    for method in methods:
        maps = occlusion_maps(model, xa, ya) if method == "occlusion" else \
            saliency_maps(model, xa, ya, method)
        grid = plot_saliency_grid(xa[shown, ..., 0], maps[shown], _probabilities(model, xa[shown]),
                                  ya[shown], names, method, out / f"saliency_{method}.png")
        mean_maps = {names[i]: np.abs(maps[ya == i]).mean(axis=0) for i in np.unique(ya)}
        spectra = {n: radial_power_spectrum(np.abs(maps[ya == names.index(n)])) for n in mean_maps}
        summary = plot_class_mean_maps(mean_maps, spectra,
                                       f"{method}: mean |saliency| per class "
                                       f"({len(xa)} test tiles)",
                                       out / f"saliency_{method}_mean.png")
        peak = {n: float(k[np.argmax(p)]) for n, (k, p) in spectra.items()}
        results["saliency"][method] = {"peak_k_of_saliency_spectrum": peak}
        lines += [f"## Saliency: {method}", "", f"![{method}]({grid.name})", "",
                  f"![{method} mean]({summary.name})", "",
                  "Wavenumber (cycles per tile) where each class's saliency spectrum peaks: "
                  + ", ".join(f"{n} {k:.0f}" for n, k in peak.items()) + ".", ""]
        done()

    if sanity:
        for method in checked:
            steps = cascading_randomization(model, xa[probe], ya[probe], method, seed=seed,
                                            **({"smooth_samples": 8} if method == "smoothgrad"
                                               else {}))
            results["sanity"][method] = {"steps": steps, "passes": sanity_verdict(steps)}
            done()
        if checked:
            figure = plot_sanity({m: r["steps"] for m, r in results["sanity"].items()},
                                 out / "sanity.png")
            lines += ["## Sanity check (cascading randomisation, Adebayo et al. 2018)", "",
                      f"![sanity]({figure.name})", "",
                      _table(["method", "Spearman ρ after randomising all layers", "passes"],
                             [[m, r["steps"][-1]["spearman"], "yes" if r["passes"] else "no"]
                              for m, r in results["sanity"].items()]), ""]

    spectra = class_spectra(images, labels, names)
    ratios = ratio_to(spectra, "MHD") if "MHD" in spectra else {n: np.ones_like(s["mean"])
                                                                for n, s in spectra.items()}
    figure = plot_class_spectra(spectra, ratios, out / "spectra.png")
    lines += ["## Image spectra per class", "", f"![spectra]({figure.name})", ""]
    done()

    if "blur" in experiments:
        blur = blur_experiment(model, images, labels, names)
        results["blur"] = blur
        figure = plot_blur_experiment(blur, out / "blur.png")
        rows = []
        for truth, per_sigma in blur["fraction"].items():
            for sigma, fractions in zip(blur["sigmas"], per_sigma):
                rows.append([truth, sigma, names[int(np.argmax(fractions))], max(fractions)]
                            + [float(f) for f in fractions])
        lines += ["## Blur experiment", "", f"![blur]({figure.name})", "",
                  _table(["true class", "σ (px)", "most predicted", "fraction"] + names, rows), ""]
        done()
    if "depth" in experiments:
        depth = depth_experiment(run)
        results["depth"] = depth
        if depth["depths"]:
            figure = plot_accuracy_lines(depth["depths"], depth["per_class"],
                                         "projection depth (cells)", out / "depth.png")
            lines += ["## Projection depth", "", f"![depth]({figure.name})", ""]
        lines += [_table(["depth", "accuracy"] + names,
                         [[d, depth["accuracy"][str(d)]] + [depth["per_class"][str(d)].get(n, "-")
                                                            for n in names]
                          for d in depth["depths"]]), ""]
        if depth["skipped"]:
            lines += [f"Depths {depth['skipped']} do not fit in the test regions.", ""]
        done()
    if "flatten" in experiments:
        flat = flatten_experiment(run, out / "flattened")
        results["flatten"] = flat
        figure = plot_grouped_bars({"full power": flat["full"]["per_class"],
                                    "flattened spectrum": flat["flattened"]["per_class"]},
                                   out / "flatten.png")
        lines += ["## Flattened power spectra", "", f"![flatten]({figure.name})", "",
                  _table(["class", "full power", "flattened"],
                         [[n, flat["full"]["per_class"][n], flat["flattened"]["per_class"][n]]
                          for n in names] + [["all", flat["full"]["accuracy"],
                                              flat["flattened"]["accuracy"]]]), ""]
        done()
    bar.close()
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=1, default=float))
    report = out / "report.md"
    with atomic_path(report) as tmp:
        tmp.write_text("\n".join(lines))
    return report
