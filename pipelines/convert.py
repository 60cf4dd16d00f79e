"""Convert Athena++ ``.athdf`` outputs (or any yt dataset) to FITS cubes (one ImageHDU per field).

    python -m pipelines.convert IN.athdf OUT.fits [--fields rho,Ec]
    python -m pipelines.convert data/surrogate data/fits          # every .athdf below a folder
    python -m pipelines.convert --yt [--level 1] [--units cgs] amr.out1.00010.athdf OUT.fits

With ``--yt`` each input is one dataset yt opens (refined Athena++ meshes, FLASH, Enzo, RAMSES,
...), read on a uniform grid at ``--level`` (default the finest); ``--fields`` then defaults to
``rho``, and ``--units cgs`` labels the cube in physical units.

Outputs of one cycle written by several output blocks are merged into one cube
(``crturb_keras.io.conversion``). Existing FITS files are kept (a re-run resumes) unless
``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from crturb_keras.errors import ConfigError
from crturb_keras.io.athena import read_athdf
from crturb_keras.io.conversion import convert, plan_athdf, plan_yt

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


def main(args: argparse.Namespace) -> int:
    if len(args.inputs) < 2:
        raise ConfigError("give at least one input and the output: IN [IN ...] OUT")
    *inputs, out = args.inputs
    fields = [f.strip() for f in args.fields.split(",")] if args.fields else None
    read = read_athdf
    if args.yt:
        from crturb_keras.io.yt_reader import read_yt

        fields = fields or ["rho"]

        def read(files):
            return read_yt(files[0], fields, level=args.level, units=args.units)
    jobs = plan_yt(inputs, out) if args.yt else plan_athdf(inputs, out)
    done = convert(jobs, read, fields, args.class_name, args.overwrite, progress=True)
    for line in done.partial:
        print(f"note: {line} (written without it)", file=sys.stderr)
    print(f"{done.written} FITS file(s) written, {done.kept} kept (exist; --overwrite to redo), "
          f"under {out}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
