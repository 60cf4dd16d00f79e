"""Buffered train/val/test regions along one physical axis of a periodic cube.

Neighbouring slices of a turbulence box are strongly correlated, so splitting tiles at random
leaks structure from training into evaluation (Bustard & Wu 2024 saw validation accuracy of
93-100 % with random splits and 27-100 % per class with buffered ones). Here each split owns one
contiguous range of cells along the axis normal to the images, and consecutive ranges are
separated by buffers of at least ``buffer`` cells -- also across the periodic wrap from the last
range back to the first, because the box is periodic.

Layout along the axis (``length`` cells, regions in the order train, val, test)::

    [ train | buffer | val | buffer | test | buffer ] -> wraps to train
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import SplitError
from ..snapshot import axis_index

SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class Region:
    """Cells ``start <= i < stop`` along the split axis that belong to one split."""

    split: str
    start: int
    stop: int

    @property
    def size(self) -> int:
        """Number of cells."""
        return self.stop - self.start

    def indices(self) -> np.ndarray:
        """Cell indices of the region."""
        return np.arange(self.start, self.stop)


@dataclass(frozen=True)
class SplitLayout:
    """Regions of one cube axis and the buffer width they were laid out with."""

    length: int
    buffer: int
    regions: tuple[Region, ...]

    def region(self, split: str) -> Region | None:
        """The region of ``split``, or None if that split has no cells."""
        return next((r for r in self.regions if r.split == split), None)

    def gaps(self) -> list[tuple[str, str, int]]:
        """``(split before, split after, cells between)`` for each pair, wrap-around included."""
        ordered = sorted(self.regions, key=lambda r: r.start)
        out = []
        for a, b in zip(ordered, ordered[1:] + ordered[:1]):
            if a is b:
                continue
            out.append((a.split, b.split, (b.start - a.stop) % self.length))
        return out

    def to_dict(self) -> dict:
        """Plain-JSON form (for the manifest)."""
        return {"length": self.length, "buffer": self.buffer,
                "regions": [asdict(r) for r in self.regions], "gaps": self.gaps()}

    @classmethod
    def from_dict(cls, data: Mapping) -> "SplitLayout":
        """Inverse of :meth:`to_dict`."""
        return cls(int(data["length"]), int(data["buffer"]),
                   tuple(Region(**r) for r in data["regions"]))


def split_regions(
    length: int,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    buffer: int = 8,
    min_size: int = 1,
) -> SplitLayout:
    """Lay out train/val/test regions with buffers on a periodic axis of ``length`` cells.

    Parameters
    ----------
    length : int
        Cells along the split axis.
    fractions : (train, val, test)
        Shares of the cells left after the buffers; must sum to 1. A zero share omits that split.
    buffer : int
        Cells between consecutive regions, including the periodic wrap.
    min_size : int
        Smallest acceptable region (e.g. the projection depth).

    Raises
    ------
    SplitError
        If the fractions are invalid or the regions do not fit with the buffers, with the numbers.
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != len(SPLITS) or any(f < 0 for f in fractions) \
            or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise SplitError(f"fractions must be three non-negative shares (train, val, test) "
                         f"summing to 1, got {fractions}")
    if buffer < 0:
        raise SplitError(f"buffer must be >= 0 cells, got {buffer}")
    active = [(s, f) for s, f in zip(SPLITS, fractions) if f > 0]
    usable = length - (buffer * len(active) if len(active) > 1 else 0)
    sizes = {s: int(math.floor(f * usable)) for s, f in active}
    if usable > 0:
        sizes[active[0][0]] += usable - sum(sizes.values())
    small = {s: n for s, n in sizes.items() if n < min_size}
    if usable <= 0 or small:
        raise SplitError(
            f"cannot fit {len(active)} region(s) of at least {min_size} cell(s) with buffers of "
            f"{buffer} cells into {length} cells: {max(usable, 0)} cells remain after the "
            f"buffers, giving {sizes}; lower the buffer, change the fractions, or use a larger cube"
        )
    regions = []
    start = 0
    for split, _ in active:
        regions.append(Region(split, start, start + sizes[split]))
        start += sizes[split] + buffer
    layout = SplitLayout(length, buffer, tuple(regions))
    check_layout(layout, buffer)
    return layout


