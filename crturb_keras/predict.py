"""Apply a trained run to a 2-D map of any size (e.g. an observed column-density image).

The map is covered by model-sized tiles with a stride (overlapping where the size is not a
multiple; maps smaller than a tile are reflect-padded). Blanked pixels (NaN, e.g. survey edges)
are handled explicitly: a tile with more than ``max_blank`` of its pixels blank is skipped;
otherwise its blank pixels are filled with the median of the map's valid pixels for the network,
and for the U-net the output is NaN again wherever the input was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .errors import DataFormatError
from .export import build_serving_model
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
    fields : ndarray of shape (H, W, T) or None
        Predicted target maps in physical units (U-net), overlaps averaged, NaN where blank.
    class_names, target_names : list of str
    blank_fraction : float
        Fraction of input pixels that were blank.
    skipped_tiles : int
        Tiles left out for being mostly blank.
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


def _starts(size: int, tile: int, stride: int) -> list[int]:
    starts = list(range(0, max(size - tile, 0) + 1, stride))
    if starts[-1] != max(size - tile, 0):
        starts.append(size - tile)
    return starts


def predict_map(run_dir: str | os.PathLike, image: np.ndarray, stride: int | None = None,
                rescale: str = "mean", max_blank: float = 0.5) -> MapPrediction:
    """Classify a map tile by tile, or predict its target fields with the U-net.

    Parameters
    ----------
    run_dir : path
        A training run directory.
    image : ndarray of shape (H, W)
        Density map, positive where valid, NaN where blank.
    stride : int, optional
        Tile stride in pixels; default half a tile.
    rescale : {"mean", "none"}
        ``mean`` divides the map by its mean valid value first, matching the surrogate's units
        (mean density 1); ``none`` takes the values as code units.
    max_blank : float
        Largest blank fraction of a tile that is still scored.
    """
    record, model = load_run(run_dir)
    serving = build_serving_model(record, model)
    tile = int(model.input_shape[1])
    data = np.array(image, dtype=np.float64)
    if data.ndim != 2:
        raise DataFormatError(f"predict_map needs a 2-D map (H, W), got shape {data.shape}")
    blank = ~np.isfinite(data)
    valid = data[~blank]
    if valid.size == 0 or np.any(valid <= 0):
        raise DataFormatError("the map must hold positive density values (NaN marks blank "
                              f"pixels); found {int(np.sum(valid <= 0))} value(s) <= 0")
    if rescale == "mean":
        data = data / valid.mean()
    filled = np.where(blank, np.median(data[~blank]), data)
    pad_rows, pad_cols = max(tile - data.shape[0], 0), max(tile - data.shape[1], 0)
    if pad_rows or pad_cols:
        filled = np.pad(filled, ((0, pad_rows), (0, pad_cols)), mode="reflect")
        blank = np.pad(blank, ((0, pad_rows), (0, pad_cols)), mode="reflect")
    step = stride or max(tile // 2, 1)
    corners = [(r, c) for r in _starts(filled.shape[0], tile, step)
               for c in _starts(filled.shape[1], tile, step)]
    keep = [(r, c) for r, c in corners if blank[r:r + tile, c:c + tile].mean() <= max_blank]
    if not keep:
        raise DataFormatError(f"every tile is more than {max_blank:.0%} blank; nothing to score")
    batch = np.stack([filled[r:r + tile, c:c + tile] for r, c in keep])[..., None].astype("float32")
    outputs = serving.predict(batch, batch_size=64, verbose=0)
    names = list(record["data"]["classes"])
    targets = list(record["data"]["targets"])
    common = dict(positions=np.array(keep), tile=tile, class_names=names, target_names=targets,
                  blank_fraction=float(np.mean(~np.isfinite(np.asarray(image, float)))),
                  skipped_tiles=len(corners) - len(keep))
    if record["config"]["task"] == "classify":
        return MapPrediction(task="classify", probabilities=outputs,
                             map_probabilities=outputs.mean(axis=0), fields=None, **common)
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
