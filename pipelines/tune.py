"""Hyperparameter search with keras-tuner, then retrain, evaluate and export the best model.

    python -m pipelines.tune --data data/prepared --task classify --tuner bayesian \\
        --max-trials 8 --out runs/tune
    python -m pipelines.tune ... --set depth=3 --set learning_rate=1e-4:1e-2 --set base_filters=8,16

Resumable: run the same command again after an interruption and the search continues where it
stopped (a different search in the same OUT is refused).

Distributed (one chief, N workers sharing OUT on a common filesystem)::

    python -m pipelines.tune ... --distributed chief  --oracle 10.0.0.1:8000        # on the chief
    python -m pipelines.tune ... --distributed worker --oracle 10.0.0.1:8000 --worker-id 0
    python -m pipelines.tune ... --distributed worker --oracle 10.0.0.1:8000 --worker-id 1

(keras-tuner's KERASTUNER_TUNER_ID / KERASTUNER_ORACLE_IP / KERASTUNER_ORACLE_PORT variables work
too.) Workers run trials; the chief serves the oracle, and when all trials are done writes the
results and retrains the best configuration.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ._cli import run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.tune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/prepared", help="prepared dataset")
    parser.add_argument("--task", choices=("classify", "map"), default="classify")
    parser.add_argument("--kind", choices=("slice", "projection"), default="slice")
    parser.add_argument("--tuner", choices=("random", "bayesian", "hyperband"), default="bayesian")
    parser.add_argument("--max-trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=8, help="epochs per trial (default: 8)")
    parser.add_argument("--patience", type=int, default=3, help="early-stopping patience in trials")
    parser.add_argument("--objective", default=None,
                        help="val_loss (default), val_accuracy (classify) or val_ssim (map)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="fix (NAME=V), narrow (NAME=LOW:HIGH) or list (NAME=A,B) a "
                             "hyperparameter; repeatable")
    parser.add_argument("--out", default="runs/tune")
    parser.add_argument("--final-epochs", type=int, default=30,
                        help="epochs when retraining the best configuration (default: 30)")
    parser.add_argument("--compare-default", action="store_true",
                        help="also train the untuned default model and compare on the test split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1,
                        help="classifier: retrain the best (and default) configuration over "
                             "seeds SEED..SEED+N-1 and compare mean ± std (default: 1)")
    parser.add_argument("--distributed", choices=("chief", "worker"), default=None)
    parser.add_argument("--oracle", default=None, metavar="HOST:PORT",
                        help="address of the chief's oracle (distributed mode)")
    parser.add_argument("--worker-id", default=None, help="unique id of this worker")
    parser.add_argument("--worker-timeout", type=float, default=120.0,
                        help="chief: seconds without a heartbeat (workers send one every 2 s) "
                             "after which a worker's trial is retried elsewhere "
                             "(default: %(default)s)")
    return parser


def main(args: argparse.Namespace) -> int:
    from crturb_keras.runs.evaluation import evaluate, summary_lines
    from tuning.search import set_role
    from tuning.workflow import TuneConfig, tune

    set_role(args.distributed, args.oracle, args.worker_id)
    config = TuneConfig(data=args.data, out=args.out, task=args.task, kind=args.kind,
                        tuner=args.tuner, max_trials=args.max_trials, epochs=args.epochs,
                        patience=args.patience, objective=args.objective,
                        overrides=tuple(args.set), final_epochs=args.final_epochs,
                        compare_default=args.compare_default, seed=args.seed,
                        worker_timeout=args.worker_timeout, repeats=args.repeats)
    outcome = tune(config, verbose=0 if args.quiet else 2)
    if not outcome["chief"]:
        print(f"worker {outcome['worker']}: no trials left, exiting")
        return 0
    print(outcome["results"]["markdown"].read_text())
    print(f"best: {outcome['best_hyperparameters']}")
    for name, run_dir in outcome["runs"].items():
        print(f"--- {name} configuration, retrained for up to {args.final_epochs} epochs: "
              f"{run_dir}")
        print("\n".join(summary_lines(evaluate(run_dir), run_dir)))
    print(f"SavedModel: {outcome['saved_model']}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
