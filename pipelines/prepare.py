"""Prepare buffered train/val/test tiles from simulation snapshots for training.

    python -m pipelines.prepare --source data/surrogate --out data/prepared
    python -m pipelines.prepare --source 'runs/*/cr.out1.*.athdf' --classes-from-dirs --out DIR
    python -m pipelines.prepare --source surrogate --resolution 128 --out DIR   # simulate first

Writes ``OUT/manifest.json`` and ``OUT/{train,val,test}/{slice,projection}/*.npy`` shards. A re-run
with the same settings and sources reuses the result; different settings in OUT are refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from crturb_keras.data import PrepareConfig, prepare
from crturb_keras.data.sources import discover_sources
from crturb_keras.progress import progress_bar
from crturb_keras.simulate import SurrogateConfig, simulate

from ._cli import add_config_arguments, config_from_args, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.prepare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", action="append", required=True,
                        help="folder of class sub-folders, glob of .athdf/.fits files, "
                             "'yt:PATH' or 'yt@LEVEL:PATH' (a file or glob of any output yt "
                             "reads, e.g. refined Athena++ meshes, on a uniform grid at LEVEL, "
                             "default the finest), or 'surrogate' (simulate into SURROGATE_DIR "
                             "first); repeatable")
    parser.add_argument("--classes-from-dirs", action="store_true",
                        help="name each globbed file's class after its parent folder")
    parser.add_argument("--out", required=True, help="folder to create")
    parser.add_argument("--resolution", type=int, default=64,
                        help="surrogate resolution with --source surrogate (default: %(default)s)")
    parser.add_argument("--snapshots", type=int, default=4,
                        help="surrogate outputs per class with --source surrogate "
                             "(default: %(default)s)")
    parser.add_argument("--surrogate-dir", default=None,
                        help="where --source surrogate writes its .athdf files "
                             "(default: OUT-surrogate)")
    parser.add_argument("--workers", type=int, default=0,
                        help="processes reading snapshots (default: CPU cores, at most 4)")
    add_config_arguments(parser, PrepareConfig)
    return parser


def main(args: argparse.Namespace) -> int:
    config = config_from_args(PrepareConfig, args)
    specs = []
    for spec in args.source:
        if spec == "surrogate":
            folder = Path(args.surrogate_dir or f"{args.out.rstrip('/')}-surrogate")
            sim = SurrogateConfig(resolution=args.resolution, snapshots=args.snapshots,
                                  seed=config.seed)
            with progress_bar(total=5 * sim.snapshots, desc="simulate", unit="snapshot") as bar:
                simulate(sim, folder, "all", progress=lambda *_: bar.update(1))
            specs.append(str(folder))
        else:
            specs.append(spec)
    sources = discover_sources(specs, classes_from_dirs=args.classes_from_dirs)
    existed = Path(args.out).exists()
    manifest = prepare(sources, args.out, config, workers=args.workers)
    verb = "reused the dataset prepared earlier from" if existed else "prepared"
    split = ("whole runs per split" if config.split_by == "realization"
             else f"buffer {manifest.buffer_cells} cells along {config.axis}")
    print(f"{verb} {len(sources)} snapshot(s) of {len(manifest.classes)} class(es) in "
          f"{args.out} ({split})")
    kinds = list(manifest.counts["train"])
    print(f"{'class':<18} " + " ".join(f"{s + '/' + k:>18}" for s in manifest.counts
                                         for k in kinds))
    for name in manifest.classes:
        row = [manifest.counts[s][k].get(name, 0) for s in manifest.counts for k in kinds]
        print(f"{name:<18} " + " ".join(f"{n:>18}" for n in row))
    dropped = manifest.dropped
    if any(dropped.values()):
        print(f"dropped tiles: {dropped['blank']} blank, {dropped['nonfinite']} with NaN/inf")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
