"""Science report: train the classifier over seeds on prepared data and write a report.

    python -m pipelines.report --data data/prepared --out runs/report --repeats 3 --folds 3 --depth 2

Trains OUT/fold<f>/cnn/seed<k>/ (every training flag of ``pipelines.train`` applies) on each fold
of the runs (``--folds``), scores each network on the test split beside the majority and logistic
baselines, runs the blur and flattened-spectrum experiments (``--experiments``), and writes
OUT/report.md (tables of mean ± std over folds and seeds, figures) and OUT/report.json. A re-run
keeps the finished seeds and data.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from ._cli import add_config_arguments, config_from_args, run


def build_parser() -> argparse.ArgumentParser:
    from crturb_keras.runs.training import TrainConfig

    parser = argparse.ArgumentParser(prog="python -m pipelines.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser, TrainConfig, skip=("task", "upsample", "ssim_alpha"))
    parser.add_argument("--repeats", type=int, default=3,
                        help="training seeds SEED..SEED+N-1 (default: %(default)s)")
    parser.add_argument("--folds", type=int, default=1,
                        help="folds of the runs (data split by realization): 3 with three runs "
                             "per class puts every run in the test split once (default: "
                             "%(default)s)")
    parser.add_argument("--experiments", default="blur,flatten",
                        help="blur, flatten (comma-separated; empty for none) "
                             "(default: %(default)s)")
    parser.set_defaults(out="runs/report")
    return parser


def main(args: argparse.Namespace) -> int:
    from crturb_keras.runs.report import science_report
    from crturb_keras.runs.training import TrainConfig

    config = config_from_args(TrainConfig, args)
    experiments = [e.strip() for e in args.experiments.split(",") if e.strip()]
    report = science_report(config, args.repeats, args.folds, experiments,
                            verbose=0 if args.quiet else 2)
    result = json.loads(report.with_name("report.json").read_text())
    for kind, entry in result["cnn"]["kinds"].items():
        cnn, logistic = entry["cnn"], entry["baselines"]["logistic_image_statistics"]
        print(f"test {kind}s over {len(cnn['accuracy']['values'])} networks: CNN "
              f"{cnn['accuracy']['mean']:.3f} ± {cnn['accuracy']['std']:.3f}, logistic "
              f"{logistic['accuracy']['mean']:.3f} ± {logistic['accuracy']['std']:.3f}")
    flat = result.get("flattened", {}).get("kinds", {}).get(config.kind)
    if flat:
        accuracy = flat["cnn"]["accuracy"]
        print(f"flattened spectra, test {config.kind}s: CNN {accuracy['mean']:.3f} ± "
              f"{accuracy['std']:.3f}, logistic "
              f"{flat['baselines']['logistic_image_statistics']['accuracy']['mean']:.3f}")
    print(f"report: {report}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
