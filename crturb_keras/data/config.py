"""How images are cut, transformed and stored: the settings of ``prepare`` (also its CLI flags)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from ..checks import check_finite
from ..errors import ConfigError, DataFormatError
from . import transforms

KINDS = ("slice", "projection")
AXES = ("x1", "x2", "x3")


@dataclass(frozen=True)
class PrepareConfig:
    """How images are cut, transformed and stored (every field is a ``pipelines.prepare`` flag).

    Attributes
    ----------
    axis : {"x1", "x2", "x3", "all"}
        Images are normal to this axis, and the splits are regions along it. ``x1`` (the mean
        field) gives the published slices; only then are 90-degree rotations valid augmentations.
        ``all``: images normal to x1, x2 and x3 of every cube (three times the tiles; x2 and x3
        images contain the mean field and its anisotropy); needs ``split_by realization`` and
        cubic boxes.
    fractions : (train, val, test)
        Shares of the cells left after buffers.
    buffer : str
        Buffer between regions in cells, or ``"auto"``: the largest density autocorrelation length
        (1/e) along ``axis`` over all sources, rounded up.
    split_by : {"region", "realization"}
        ``region``: buffered regions along ``axis`` of every cube. ``realization``: whole runs
        (the folder holding a source's files) go to one split each, per class, by ``fractions``
        (no buffer needed: independent runs share no structure); needs at least three runs per
        class (``pipelines.simulate --seeds 3``).
    fold : int
        With ``split_by realization``: rotate each class's runs (sorted by folder) by ``fold``
        before giving them to train, val and test, so that folds ``0 .. n_runs - 1`` put every
        run in the test split once (cross-validation over runs: on small data which run lands
        in test moves the accuracy more than the training seed does). 0 keeps the sorted order.
    kinds : tuple of {"slice", "projection"}
        Image kinds to prepare.
    depth : int
        Cells averaged by a projection (projections never straddle a region boundary).
    projection_mode : {"column", "seed"}
        ``column``: mean of the field (column density / depth), then transforms; ``seed``: mean of
        log10, per-cube min-max normalised slices (the published notebooks).
    tile, stride : int
        Tile size and stride in pixels (``stride=0``: equal to ``tile``).
    slice_step : int
        Take every ``slice_step``-th slice of a region.
    field : str
        Input field (stored or derived name).
    targets : tuple of str
        Paired fields for the map task (e.g. ``Ec``, ``magnetic_energy_density``); classes that lack
        them still feed the classification task.
    log : bool
        Take ``log10`` of the input and targets (before normalisation).
    normalize : {"none", "minmax", "standardize", "equalize"}
        See :mod:`crturb_keras.data.transforms`; ``standardize`` uses training statistics only.
    flatten_spectrum : bool
        Flatten the power spectrum of whole slices before tiling (phases kept).
    smooth_sigma : float
        Gaussian blur of whole slices in pixels (periodic) before tiling; 0 = none.
    train_rolls : int
        Extra periodically rolled copies of each training image (random shifts, seeded).
    dtype : {"float16", "float32"}
        Storage precision of images and targets (the manifest states the rounding error).
    shard_size : int
        Tiles per shard file.
    seed : int
        Seeds the tile order of training shards and the rolls (>= 0).
    """

    axis: str = "x1"
    fractions: tuple[float, ...] = (0.7, 0.15, 0.15)
    buffer: str = "auto"
    kinds: tuple[str, ...] = ("slice",)
    depth: int = 8
    projection_mode: str = "column"
    tile: int = 64
    stride: int = 0
    slice_step: int = 1
    field: str = "rho"
    targets: tuple[str, ...] = ()
    log: bool = True
    normalize: str = "standardize"
    flatten_spectrum: bool = False
    smooth_sigma: float = 0.0
    train_rolls: int = 0
    dtype: str = "float16"
    shard_size: int = 2048
    seed: int = 0
    split_by: str = "region"
    fold: int = 0

    def __post_init__(self) -> None:
        check_finite(self, "prepare")
        problems = []
        if self.axis not in AXES + ("all",):
            problems.append(f"axis must be x1, x2, x3 or all, got {self.axis!r}")
        elif self.axis == "all" and self.split_by != "realization":
            problems.append("axis all needs split_by realization (images normal to the other "
                            "axes would cross every buffered region along one axis)")
        if not self.kinds or set(self.kinds) - set(KINDS):
            problems.append(f"kinds must be a non-empty subset of {KINDS}, got {self.kinds}")
        if str(self.buffer) != "auto" and not str(self.buffer).isdigit():
            problems.append(f"buffer must be a number of cells or 'auto', got {self.buffer!r}")
        if self.split_by not in ("region", "realization"):
            problems.append(f"split_by must be region or realization, got {self.split_by!r}")
        if self.fold < 0 or (self.fold and self.split_by != "realization"):
            problems.append(f"fold must be >= 0 and needs split_by realization (it rotates the "
                            f"runs among the splits), got fold {self.fold} with split_by "
                            f"{self.split_by!r}")
        if self.projection_mode not in ("column", "seed"):
            problems.append(f"projection_mode must be column or seed, got {self.projection_mode!r}")
        if self.normalize not in transforms.NORMALIZATIONS:
            problems.append(f"normalize must be one of {transforms.NORMALIZATIONS}, "
                            f"got {self.normalize!r}")
        if self.dtype not in ("float16", "float32"):
            problems.append(f"dtype must be float16 or float32, got {self.dtype!r}")
        for name in ("depth", "tile", "slice_step", "shard_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        for name in ("stride", "train_rolls", "smooth_sigma", "seed"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        if self.field in self.targets:
            problems.append(f"field {self.field!r} cannot also be a target")
        if problems:
            raise ConfigError("invalid prepare configuration: " + "; ".join(problems))

    @property
    def tile_stride(self) -> int:
        return self.stride or self.tile

    @property
    def image_axes(self) -> tuple[str, ...]:
        """The axes images are cut normal to: ``("x1", "x2", "x3")`` for ``axis="all"``."""
        return AXES if self.axis == "all" else (self.axis,)

    def to_dict(self) -> dict:
        """Plain-JSON form (tuples as lists), stored in the manifest."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, values: dict) -> "PrepareConfig":
        """The configuration a manifest stores (lists back to tuples; unknown keys refused)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise DataFormatError(f"prepare configuration with unknown settings {unknown}; it was "
                                  f"written by another version: prepare again")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
