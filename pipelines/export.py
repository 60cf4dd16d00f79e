"""Export a training run as a serving model that takes raw density maps.

    python -m pipelines.export runs/classify [--force]

Writes RUN/serving.keras and the TensorFlow SavedModel RUN/saved_model/ (signature ``serve``:
density tiles (n, H, W, 1) in code units -> class probabilities, or target maps in physical units).
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ._cli import run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", metavar="RUN", help="training run directory")
    parser.add_argument("--force", action="store_true", help="replace an existing export")
    return parser


def main(args: argparse.Namespace) -> int:
    from crturb_keras.export import export

    path = export(args.run_dir, force=args.force)
    print(f"SavedModel: {path} (load with tf.saved_model.load(path).serve(x)); "
          f"Keras: {path.parent / 'serving.keras'}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
