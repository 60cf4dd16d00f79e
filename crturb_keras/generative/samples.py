"""Write samples of a generative run as FITS maps in the data's physical units.

``OUT/<class>/sample_0000.fits`` ... (one 2-D map per sample, units as in
:mod:`crturb_keras.io.fits`: density for ``log10`` +
``standardize`` data, so :func:`crturb_keras.runs.predict.predict_map` and ``pipelines.predict`` take
them like observed maps), ``OUT/samples.png`` (a grid) and ``OUT/generate.json`` (the settings).
The folder is written under a temporary name and renamed; the same settings into an existing
folder reuse it, other settings are refused.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..checks import inside
from ..errors import ConfigError
from ..io.atomic import atomic_dir
from ..io.fits import CODE_UNITS, write_fits_map
from ..plots import plot_sample_grid
from .training import class_names, load_generator


def physical(samples: np.ndarray, normalization: dict) -> tuple[np.ndarray, str]:
    """Undo the prepared data's input normalisation where possible: ``(maps, CODEUNIT)``."""
    norm = normalization["input"]
    if norm["method"] not in ("standardize", "none"):
        return samples, f"{norm['method']}-normalised (not invertible)"
    x = samples * norm.get("std", 1.0) + norm.get("mean", 0.0)
    return (10.0 ** x if norm["log10"] else x), CODE_UNITS["rho"]


def write_samples(run_dir: str | os.PathLike, out: str | os.PathLike,
                  classes: Sequence[str] = (), n: int = 16, steps: int = 50,
                  guidance: float = 1.0, eta: float = 0.0, seed: int = 0,
                  progress: bool = True) -> dict:
    """Sample ``n`` maps per class from a generative run into ``out``; return the settings.

    Parameters
    ----------
    classes : names for a conditional model (empty: every class the run was trained on); must
        be empty for an unconditional one.
    n, steps, guidance, eta, seed : samples per class, DDIM steps, classifier-free guidance
        weight, DDIM eta (0 deterministic), seed of the first class (class ``i`` uses
        ``seed + i``).

    Returns
    -------
    dict
        The settings stored in ``generate.json``, plus ``reused`` (True when ``out`` already held
        exactly these samples).

    Raises
    ------
    ConfigError
        For impossible settings, an unknown class, or an ``out`` holding something else.
    """
    if n < 1 or steps < 1:
        raise ConfigError(f"--n and --steps must be >= 1, got {n}, {steps}")
    if not (math.isfinite(guidance) and math.isfinite(eta)):
        raise ConfigError(f"--guidance and --eta must be finite, got {guidance} and {eta}")
    generator = load_generator(run_dir)
    requested = list(classes)
    if requested and not generator.conditional:
        raise ConfigError(f"{run_dir} is an unconditional model; drop --class")
    names = class_names(generator, requested) if generator.conditional else ["unconditional"]
    settings = {"run": str(Path(run_dir).resolve()), "classes": names, "n": n, "steps": steps,
                "guidance": guidance, "eta": eta, "seed": seed}
    out = Path(out)
    if out.exists():
        done = out / "generate.json"
        if done.exists() and json.loads(done.read_text()) == settings:
            return {**settings, "reused": True}
        raise ConfigError(f"{out}: exists with other contents or settings; choose another --out "
                          f"(finished outputs are never overwritten)")
    from astropy.io import fits

    with atomic_dir(out) as tmp:
        rows = {}
        for index, name in enumerate(names):
            if progress:
                print(f"sampling {n} x {name} ({steps} DDIM steps)", flush=True)
            samples = generator.sample(n, name if generator.conditional else None, steps=steps,
                                       guidance=guidance, eta=eta, seed=seed + index,
                                       progress=progress)[..., 0]
            maps, unit = physical(samples, generator.record.normalization_dict)
            folder = inside(tmp, name, f"{run_dir}: class folder", ConfigError)
            folder.mkdir()
            for i, image in enumerate(maps):
                header = fits.Header()
                header["BUNIT"] = ("", "code units (no physical scale): see CODEUNIT")
                header["CODEUNIT"] = (unit, "dimension in code units")
                header["CRCLASS"] = (name, "requested cosmic-ray transport class")
                header["GENMODEL"] = (generator.record.config["model"], "generative model")
                header["DDIMSTEP"] = (steps, "DDIM sampling steps")
                header["GUIDANCE"] = (guidance, "classifier-free guidance weight")
                header["ETA"] = (eta, "DDIM eta (0 = deterministic)")
                header["SEED"] = (seed + index, "sampling seed of this class")
                header["SAMPLE"] = (i, "index within the class")
                write_fits_map(image, folder / f"sample_{i:04d}.fits", header=header,
                               name="DENSITY")
            rows[name] = (np.empty((0,) + samples.shape[1:]), samples)
        plot_sample_grid(rows, tmp / "samples.png")
        (tmp / "generate.json").write_text(json.dumps(settings, indent=2))
    return {**settings, "reused": False}
