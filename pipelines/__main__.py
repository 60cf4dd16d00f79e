"""``crturb JOB [flags]``: the console script (``python -m pipelines JOB`` works the same).

Each job is also ``python -m pipelines.JOB``; ``crturb JOB --help`` lists its flags.
"""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

from crturb_keras._version import __version__

#: Jobs in the order of the data flow, with one line each for ``crturb --help``.
JOBS = {
    "simulate": "run the MHD + cosmic-ray solver (or the surrogate) for each transport class",
    "convert": "write simulation outputs as FITS cubes and maps",
    "prepare": "cut, normalise and split snapshots into a prepared dataset",
    "train": "train the classifier, the U-net or a generative model",
    "evaluate": "score a run on the test split",
    "export": "write serving.keras and the SavedModel of a run",
    "predict": "apply a run to a FITS map",
    "report": "train over seeds and write the science report (tables, figures, experiments)",
    "interpret": "saliency, sanity checks, spectra and blur/flatten/depth experiments",
    "generate": "draw samples from a generative run",
    "tune": "hyperparameter search, then retrain, evaluate and export the best",
}


def _usage() -> str:
    width = max(map(len, JOBS))
    return "usage: crturb JOB [flags]   (crturb JOB --help for its flags)\n\njobs:\n" + "\n".join(
        f"  {job:<{width}}  {text}" for job, text in JOBS.items())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job named by the first argument with the remaining arguments."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"crturb (crturb-keras {__version__})")
        return 0
    if argv[0] not in JOBS:
        print(f"error: unknown job {argv[0]!r}\n{_usage()}", file=sys.stderr)
        return 2
    return importlib.import_module(f"pipelines.{argv[0]}").cli(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
