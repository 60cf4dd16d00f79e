"""Train the CNN classifier, the U-net or a generative model on a prepared dataset.

    python -m pipelines.train --task classify --data data/prepared --out runs/classify
    python -m pipelines.train --task map --data data/prepared --out runs/unet
    python -m pipelines.train --task generate --model cddim --data data/prepared --out runs/cddim

(``--task generate --help`` lists the generative flags: --model ddim|cddim|ldm, widths, ...)

Writes the run directory (config.json, history.csv, model.keras, figures/); the model kept is the
one of the best validation epoch. Then run ``python -m pipelines.evaluate RUN`` (test split) and
``python -m pipelines.export RUN`` (SavedModel). ``--evaluate`` and ``--export`` do both here.
``--repeats 3`` trains three seeds into ``OUT/seed<k>/`` and reports mean ± std over them.
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
        parser.add_argument("--repeats", type=int, default=1,
                            help="classifier only: train seeds SEED..SEED+N-1 into OUT/seed<k>/; "
                                 "--evaluate then reports mean ± std over seeds beside the "
                                 "baselines (a re-run keeps finished seeds) (default: 1)")
    parser.add_argument("--skip-existing", action="store_true",
                        help="if OUT already holds a finished run, keep it (no training) and go "
                             "on to --evaluate/--export; without this flag OUT must not exist")
    return parser


def main(args: argparse.Namespace) -> int:
    from crturb_keras.runs.record import training_line

    generative = args.task == "generate"
    if generative:
        from crturb_keras.generative.training import GenerateConfig as Config
        from crturb_keras.generative.training import train_generator as fit
    else:
        from crturb_keras.runs.training import TrainConfig as Config
        from crturb_keras.runs.training import train as fit

    config = config_from_args(Config, args)
    verbose = 0 if args.quiet else 2
    scored = Path(config.out)
    if not generative and args.repeats > 1:
        from crturb_keras.runs.repeats import train_repeats

        runs = train_repeats(config, args.repeats, verbose,
                             on_run=lambda run, trained: print(training_line(run, trained)))
    elif args.skip_existing and (scored / "model.keras").exists():
        print(f"{scored}: finished run exists; training skipped (--skip-existing)")
        runs = [scored]
    else:
        runs = [fit(config, verbose=verbose)]
        print(training_line(runs[0]))
    if args.evaluate:
        from crturb_keras.runs.evaluation import evaluate, summary_lines

        metrics = evaluate(scored, classifier=getattr(args, "classifier", None))
        print("\n".join(summary_lines(metrics, scored)))
    if not generative and args.export:
        from crturb_keras.runs.export import export

        for run_dir in runs:
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