def check_layout(layout: SplitLayout, buffer: int) -> None:
    """Raise SplitError unless regions are inside the axis, disjoint, and ``>= buffer`` apart."""
    for r in layout.regions:
        if not 0 <= r.start < r.stop <= layout.length:
            raise SplitError(f"region {r.split} [{r.start}, {r.stop}) is empty or outside "
                             f"[0, {layout.length})")
    ordered = sorted(layout.regions, key=lambda r: r.start)
    for a, b in zip(ordered, ordered[1:]):
        if b.start < a.stop:
            raise SplitError(f"regions {a.split} [{a.start}, {a.stop}) and {b.split} "
                             f"[{b.start}, {b.stop}) overlap")
    for before, after, gap in layout.gaps():
        if gap < buffer:
            raise SplitError(f"buffer between {before} and {after} is {gap} cells, narrower than "
                             f"the {buffer} asked for (periodic wrap included)")


def autocorrelation_length(cube: np.ndarray, axis: str, threshold: float = math.exp(-1)) -> float:
    """Lag (cells) at which the autocorrelation of ``cube`` along ``axis`` first drops below 1/e.

    Computed with FFTs along the axis (periodic), averaged over the other two axes, and linearly
    interpolated between lags. Use it on ``log(rho)`` to choose a split buffer.
    """
    ax = axis_index(axis)
    data = np.moveaxis(np.asarray(cube, dtype=np.float64), ax, -1)
    data = data - data.mean()
    n = data.shape[-1]
    spectrum = np.fft.rfft(data, axis=-1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, n=n, axis=-1).reshape(-1, n).sum(axis=0)
    if acf[0] <= 0:
        return 0.0
    acf /= acf[0]
    below = np.nonzero(acf[: n // 2 + 1] < threshold)[0]
    if len(below) == 0:
        return float(n // 2)
    lag = int(below[0])
    return float(lag - 1 + (acf[lag - 1] - threshold) / (acf[lag - 1] - acf[lag]))


def realization_layouts(
    keys: Sequence[tuple[str, str]],
    lengths: Sequence[int],
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    fold: int = 0,
) -> list[SplitLayout]:
    """Give each independent realization (simulation run) of a class wholly to one split.

    Boxes driven at large scales are only a few correlation lengths across, so buffered
    regions along one axis leave almost nothing; independent runs (different driving seeds)
    share no structure, so splitting by run needs no buffer at all.

    Parameters
    ----------
    keys : sequence of (class, realization)
        Per source: its class and the realization it belongs to (e.g. its run folder).
    lengths : sequence of int
        Per source: cells along the split axis (the single region spans all of them).
    fractions : (train, val, test)
        Shares of each class's realizations (sorted by name: first train, then val, then
        test); a non-zero share gets at least one realization.
    fold : int
        Rotate each class's sorted realizations by ``fold`` first (cross-validation over runs:
        folds ``0 .. n - 1`` give every realization of a class of ``n`` to test once).

    Raises
    ------
    SplitError
        If a class has too few realizations for every non-empty split to get one.
    """
    fractions = tuple(float(f) for f in fractions)
    by_class: dict[str, list[str]] = {}
    for name, realization in keys:
        by_class.setdefault(name, [])
        if realization not in by_class[name]:
            by_class[name].append(realization)
    assignment: dict[tuple[str, str], str] = {}
    for name, realizations in by_class.items():
        realizations.sort()
        total = len(realizations)
        shift = fold % total
        realizations[:] = realizations[shift:] + realizations[:shift]
        counts = [max(1, round(total * f)) if f > 0 else 0 for f in fractions[1:]]
        train = total - sum(counts)
        if train < (1 if fractions[0] > 0 else 0) or (fractions[0] == 0 and train > 0):
            raise SplitError(f"class {name} has {total} realization(s) ({', '.join(realizations)});"
                             f" splitting by realization with fractions {fractions} needs at "
                             f"least {sum(counts) + 1}: simulate more seeds (--seeds)")
        order = ["train"] * train + ["val"] * counts[0] + ["test"] * counts[1]
        assignment.update({(name, r): split for r, split in zip(realizations, order)})
    return [SplitLayout(int(length), 0, (Region(assignment[key], 0, int(length)),))
            for key, length in zip(keys, lengths)]
