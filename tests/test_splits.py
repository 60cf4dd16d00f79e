"""Buffered regions: disjoint, buffered across the periodic wrap, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from crturb_keras.data.splits import (
    Region, SplitLayout, autocorrelation_length, check_layout, realization_layouts, split_regions)
from crturb_keras.data import PrepareConfig
from crturb_keras.errors import ConfigError, SplitError


@pytest.mark.parametrize("length, buffer", [(64, 8), (128, 15), (33, 3), (16, 0)])
def test_regions_are_disjoint_and_buffered_across_the_wrap(length, buffer):
    layout = split_regions(length, (0.7, 0.15, 0.15), buffer)
    covered = np.zeros(length, dtype=int)
    for region in layout.regions:
        covered[region.start:region.stop] += 1
    assert covered.max() == 1
    assert [r.split for r in layout.regions] == ["train", "val", "test"]
    gaps = layout.gaps()
    assert len(gaps) == 3 and all(g >= buffer for _, _, g in gaps)
    assert gaps[-1][:2] == ("test", "train")  # the periodic wrap is a buffer too
    for a in layout.regions:
        for b in layout.regions:
            if a is not b:
                d = np.abs(a.indices()[:, None] - b.indices()[None, :])
                assert np.minimum(d, length - d).min() > buffer
    assert sum(r.size for r in layout.regions) == length - 3 * buffer
    assert SplitLayout.from_dict(layout.to_dict()) == layout


def test_fractions_are_respected_and_zero_share_omits_a_split():
    layout = split_regions(100, (0.5, 0.0, 0.5), buffer=10)
    assert [r.split for r in layout.regions] == ["train", "test"]
    assert [r.size for r in layout.regions] == [40, 40]
    assert layout.region("val") is None


def test_impossible_layouts_raise_with_numbers():
    with pytest.raises(SplitError, match=r"into 32 cells: 2 cells remain"):
        split_regions(32, (0.7, 0.15, 0.15), buffer=10)
    with pytest.raises(SplitError, match="at least 8 cell"):
        split_regions(64, (0.7, 0.15, 0.15), buffer=8, min_size=8)
    with pytest.raises(SplitError, match="summing to 1"):
        split_regions(64, (0.7, 0.2, 0.2), buffer=2)
    with pytest.raises(SplitError, match="buffer must be >= 0"):
        split_regions(64, buffer=-1)


def test_check_layout_catches_narrow_buffers_and_overlaps():
    narrow = SplitLayout(64, 4, (Region("train", 0, 40), Region("val", 44, 50),
                                  Region("test", 54, 62)))
    with pytest.raises(SplitError, match="between test and train is 2 cells, narrower than the 4"):
        check_layout(narrow, 4)
    overlap = SplitLayout(64, 0, (Region("train", 0, 40), Region("val", 30, 50)))
    with pytest.raises(SplitError, match="overlap"):
        check_layout(overlap, 0)


def test_autocorrelation_length_of_known_fields():
    rng = np.random.default_rng(0)
    white = rng.standard_normal((16, 16, 64))
    assert autocorrelation_length(white, "x1") < 1.0
    # Smoothing along x1 with a box of 9 cells: the correlation falls to 1/e near 9 (1 - 1/e) ~ 5.7.
    kernel = np.ones(9) / 9
    smooth = np.real(np.fft.ifft(np.fft.fft(white, axis=2) * np.fft.fft(kernel, 64)[None, None, :],
                                 axis=2))
    length = autocorrelation_length(smooth, "x1")
    assert 5.0 < length < 6.5
    assert autocorrelation_length(smooth, "x2") < 1.0


def test_realizations_go_whole_to_one_split_by_class():
    """Five runs of a class with shares (0.6, 0.2, 0.2) give 3 / 1 / 1 runs in name order; every
    snapshot of a run lands in the same split with one region spanning the axis; too few runs
    for a non-empty split is an error naming the fix."""
    keys = [("A", f"run{i}") for i in (4, 0, 3, 1, 2)] + [("A", "run0"), ("B", "x"),
                                                        ("B", "y"), ("B", "z")]
    layouts = realization_layouts(keys, [16] * len(keys), (0.6, 0.2, 0.2))
    split = {key: layout.regions[0].split for key, layout in zip(keys, layouts)}
    assert [split[("A", f"run{i}")] for i in range(5)] == ["train"] * 3 + ["val", "test"]
    assert [split[("B", r)] for r in "xyz"] == ["train", "val", "test"]
    assert all(len(l.regions) == 1 and (l.regions[0].start, l.regions[0].stop) == (0, 16)
               for l in layouts)
    with pytest.raises(SplitError, match="--seeds"):
        realization_layouts([("A", "a"), ("A", "b")], [16, 16])
    only_train = realization_layouts([("A", "a")], [8], (1.0, 0.0, 0.0))
    assert only_train[0].regions[0].split == "train"


def test_folds_rotate_every_run_through_the_test_split():
    """Folds 0, 1, 2 of three runs per class put each run in test exactly once (and in train
    once, val once); fold 3 is fold 0 again; a fold without split_by realization is refused."""
    keys = [(c, r) for c in "AB" for r in ("s0", "s1", "s2")]
    seen = {key: [] for key in keys}
    for fold in range(3):
        layouts = realization_layouts(keys, [16] * len(keys), (0.34, 0.33, 0.33), fold)
        for key, layout in zip(keys, layouts):
            seen[key].append(layout.regions[0].split)
    assert all(sorted(splits) == ["test", "train", "val"] for splits in seen.values())
    assert [seen[("A", r)][1] for r in ("s0", "s1", "s2")] == ["test", "train", "val"]
    again = realization_layouts(keys, [16] * len(keys), (0.34, 0.33, 0.33), 3)
    assert [l.regions[0].split for l in again] == [s[0] for s in seen.values()]
    with pytest.raises(ConfigError, match="fold"):
        PrepareConfig(fold=1)
    assert PrepareConfig(fold=2, split_by="realization").fold == 2
