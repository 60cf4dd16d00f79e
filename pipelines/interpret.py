"""Interpret a classifier run: saliency maps, sanity checks, spectra and image experiments.

    python -m pipelines.interpret runs/classify [--methods vanilla,smoothgrad,gradcam++,occlusion]
        [--experiments blur,flatten,depth] [--per-class 4]

Writes RUN/interpret/ (PNG figures, results.json) and RUN/interpret/report.md, which embeds the
figures and states the numbers. Gradient saliency needs the TensorFlow backend.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ._cli import run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.interpret", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", metavar="RUN", help="classifier run directory")
    parser.add_argument("--methods", default="vanilla,smoothgrad,gradcam++,occlusion",
                        help="vanilla, smoothgrad, gradcam++, scorecam, occlusion")
    parser.add_argument("--experiments", default="blur,flatten,depth",
                        help="blur, flatten, depth (empty for none)")
    parser.add_argument("--per-class", type=int, default=4, help="tiles per class in the grids")
    parser.add_argument("--aggregate", type=int, default=64,
                        help="test tiles per class averaged for mean saliency maps and spectra")
    parser.add_argument("--no-sanity", action="store_true", help="skip the randomisation check")
    return parser


def main(args: argparse.Namespace) -> int:
    from crturb_keras.interpret import interpret

    split = lambda text: [t.strip() for t in text.split(",") if t.strip()]  # noqa: E731
    report = interpret(args.run_dir, split(args.methods), split(args.experiments),
                       per_class=args.per_class, sanity=not args.no_sanity,
                       aggregate=args.aggregate, progress=not args.quiet)
    print(report.read_text())
    print(f"\nreport: {report}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
