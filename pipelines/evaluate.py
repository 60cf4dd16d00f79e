"""Evaluate a training run on its test split (never seen in training or model selection).

    python -m pipelines.evaluate runs/classify [--force]
    python -m pipelines.evaluate runs/cddim --classifier runs/classify [--n 64 --steps 50]

Writes RUN/metrics.json and RUN/figures/ (confusion matrices, map panels, or spectra and PDFs of
generated maps) and prints a table of per-class test accuracy next to the baselines, VRMSE per
target for the U-net, or, for a generative run, each metric next to its real-vs-real reference.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ._cli import run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", metavar="RUN", help="training run directory")
    parser.add_argument("--force", action="store_true", help="recompute an existing metrics.json")
    generative = parser.add_argument_group("generative runs")
    generative.add_argument("--classifier", default=None,
                            help="classifier run on the same prepared data (physics-feature KID, "
                                 "classifier agreement)")
    generative.add_argument("--n", type=int, default=64, help="samples per class (default: 64)")
    generative.add_argument("--steps", type=int, default=50, help="DDIM steps (default: 50)")
    generative.add_argument("--guidance", type=float, default=1.0,
                            help="classifier-free guidance weight (default: 1.0, purely "
                                 "conditional; 2.0 doubled the pixel variance on the surrogate)")
    return parser


def main(args: argparse.Namespace) -> int:
    from crturb_keras.runs.evaluation import evaluate, summary_lines

    metrics = evaluate(args.run_dir, force=args.force, classifier=args.classifier, n=args.n,
                       steps=args.steps, guidance=args.guidance)
    print("\n".join(summary_lines(metrics, args.run_dir)))
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
