"""Sample turbulence maps from a trained generative run (DDIM, conditional DDIM, latent DDIM).

    python -m pipelines.generate runs/cddim --class CR_Streaming --n 64 --steps 50 --out generated

Writes ``OUT/<class>/sample_0000.fits`` ..., ``OUT/samples.png`` and ``OUT/generate.json`` (see
:mod:`crturb_keras.generative.samples`); the same command again reuses the folder, other settings
into an existing folder are refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

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


def main(args: argparse.Namespace) -> int:
    from crturb_keras.generative import write_samples

    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    done = write_samples(args.run_dir, args.out, classes, n=args.n, steps=args.steps,
                         guidance=args.guidance, eta=args.eta, seed=args.seed)
    out = Path(args.out)
    if done["reused"]:
        print(f"{out}: already holds these samples (same run and settings); reused")
    else:
        print(f"wrote {len(done['classes']) * args.n} maps to {out} (grid: {out / 'samples.png'})")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
