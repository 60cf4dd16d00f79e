"""Apply a trained run to a 2-D map of any size (e.g. an observed column-density image).

The map is covered by model-sized tiles with a stride (overlapping where the size is not a
multiple; maps smaller than a tile are reflect-padded). Blanked pixels (NaN, e.g. survey edges)
are handled explicitly: a tile with more than ``max_blank`` of its pixels blank is skipped;
otherwise its blank pixels are filled with the median of the map's valid pixels for the network,
and for the U-net the output is NaN again wherever the input was.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..checks import check_memory
from ..data import load_manifest
from ..domain import SAMPLE, outside_training, tile_statistics
from ..errors import ConfigError, CrturbError, DataFormatError
from ..models.inference import predict_batches
from .export import build_serving_model
from .record import RunRecord
from .training import load_run


@dataclass(frozen=True)
class MapPrediction:
    """Result of :func:`predict_map`.

    Attributes
    ----------
    task : {"classify", "map"}
    positions : ndarray of shape (t, 2)
        ``(row, col)`` of each scored tile in the input map.
    tile : int
    probabilities : ndarray of shape (t, n_classes) or None
        Class probabilities per tile (classifier).
    map_probabilities : ndarray of shape (n_classes,) or None
        Mean of tile probabilities: the whole map's class probabilities.
    map_spread : ndarray of shape (n_classes,) or None
        Standard deviation of the tile probabilities over tiles: how much the verdict varies
        across the map (overlapping tiles are correlated, so this is a spread, not an error of
        the mean).
    agreement : float or None
        Fraction of tiles whose most likely class is the whole map's.
    fields : ndarray of shape (H, W, T) or None
        Predicted target maps in physical units (U-net), overlaps averaged, NaN where blank.
    class_names, target_names : list of str
    blank_fraction : float
        Fraction of input pixels that were blank.
    skipped_tiles : int
        Tiles left out for being mostly blank.
    outside_training : list of str
        Why the map does not look like the training data (empty when it does; see
        :mod:`crturb_keras.domain`); each is also issued as a warning.
    """

    task: str
    positions: np.ndarray
    tile: int
    probabilities: np.ndarray | None
    map_probabilities: np.ndarray | None
    fields: np.ndarray | None
    class_names: list[str]
    target_names: list[str]
    blank_fraction: float
    skipped_tiles: int
    outside_training: list[str] = field(default_factory=list)
    map_spread: np.ndarray | None = None
    agreement: float | None = None


def _starts(size: int, tile: int, stride: int) -> list[int]:
    starts = list(range(0, max(size - tile, 0) + 1, stride))
    if starts[-1] != max(size - tile, 0):
        starts.append(size - tile)
    return starts


def _warn_if_unfit(source: str, shape: tuple[int, ...], tile: int, valid: np.ndarray,
                   blank_fraction: float) -> None:
    """Warn about maps that can be scored but not trusted: tiny, constant or mostly blank."""
    problems = []
    if min(shape) < tile:
        problems.append(f"the {shape[0]}x{shape[1]} map is smaller than the model's {tile}-px "
                        f"tiles, so it is reflect-padded")
    if valid.std() <= 1e-6 * abs(valid.mean()):
        problems.append("the map is constant, so it carries no structure to score")
    if blank_fraction > 0.5:
        problems.append(f"{blank_fraction:.0%} of the map is blank (NaN)")
    if problems:
        warnings.warn(f"{source}: {'; '.join(problems)}; treat the scores with caution",
                      UserWarning, stacklevel=3)


def trained_smoothing(record: RunRecord) -> float | None:
    """``smooth_sigma`` (pixels) of the data a run was trained on, or None if its prepared data
    is gone or unreadable."""
    try:
        return float(load_manifest(record.data_path).config.smooth_sigma)
    except CrturbError:
        return None


def _domain_check(record: RunRecord, batch: np.ndarray, source: str) -> list[str]:
    """Compare the map's tiles, normalised as in training, with the run's training tiles (runs
    recorded before this check have no reference and are not compared)."""
    reference = record.reference_statistics
    if not reference:
        return []
    norm = record.normalization
    # at most SAMPLE tiles, evenly spaced: the medians need no more, and a large map at half-tile
    # stride has millions
    batch = batch[np.unique(np.linspace(0, len(batch) - 1, min(len(batch), SAMPLE)).astype(int))]
    x = np.log10(batch.astype(np.float64)) if norm.log10 else batch.astype(np.float64)
    if norm.method == "standardize":
        x = (x - norm.mean) / norm.std
    messages = outside_training(tile_statistics(x), reference, source)
    for message in messages:
        warnings.warn(message, stacklevel=3)
    return messages


def predict_map(run_dir: str | os.PathLike, image: np.ndarray, stride: int | None = None,
                rescale: str = "mean", max_blank: float = 0.5,
                source: str = "the map") -> MapPrediction:
    """Classify a map tile by tile, or predict its target fields with the U-net.

    Parameters
    ----------
    run_dir : path
        A training run directory.
    image : ndarray of shape (H, W)
        Density map, positive where valid, NaN where blank.
    stride : int, optional
        Tile stride in pixels; default (or 0) half a tile.
    rescale : {"mean", "none"}
        ``mean`` divides the map by its mean valid value first, matching the surrogate's units
        (mean density 1); ``none`` takes the values as code units.
    max_blank : float
        Largest blank fraction of a tile that is still scored.
    source : str
        Where the map came from (its file), named in every message.

    Warns
    -----
    UserWarning
        For a map smaller than a tile (it is padded), a constant map, one mostly blank, or one
        whose tile statistics lie outside the training tiles' (see ``outside_training``).

    Raises
    ------
    ConfigError
        For a negative ``stride``.
    CrturbError
        If the map will not fit in memory.
    DataFormatError
        For a map that is not 2-D, has no positive values, or is blank everywhere, and for
        non-finite model outputs.
    """
    if stride is not None and stride < 0:
        raise ConfigError(f"{source}: --stride must be >= 0 (0: half a tile), got {stride}")
    if np.ndim(image) != 2:
        raise DataFormatError(f"{source}: predict_map needs a 2-D map (H, W), got shape "
                              f"{np.shape(image)}")
    record, model = load_run(run_dir)
    serving = build_serving_model(record, model)
    tile = int(model.input_shape[1])
    step = stride or max(tile // 2, 1)
    rows, cols = np.shape(image)
    # float64 copies of the map, its tiles (stacked as float64, batched as float32) and, for the
    # U-net, the summed outputs and their weights
    per_pixel = 40 + 12 * (tile / step) ** 2 + 8 * (len(record.targets) + 2)
    check_memory(int(max(rows, tile) * max(cols, tile) * per_pixel), source,
                 f"scoring a {rows}x{cols} map in {tile}-px tiles at stride {step}")
    data = np.array(image, dtype=np.float64)
    blank = ~np.isfinite(data)
    valid = data[~blank]
    if valid.size == 0 or np.any(valid <= 0):
        found = "every pixel is blank" if valid.size == 0 else \
            f"found {int(np.sum(valid <= 0))} value(s) <= 0"
        raise DataFormatError(f"{source}: the map must hold positive density values (NaN marks "
                              f"blank pixels); {found}")
    _warn_if_unfit(source, data.shape, tile, valid, blank.mean())
    if rescale == "mean":
        data = data / valid.mean()
    filled = np.where(blank, np.median(data[~blank]), data)
    pad_rows, pad_cols = max(tile - data.shape[0], 0), max(tile - data.shape[1], 0)
    if pad_rows or pad_cols:
        filled = np.pad(filled, ((0, pad_rows), (0, pad_cols)), mode="reflect")
        blank = np.pad(blank, ((0, pad_rows), (0, pad_cols)), mode="reflect")
    corners = [(r, c) for r in _starts(filled.shape[0], tile, step)
               for c in _starts(filled.shape[1], tile, step)]
    keep = [(r, c) for r, c in corners if blank[r:r + tile, c:c + tile].mean() <= max_blank]
    if not keep:
        raise DataFormatError(f"{source}: every tile is more than {max_blank:.0%} blank; "
                              f"nothing to score")
    batch = np.stack([filled[r:r + tile, c:c + tile] for r, c in keep])[..., None].astype("float32")
    outputs = predict_batches(serving, np.log10(batch) if record.normalization.log10 else batch, 64)
    bad = int(np.sum(~np.isfinite(outputs).reshape(len(outputs), -1).all(axis=1)))
    if bad:
        raise DataFormatError(f"{source}: the model of {run_dir} gave NaN or infinite outputs for "
                              f"{bad} of {len(outputs)} tiles; its record or weights are damaged "
                              f"(train again), or the map is far outside the training data")
    names = record.class_names
    targets = list(record.targets)
    common = dict(positions=np.array(keep), tile=tile, class_names=names, target_names=targets,
                  blank_fraction=float(np.mean(~np.isfinite(np.asarray(image, float)))),
                  skipped_tiles=len(corners) - len(keep),
                  outside_training=_domain_check(record, batch, source))
    if record.task == "classify":
        mean = outputs.mean(axis=0)
        return MapPrediction(task="classify", probabilities=outputs, map_probabilities=mean,
                             map_spread=outputs.std(axis=0), fields=None,
                             agreement=float(np.mean(outputs.argmax(axis=1) == mean.argmax())),
                             **common)
    total = np.zeros(filled.shape + (outputs.shape[-1],))
    weight = np.zeros(filled.shape + (1,))
    for (r, c), out in zip(keep, outputs):
        total[r:r + tile, c:c + tile] += out
        weight[r:r + tile, c:c + tile] += 1
    fields = np.divide(total, weight, out=np.full_like(total, np.nan), where=weight > 0)
    fields[blank] = np.nan
    fields = fields[:image.shape[0], :image.shape[1]]
    return MapPrediction(task="map", probabilities=None, map_probabilities=None,
                         fields=fields.astype(np.float32), **common)


def write_prediction(result: MapPrediction, image: np.ndarray, header, stem: str | os.PathLike,
                     source: str, run_dir: str | os.PathLike, overwrite: bool = False
                     ) -> list[Path]:
    """Write a prediction beside its map; return the files written.

    A classification gives ``STEM.json`` (per-tile and whole-map probabilities, the spread of
    the tiles' probabilities and their agreement) and ``STEM.png``
    (the map with its tiles coloured by class); a U-net prediction gives ``STEM.fits`` with one
    image extension per target field, carrying the input map's header (its WCS included), and
    ``STEM.png`` (the map and the fields). Figures are on the sky (WCSAxes) when the header has a
    celestial WCS. Every
    output is checked before anything is written (no NaN in JSON), and each file is written under
    a temporary name and renamed.

    Raises
    ------
    ConfigError
        If an output exists and ``overwrite`` is not set.
    """
    from ..io.atomic import atomic_path
    from ..io.fits import write_fits_fields
    from ..plots import plot_map_prediction, plot_predicted_fields

    stem = Path(stem)
    if result.task == "classify":
        outputs = [stem.with_suffix(".json"), stem.with_suffix(".png")]
        if any(p.exists() for p in outputs) and not overwrite:
            raise ConfigError(f"{outputs[0]} exists; pass --overwrite or another --out")
        summary = {"input": source, "tile": result.tile, "classes": result.class_names,
                   "map_probabilities": result.map_probabilities.tolist(),
                   "map_spread": result.map_spread.tolist(), "agreement": result.agreement,
                   "tiles": [{"row": int(r), "col": int(c), "probabilities": p.tolist()}
                             for (r, c), p in zip(result.positions, result.probabilities)]}
        text = json.dumps(summary, indent=1, allow_nan=False)  # never write invalid JSON
        plot_map_prediction(image, result.positions, result.tile, result.probabilities,
                            result.class_names, outputs[1], header)
        with atomic_path(outputs[0]) as tmp:
            tmp.write_text(text)
        return outputs
    target = stem if stem.suffix.lower() == ".fits" else stem.with_suffix(".fits")
    figure = target.with_suffix(".png")
    if (target.exists() or figure.exists()) and not overwrite:
        raise ConfigError(f"{target} exists; pass --overwrite or another --out")
    write_fits_fields({name: result.fields[..., t] for t, name in enumerate(result.target_names)},
                      target, header, f"predicted by crturb-keras run {run_dir}", overwrite=True)
    plot_predicted_fields(image, result.fields, result.target_names, figure, header)
    return [target, figure]
