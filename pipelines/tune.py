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
import json
import math
import os
import sys
from pathlib import Path
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
    parser.add_argument("--distributed", choices=("chief", "worker"), default=None)
    parser.add_argument("--oracle", default=None, metavar="HOST:PORT",
                        help="address of the chief's oracle (distributed mode)")
    parser.add_argument("--worker-id", default=None, help="unique id of this worker")
    parser.add_argument("--worker-timeout", type=float, default=120.0,
                        help="chief: seconds without a heartbeat (workers send one every 2 s) "
                             "after which a worker's trial is retried elsewhere "
                             "(default: %(default)s)")
    return parser


def _distributed_environment(args: argparse.Namespace) -> None:
    from crturb_keras.errors import ConfigError

    if args.distributed is None:
        return
    if not args.oracle or ":" not in args.oracle:
        raise ConfigError("--distributed needs --oracle HOST:PORT")
    host, port = args.oracle.rsplit(":", 1)
    os.environ["KERASTUNER_ORACLE_IP"] = host
    os.environ["KERASTUNER_ORACLE_PORT"] = port
    if args.distributed == "chief":
        os.environ["KERASTUNER_TUNER_ID"] = "chief"
    else:
        if args.worker_id is None:
            raise ConfigError("--distributed worker needs --worker-id")
        os.environ["KERASTUNER_TUNER_ID"] = f"tuner{args.worker_id}"


def _max_depth(task: str, tile: int) -> int:
    smallest = 4  # the classifier pools to a 4x4 grid; the U-net bottleneck keeps >= 4 px
    return max(int(math.log2(tile // smallest)), 1)


def main(args: argparse.Namespace) -> int:
    from crturb_keras.data.store import load_manifest
    from crturb_keras.errors import ConfigError
    from crturb_keras.training import TrainConfig, train
    from tuning import search, space as spaces
    from tuning.hypermodels import CrturbHyperModel

    from .evaluate import report

    _distributed_environment(args)
    manifest = load_manifest(args.data)
    tile = manifest["geometry"]["tile"]
    space = spaces.fit_to_data(spaces.apply_overrides(spaces.default_space(args.task), args.set),
                               _max_depth(args.task, tile), args.set)
    objective = search.objective_for(args.task, args.objective)
    out = Path(args.out)
    settings = {"data": str(Path(args.data).resolve()), "task": args.task, "kind": args.kind,
                "tuner": args.tuner, "max_trials": args.max_trials, "epochs": args.epochs,
                "objective": objective.name, "space": space, "seed": args.seed}
    stored = out / "tune_config.json"
    chief = search.is_chief()
    if chief:
        if stored.exists() and json.loads(stored.read_text()) != json.loads(json.dumps(settings)):
            raise ConfigError(f"{out} holds a different search ({stored}); resume it with its own "
                              f"settings or choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        search.save_json(stored, settings)
        print(f"search space ({args.tuner}, {args.max_trials} trials, objective {objective.name}):")
        print(spaces.describe(space))
    base = TrainConfig(data=args.data, task=args.task, kind=args.kind, epochs=args.epochs,
                       patience=args.patience, seed=args.seed)
    hypermodel = CrturbHyperModel(base, space)
    tuner = search.make_tuner(args.tuner, hypermodel, out, args.max_trials, objective,
                              seed=args.seed, max_epochs=args.epochs)
    outcome = search.run_search(tuner, worker_timeout=args.worker_timeout, epochs=args.epochs)
    if not chief:
        print(f"worker {os.environ.get('KERASTUNER_TUNER_ID')}: no trials left, exiting")
        return 0
    rows = search.results_table(tuner, space)
    paths = search.write_results(rows, out, objective)
    print(paths["markdown"].read_text())
    for trial_id, message in outcome["failed"]:
        print(f"trial {trial_id} failed: {message}")
    if outcome["lost_workers"]:
        print(f"lost worker(s), their trials retried: {', '.join(outcome['lost_workers'])}")
    best = search.best_values(tuner)
    search.save_json(out / "best_hyperparameters.json", best)
    print(f"best: {best}")
    final = [("best", {**best})] + ([("default", {})] if args.compare_default else [])
    summary = {}
    for name, values in final:
        config = TrainConfig(**{**base.to_dict(), "epochs": args.final_epochs,
                                "patience": TrainConfig.patience, "out": str(out / name),
                                **values})
        run_dir = Path(config.out)
        if not (run_dir / "model.keras").exists():
            train(config, verbose=0)
        print(f"--- {name} configuration, retrained for up to {args.final_epochs} epochs: {run_dir}")
        summary[name] = report(run_dir)
        if name == "best":
            from crturb_keras.export import export

            print(f"SavedModel: {export(run_dir)}")
    search.save_json(out / "summary.json", {
        "completed_trials": outcome["completed"], "failed_trials": outcome["failed"],
        "best_hyperparameters": best, "results": str(paths["csv"]),
        "test_metrics": {k: v for k, v in summary.items()}})
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
