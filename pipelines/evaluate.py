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
from pathlib import Path
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


def report(run_dir: str | Path, force: bool = False, classifier: str | None = None,
           n: int = 64, steps: int = 50, guidance: float = 1.0) -> dict:
    """Evaluate (or read the existing metrics) and print them as tables."""
    from crturb_keras.runs.evaluation import evaluate

    metrics = evaluate(run_dir, force=force, classifier=classifier, n=n, steps=steps,
                       guidance=guidance)
    if metrics["task"] == "generate":
        from crturb_keras.generative.evaluation import metrics_table

        print(f"{metrics['model']}: {metrics['samples_per_class']} samples per class, "
              f"{metrics['steps']} DDIM steps, vs test tiles; (real train vs test) in brackets")
        print("\n".join(metrics_table(metrics)))
    elif metrics["task"] == "classify":
        for kind, scores in metrics["kinds"].items():
            base = scores["baselines"]
            print(f"test {kind}s (n={scores['n']}): accuracy {scores['accuracy']:.3f}, "
                  f"macro F1 {scores['macro_f1']:.3f}")
            print(f"  {'class':<18} {'CNN':>6} {'logistic':>9} {'majority':>9}")
            for name, value in scores["per_class_accuracy"].items():
                logistic = base["logistic_image_statistics"]["per_class_accuracy"][name]
                majority = base["majority_class"]["per_class_accuracy"][name]
                print(f"  {name:<18} {value:6.3f} {logistic:9.3f} {majority:9.3f}")
            print(f"  {'all':<18} {scores['accuracy']:6.3f} "
                  f"{base['logistic_image_statistics']['accuracy']:9.3f} "
                  f"{base['majority_class']['accuracy']:9.3f}")
    else:
        print(f"test {metrics['kind']}s of {', '.join(metrics['classes_used'])}")
        print(f"  {'target':<26} {'VRMSE':>6} {'SSIM':>6} {'r':>6} {'linear':>7}")
        for name, scores in metrics["targets"].items():
            print(f"  {name:<26} {scores['vrmse']:6.3f} {scores['ssim']:6.3f} "
                  f"{scores['pearson_r']:6.3f} {scores['baselines']['pixel_linear']['vrmse']:7.3f}")
    print(f"metrics: {Path(run_dir) / 'metrics.json'}; figures: {Path(run_dir) / 'figures'}")
    return metrics


def main(args: argparse.Namespace) -> int:
    report(args.run_dir, force=args.force, classifier=args.classifier, n=args.n,
           steps=args.steps, guidance=args.guidance)
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
