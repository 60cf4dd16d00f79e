"""Sample turbulence maps from a trained generative run (DDIM, conditional DDIM, latent DDIM).

    python -m pipelines.generate runs/cddim --class CR_Streaming --n 64 --steps 50 --out generated

Writes ``OUT/<class>/sample_0000.fits`` ... (one 2-D map per sample, in the data's physical units
when its normalisation can be undone: density for ``log10`` + ``standardize``, so
``python -m pipelines.predict`` takes them like observed maps), ``OUT/samples.png`` (a grid) and
``OUT/generate.json`` (the settings). The folder is written under a temporary name and renamed;
running the same command again reuses it, other settings into an existing folder are refused.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ._cli import run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", metavar="RUN", help="run directory of --task generate")
    parser.add_argument("--class", dest="classes", default="",
                        help="comma-separated class names (conditional models; default: all the "
                             "run was trained on)")
    parser.add_argument("--n", type=int, default=16, help="samples per class (default: 16)")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps (default: 50)")
    parser.add_argument("--guidance", type=float, default=1.0,
                        help="classifier-free guidance weight (default: 1.0; 0 = unconditional; "
                             "> 1 raises contrast)")
    parser.add_argument("--eta", type=float, default=0.0,
                        help="0 = deterministic DDIM, 1 = stochastic (default: 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output folder")
    return parser


def physical(samples: np.ndarray, normalization: dict) -> tuple[np.ndarray, str]:
    """Undo the prepared data's input normalisation where possible: ``(maps, BUNIT)``."""
    norm = normalization["input"]
    if norm["method"] not in ("standardize", "none"):
        return samples, f"{norm['method']}-normalised (not invertible)"
    x = samples * norm.get("std", 1.0) + norm.get("mean", 0.0)
    return (10.0 ** x if norm["log10"] else x), "code density"


def main(args: argparse.Namespace) -> int:
    from astropy.io import fits

    from crturb_keras.checks import inside
    from crturb_keras.errors import ConfigError
    from crturb_keras.generation import class_names, load_generator
    from crturb_keras.io.atomic import atomic_dir
    from crturb_keras.io.fits import write_fits_map
    from crturb_keras.plots import plot_sample_grid

    if args.n < 1 or args.steps < 1:
        raise ConfigError(f"--n and --steps must be >= 1, got {args.n}, {args.steps}")
    if not (math.isfinite(args.guidance) and math.isfinite(args.eta)):
        raise ConfigError(f"--guidance and --eta must be finite, got {args.guidance} and "
                          f"{args.eta}")
    generator = load_generator(args.run_dir)
    requested = [c.strip() for c in args.classes.split(",") if c.strip()]
    names = class_names(generator, requested) if generator.conditional else ["unconditional"]
    if requested and not generator.conditional:
        raise ConfigError(f"{args.run_dir} is an unconditional model; drop --class")
    settings = {"run": str(Path(args.run_dir).resolve()), "classes": names, "n": args.n,
                "steps": args.steps, "guidance": args.guidance, "eta": args.eta,
                "seed": args.seed}
    out = Path(args.out)
    if out.exists():
        done = out / "generate.json"
        if done.exists() and json.loads(done.read_text()) == settings:
            print(f"{out}: already holds these samples (same run and settings); reused")
            return 0
        raise ConfigError(f"{out}: exists with other contents or settings; choose another --out "
                          f"(finished outputs are never overwritten)")
    with atomic_dir(out) as tmp:
        rows = {}
        for index, name in enumerate(names):
            print(f"sampling {args.n} x {name} ({args.steps} DDIM steps)", flush=True)
            samples = generator.sample(args.n, name if generator.conditional else None,
                                       steps=args.steps, guidance=args.guidance, eta=args.eta,
                                       seed=args.seed + index, progress=True)[..., 0]
            maps, unit = physical(samples, generator.record["data"]["normalization"])
            folder = inside(tmp, name, f"{args.run_dir}: class folder", ConfigError)
            folder.mkdir()
            for i, image in enumerate(maps):
                header = fits.Header()
                header["BUNIT"] = unit
                header["CRCLASS"] = (name, "requested cosmic-ray transport class")
                header["GENMODEL"] = (generator.record["config"]["model"], "generative model")
                header["DDIMSTEP"] = (args.steps, "DDIM sampling steps")
                header["GUIDANCE"] = (args.guidance, "classifier-free guidance weight")
                header["ETA"] = (args.eta, "DDIM eta (0 = deterministic)")
                header["SEED"] = (args.seed + index, "sampling seed of this class")
                header["SAMPLE"] = (i, "index within the class")
                write_fits_map(image, folder / f"sample_{i:04d}.fits", header=header,
                               name="DENSITY")
            rows[name] = (np.empty((0,) + samples.shape[1:]), samples)
        plot_sample_grid(rows, tmp / "samples.png")
        (tmp / "generate.json").write_text(json.dumps(settings, indent=2))
    print(f"wrote {len(names) * args.n} maps to {out} (grid: {out / 'samples.png'})")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
