"""Train the CNN classifier, the U-net or a generative model on a prepared dataset.

    python -m pipelines.train --task classify --data data/prepared --out runs/classify
    python -m pipelines.train --task map --data data/prepared --out runs/unet
    python -m pipelines.train --task generate --model cddim --data data/prepared --out runs/cddim

(``--task generate --help`` lists the generative flags: --model ddim|cddim|ldm, widths, ...)

Writes the run directory (config.json, history.csv, model.keras, figures/); the model kept is the
one of the best validation epoch. Then run ``python -m pipelines.evaluate RUN`` (test split) and
``python -m pipelines.export RUN`` (SavedModel). ``--evaluate`` and ``--export`` do both here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ._cli import add_config_arguments, config_from_args, run


def build_parser(task: str = "classify") -> argparse.ArgumentParser:
    from crturb_keras.generative.training import GenerateConfig
    from crturb_keras.runs.training import TrainConfig

    parser = argparse.ArgumentParser(prog="python -m pipelines.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser, GenerateConfig if task == "generate" else TrainConfig)
    parser.add_argument("--evaluate", action="store_true", help="evaluate on the test split after")
    if task == "generate":
        parser.add_argument("--classifier", default=None,
                            help="classifier run on the same data, for --evaluate's physics KID "
                                 "and classifier agreement")
    else:
        parser.add_argument("--export", action="store_true", help="export the SavedModel after")
    parser.add_argument("--skip-existing", action="store_true",
                        help="if OUT already holds a finished run, keep it (no training) and go "
                             "on to --evaluate/--export; without this flag OUT must not exist")
    return parser


def main(args: argparse.Namespace) -> int:
    from crturb_keras.runs.record import read_record

    generative = args.task == "generate"
    if generative:
        from crturb_keras.generative.training import GenerateConfig as Config
        from crturb_keras.generative.training import train_generator as fit
    else:
        from crturb_keras.runs.training import TrainConfig as Config
        from crturb_keras.runs.training import train as fit

    config = config_from_args(Config, args)
    run_dir = Path(config.out)
    if args.skip_existing and (run_dir / "model.keras").exists():
        print(f"{run_dir}: finished run exists; training skipped (--skip-existing)")
    else:
        run_dir = fit(config, verbose=0 if args.quiet else 2)
    record = read_record(run_dir).training
    if generative:
        print(f"run directory: {run_dir} ({record['epochs_run']} epochs, val loss "
              f"{record['final_val_loss']:.4f}; samples in {run_dir / 'figures' / 'samples.png'})")
    else:
        print(f"run directory: {run_dir} (best epoch {record['best_epoch']} of "
              f"{record['epochs_run']}, val loss {record['best_val_loss']:.4f})")
    if args.evaluate:
        from crturb_keras.runs.evaluation import evaluate, summary_lines

        metrics = evaluate(run_dir, classifier=getattr(args, "classifier", None))
        print("\n".join(summary_lines(metrics, run_dir)))
    if not generative and args.export:
        from crturb_keras.runs.export import export

        print(f"SavedModel: {export(run_dir)}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--task", default="classify")
    task = peek.parse_known_args(argv)[0].task
    return run(main, build_parser(task), argv)


if __name__ == "__main__":
    sys.exit(cli())
