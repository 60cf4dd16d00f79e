"""Export a training run as serving models that load without this package.

    python -m pipelines.export runs/classify [--force]

Writes RUN/serving.keras (stock Keras layers; input log10 density tiles of the training size)
and the TensorFlow SavedModel RUN/saved_model/ (signature ``serve``: raw density maps
(n, H, W, 1) in code units -> named outputs: the classifier's probabilities, per-tile
probabilities and class names, or one map per target in physical units).
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
    from crturb_keras.runs.export import export

    path = export(args.run_dir, force=args.force)
    print(f"SavedModel: {path} (tf.saved_model.load(path).serve(density) -> dict of named "
          f"outputs); Keras: {path.parent / 'serving.keras'} (input: log10 density tiles)")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
