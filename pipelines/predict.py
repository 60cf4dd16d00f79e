"""Apply a trained run to a 2-D FITS map of any size.

    python -m pipelines.predict runs/classify map.fits [--out prediction]
    python -m pipelines.predict runs/unet map.fits --out predicted_Ec.fits

Classifier: prints class probabilities for the whole map (mean over tiles) and per tile, writes
OUT.png and OUT.json. U-net: writes the predicted target maps as a FITS file (one HDU per target)
with the input's header, WCS included. NaN pixels are blank: tiles mostly blank are skipped.
Nothing is written unless every output is finite; tiny, constant or mostly blank maps warn.
"""

from __future__ import annotations

import argparse
import json
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
    from astropy.io import fits

    from crturb_keras.errors import ConfigError
    from crturb_keras.io.atomic import atomic_path
    from crturb_keras.io.fits import read_fits_map
    from crturb_keras.plots import plot_map_prediction
    from crturb_keras.predict import predict_map

    hdu = int(args.hdu) if args.hdu and args.hdu.isdigit() else args.hdu
    image = read_fits_map(args.input, hdu=hdu)
    result = predict_map(args.run_dir, image.data, stride=args.stride, rescale=args.rescale,
                         source=str(args.input))
    stem = Path(args.out) if args.out else Path(args.input).with_name(
        Path(args.input).stem + "_prediction")
    print(f"{args.input}: {image.data.shape[0]}x{image.data.shape[1]} px, "
          f"{len(result.positions)} tile(s) of {result.tile} px scored, "
          f"{result.skipped_tiles} skipped as blank, {result.blank_fraction:.1%} blank pixels")
    if result.task == "classify":
        outputs = [stem.with_suffix(".json"), stem.with_suffix(".png")]
        if any(p.exists() for p in outputs) and not args.overwrite:
            raise ConfigError(f"{outputs[0]} exists; pass --overwrite or another --out")
        order = result.map_probabilities.argsort()[::-1]
        print("whole map: " + ", ".join(f"{result.class_names[i]} {result.map_probabilities[i]:.3f}"
                                        for i in order))
        for (row, col), p in zip(result.positions, result.probabilities):
            print(f"  tile at ({row:4d}, {col:4d}): {result.class_names[p.argmax()]:<18} "
                  f"{p.max():.3f}")
        summary = {"input": str(args.input), "tile": result.tile,
                   "classes": result.class_names,
                   "map_probabilities": result.map_probabilities.tolist(),
                   "tiles": [{"row": int(r), "col": int(c), "probabilities": p.tolist()}
                             for (r, c), p in zip(result.positions, result.probabilities)]}
        text = json.dumps(summary, indent=1, allow_nan=False)  # never write invalid JSON
        plot_map_prediction(image.data, result.positions, result.tile, result.probabilities,
                            result.class_names, outputs[1])
        with atomic_path(outputs[0]) as tmp:
            tmp.write_text(text)
        print(f"written: {outputs[0]}, {outputs[1]}")
    else:
        target = stem if stem.suffix.lower() == ".fits" else stem.with_suffix(".fits")
        if target.exists() and not args.overwrite:
            raise ConfigError(f"{target} exists; pass --overwrite or another --out")
        header = image.header.copy()
        hdus = [fits.PrimaryHDU(header=header)]
        for t, name in enumerate(result.target_names):
            hdu_out = fits.ImageHDU(result.fields[..., t], header=header, name=name)
            hdu_out.header["FIELD"] = name
            hdu_out.header["COMMENT"] = f"predicted by crturb-keras run {args.run_dir}"
            hdus.append(hdu_out)
        with atomic_path(target) as tmp:
            fits.HDUList(hdus).writeto(tmp, output_verify="silentfix")
        print(f"written: {target} ({', '.join(result.target_names)})")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """Entry point (also used by the tests)."""
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
