"""Apply a trained run to a 2-D FITS map of any size.

    python -m pipelines.predict runs/classify map.fits [--out prediction]
    python -m pipelines.predict runs/unet map.fits --out predicted_Ec.fits

Classifier: prints class probabilities for the whole map (mean over tiles) and per tile, writes
OUT.png and OUT.json. U-net: writes the predicted target maps as a FITS file (one HDU per target)
with the input's header, WCS included, and a PNG of the map and the fields. Figures are in sky
coordinates (astropy WCSAxes) when the map has a celestial WCS. NaN pixels are blank: tiles mostly blank are skipped.
Nothing is written unless every output is finite; tiny, constant or mostly blank maps warn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ._cli import run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", metavar="RUN", help="training run directory")
    parser.add_argument("input", metavar="INPUT.fits", help="2-D density map")
    parser.add_argument("--out", default=None, help="output stem or .fits file (default: next "
                                                    "to INPUT, suffix _prediction)")
    parser.add_argument("--hdu", default=None, help="HDU index or EXTNAME (default: first image)")
    parser.add_argument("--stride", type=int, default=None, help="tile stride (default: tile/2)")
    parser.add_argument("--rescale", choices=("mean", "none"), default="mean",
                        help="divide the map by its mean first (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    return parser


def main(args: argparse.Namespace) -> int:
    from crturb_keras.domain import beam_note
    from crturb_keras.io.fits import read_fits_map
    from crturb_keras.runs.predict import (
        predict_map,
        trained_smoothing,
        write_prediction,
    )
    from crturb_keras.runs.record import read_record

    hdu = int(args.hdu) if args.hdu and args.hdu.isdigit() else args.hdu
    image = read_fits_map(args.input, hdu=hdu)
    result = predict_map(args.run_dir, image.data, stride=args.stride, rescale=args.rescale,
                         source=str(args.input))
    stem = Path(args.out) if args.out else Path(args.input).with_name(
        Path(args.input).stem + "_prediction")
    print(f"{args.input}: {image.data.shape[0]}x{image.data.shape[1]} px, "
          f"{len(result.positions)} tile(s) of {result.tile} px scored, "
          f"{result.skipped_tiles} skipped as blank, {result.blank_fraction:.1%} blank pixels")
    note = beam_note(image.header, trained_smoothing(read_record(args.run_dir)), str(args.input))
    if note:
        print(note)
    if result.task == "classify":
        order = result.map_probabilities.argsort()[::-1]
        print("whole map (mean ± spread over tiles): " + ", ".join(
            f"{result.class_names[i]} {result.map_probabilities[i]:.3f} ± "
            f"{result.map_spread[i]:.3f}" for i in order))
        print(f"  {result.agreement:.0%} of the tiles agree on {result.class_names[order[0]]}")
        for (row, col), p in zip(result.positions, result.probabilities):
            print(f"  tile at ({row:4d}, {col:4d}): {result.class_names[p.argmax()]:<18} "
                  f"{p.max():.3f}")
    written = write_prediction(result, image.data, image.header, stem, str(args.input),
                               args.run_dir, overwrite=args.overwrite)
    targets = f" ({', '.join(result.target_names)})" if result.task != "classify" else ""
    print(f"written: {', '.join(str(p) for p in written)}{targets}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
