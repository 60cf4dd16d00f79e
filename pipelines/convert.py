"""Convert Athena++ ``.athdf`` outputs (or any yt dataset) to FITS cubes (one ImageHDU per field).

    python -m pipelines.convert IN.athdf OUT.fits [--fields rho,Ec]
    python -m pipelines.convert data/surrogate data/fits          # every .athdf below a folder
    python -m pipelines.convert --yt [--level 1] [--units cgs] amr.out1.00010.athdf OUT.fits

With ``--yt`` each input is one dataset yt opens (refined Athena++ meshes, FLASH, Enzo, RAMSES,
...), read on a uniform grid at ``--level`` (default the finest); ``--fields`` then defaults to
``rho``, and ``--units cgs`` labels the cube in physical units.

Outputs of one cycle written by several output blocks (``run.out1.00010.athdf`` with ``prim``,
``run.out2.00010.athdf`` with ``cons``) are merged into one cube ``run.00010.fits``. Existing
FITS files are kept (a re-run resumes) unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from crturb_keras.checks import safe_name
from crturb_keras.errors import ConfigError
from crturb_keras.io.athena import cycle_stem, read_athdf
from crturb_keras.io.fits import write_fits_cube

from ._cli import run

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="IN",
                        help=".athdf file(s) or folder(s) searched recursively; the last "
                             "argument is OUT")
    parser.add_argument("--fields", default=None,
                        help="comma-separated fields (stored or derived, e.g. "
                             "rho,Ec,magnetic_energy_density); default: all stored fields")
    parser.add_argument("--class-name", default=None,
                        help="CRCLASS card; default: the file's surrogate class, if any")
    parser.add_argument("--overwrite", action="store_true", help="replace existing FITS files")
    parser.add_argument("--yt", action="store_true",
                        help="read each input through yt (any code yt reads, refined meshes "
                             "included)")
    parser.add_argument("--level", type=int, default=None,
                        help="with --yt: refinement level of the uniform grid (default: finest)")
    parser.add_argument("--units", choices=("as_read", "cgs"), default="as_read",
                        help="with --yt: keep yt's units or convert to CGS (default: as_read)")
    return parser


def plan_yt(inputs: Sequence[str], out: str) -> list[tuple[list[Path], Path]]:
    """One job per yt dataset: ``OUT`` itself for one input ending in ``.fits``, else
    ``OUT/<input name>.fits``."""
    paths = [Path(i) for i in inputs]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ConfigError(f"{missing[0]}: no such file or folder")
    out_path = Path(out)
    if len(paths) == 1 and out_path.suffix.lower() in (".fits", ".fit"):
        return [([paths[0]], out_path)]
    if out_path.suffix.lower() in (".fits", ".fit"):
        raise ConfigError(f"{out_path}: {len(paths)} datasets to convert need an output folder, "
                          f"not a single .fits file")
    return [([p], out_path / f"{p.stem}.fits") for p in paths]


def plan(inputs: Sequence[str], out: str) -> list[tuple[list[Path], Path]]:
    """Group input files by cycle and pair each group with its output FITS path."""
    roots: list[tuple[Path, Path]] = []          # (file, folder it was found under)
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(path.rglob("*.athdf"))
            if not found:
                raise ConfigError(f"{path}: no .athdf files below this folder")
            roots += [(f, path) for f in found]
        elif path.is_file():
            roots.append((path, path.parent))
        else:
            raise ConfigError(f"{path}: no such file or folder")
    groups: dict[tuple[Path, str], list[Path]] = {}
    base_of: dict[tuple[Path, str], Path] = {}
    for file, root in roots:
        key = (file.parent, cycle_stem(file) or file.stem)
        groups.setdefault(key, []).append(file)
        base_of[key] = root
    out_path = Path(out)
    single = len(groups) == 1 and out_path.suffix.lower() in (".fits", ".fit")
    jobs = []
    for key, files in groups.items():
        if single:
            target = out_path
        else:
            if out_path.suffix.lower() in (".fits", ".fit"):
                raise ConfigError(f"{out_path}: {len(groups)} cycles to convert need an output "
                                  f"folder, not a single .fits file")
            relative = key[0].relative_to(base_of[key])
            target = out_path / relative / f"{key[1]}.fits"
        jobs.append((sorted(set(files)), target))
    return jobs


def main(args: argparse.Namespace) -> int:
    if len(args.inputs) < 2:
        raise ConfigError("give at least one input and the output: IN [IN ...] OUT")
    *inputs, out = args.inputs
    if args.class_name is not None:
        safe_name(args.class_name, "--class-name", error=ConfigError)
    fields = [f.strip() for f in args.fields.split(",")] if args.fields else None
    if args.yt:
        from crturb_keras.io.yt_reader import read_yt

        fields = fields or ["rho"]
        jobs = plan_yt(inputs, out)

        def read(files: list[Path]):
            return read_yt(files[0], fields, level=args.level, units=args.units)
    else:
        jobs = plan(inputs, out)
        read = read_athdf
    done = skipped = 0
    partial: list[str] = []
    for files, target in tqdm(jobs, desc="convert", unit="file", file=sys.stderr):
        if target.exists() and not args.overwrite:
            skipped += 1
            continue
        snapshot = read(files)
        wanted = fields
        if fields is not None:
            wanted = [f for f in fields if f in snapshot]
            if not wanted:
                raise ConfigError(f"{files[0]}: none of the fields {', '.join(fields)}; it holds "
                                  f"{', '.join(snapshot.names)}")
            if len(wanted) < len(fields):
                partial.append(f"{files[0]}: lacks {', '.join(set(fields) - set(wanted))}")
        write_fits_cube(snapshot, target, fields=wanted, class_name=args.class_name,
                        overwrite=args.overwrite)
        done += 1
    for line in partial:
        print(f"note: {line} (written without it)", file=sys.stderr)
    print(f"{done} FITS file(s) written, {skipped} kept (exist; --overwrite to redo), under {out}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
