"""Prepared datasets: manifest, statistics from training only, reuse/refusal, and no leakage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crturb_keras.data import PrepareConfig, load_manifest, prepare
from crturb_keras.data.sources import Source, discover_sources
from crturb_keras.errors import ConfigError, DataFormatError, SplitError
from crturb_keras.io.athena import write_athdf
from crturb_keras.io.fits import write_fits_cube
from crturb_keras.simulate import SurrogateConfig, simulate
from crturb_keras.snapshot import Snapshot
from pipelines import prepare as prepare_cli

SMALL = PrepareConfig(tile=16, kinds=("slice", "projection"), depth=2, targets=("Ec",),
                      shard_size=64)


@pytest.fixture(scope="module")
def surrogate(tmp_path_factory):
    root = tmp_path_factory.mktemp("surrogate")
    simulate(SurrogateConfig(resolution=32, snapshots=2, meshblock=16), root)
    return root


@pytest.fixture(scope="module")
def prepared(surrogate, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared") / "data"
    prepare(discover_sources([str(surrogate)]), out, SMALL, progress=False)
    return out


def _load(root: Path, split: str, kind: str, suffix: str = "images"):
    files = sorted((root / split / kind).glob(f"*.{suffix}.npy"))
    return np.concatenate([np.load(f) for f in files]) if files else np.empty(0)


def test_manifest_records_everything_needed_to_trace_an_image(prepared, surrogate):
    m = load_manifest(prepared).to_dict()
    assert m["classes"] == {"MHD": 0, "CR_Advect": 1, "CR_Diff_Fiducial": 2, "CR_Diff100": 3,
                            "CR_Streaming": 4}
    assert len(m["sources"]) == 10
    first = m["sources"][0]
    assert len(first["files"][0]["sha256"]) == 64 and first["shape"] == [32, 32, 32]
    assert m["buffer"]["auto"] and m["buffer"]["cells"] >= max(
        m["buffer"]["autocorrelation_length_cells"].values())
    assert m["config"]["tile"] == 16 and m["seed"] == 0 and m["version"]
    for split in ("train", "val", "test"):
        for kind in ("slice", "projection"):
            n = sum(m["counts"][split][kind].values())
            assert n == len(_load(prepared, split, kind)) > 0
            assert n == sum(s["count"] for s in m["shards"][split][kind])
    assert m["dtype_error"]["dtype"] == "float16" and 0 < m["dtype_error"]["max_abs_error"] < 0.01
    layout = m["layouts"][0]
    assert all(g >= m["buffer"]["cells"] for _, _, g in layout["gaps"])


def test_standardisation_uses_training_statistics_only(prepared):
    m = load_manifest(prepared).to_dict()
    train = _load(prepared, "train", "slice").astype(np.float64)
    assert abs(train.mean()) < 2e-3 and train.std() == pytest.approx(1.0, abs=2e-3)
    val = _load(prepared, "val", "slice").astype(np.float64)
    assert abs(val.mean()) > 1e-3  # val keeps its own offset: its statistics were not used
    stats = m["normalization"]["slice"]
    assert stats["input"]["method"] == "standardize" and stats["input"]["std"] > 0
    assert set(stats["targets"]) == {"Ec"}


def test_targets_only_for_classes_that_carry_them(prepared):
    m = load_manifest(prepared).to_dict()
    with_targets = {s["class"] for s in m["shards"]["train"]["slice"] if s["targets"]}
    assert with_targets == {"CR_Advect", "CR_Diff_Fiducial", "CR_Diff100", "CR_Streaming"}
    images = np.load(prepared / "train/slice/CR_Advect.0000.images.npy").astype(np.float64)
    targets = np.load(prepared / "train/slice/CR_Advect.0000.targets.npy").astype(np.float64)
    assert targets.shape == images.shape
    # Ec = 3 rho^(4/3) for advected CRs: after log10 and standardising, targets are linear in input.
    r = np.corrcoef(images.ravel(), targets.ravel())[0, 1]
    assert r > 0.999


def test_no_blank_or_nan_tiles(prepared):
    for split in ("train", "val", "test"):
        images = _load(prepared, split, "slice").astype(np.float32)
        assert np.isfinite(images).all()
        assert (images.std(axis=(1, 2, 3)) > 0).all()


def test_rerun_reuses_and_other_settings_are_refused(prepared, surrogate):
    sources = discover_sources([str(surrogate)])
    stamp = (prepared / "manifest.json").stat().st_mtime_ns
    again = prepare(sources, prepared, SMALL, progress=False)
    assert again == load_manifest(prepared)
    assert (prepared / "manifest.json").stat().st_mtime_ns == stamp
    with pytest.raises(ConfigError, match="settings tile differ"):
        prepare(sources, prepared, PrepareConfig(tile=8, kinds=("slice", "projection"), depth=2,
                                                 targets=("Ec",), shard_size=64), progress=False)


def test_failed_prepare_leaves_nothing(surrogate, tmp_path):
    out = tmp_path / "never"
    with pytest.raises(SplitError, match="cannot fit"):
        prepare(discover_sources([str(surrogate)]), out, PrepareConfig(tile=16, buffer="30"),
                progress=False)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_bad_sources_raise_clear_errors(tmp_path):
    faces = np.linspace(0, 1, 9)
    rho = np.ones((8, 8, 8), np.float32)
    rho[1, 2, 3] = np.nan
    bad = write_athdf(Snapshot({"rho": rho}, faces, faces, faces), tmp_path / "MHD" / "cr.out1.00000.athdf")
    with pytest.raises(DataFormatError, match="cr.out1.00000.athdf.*NaN"):
        prepare([Source("MHD", (str(bad),))], tmp_path / "out", PrepareConfig(tile=8, buffer="1"),
                progress=False)
    neg = write_athdf(Snapshot({"rho": -np.ones((8, 8, 8), np.float32)}, faces, faces, faces),
                      tmp_path / "neg.athdf")
    with pytest.raises(DataFormatError, match="<= 0, so log10"):
        prepare([Source("MHD", (str(neg),))], tmp_path / "out", PrepareConfig(tile=8, buffer="1"),
                progress=False)
    with pytest.raises(DataFormatError, match="has no 'Ec'"):
        prepare([Source("MHD", (str(neg),))], tmp_path / "out",
                PrepareConfig(tile=8, buffer="1", field="Ec"), progress=False)
    with pytest.raises(ConfigError, match="invalid prepare configuration.*kinds.*normalize"):
        PrepareConfig(kinds=("cube",), normalize="zscore")
    with pytest.raises(ConfigError, match="no .athdf or .fits"):
        discover_sources([str(tmp_path / "nothing*")])


def coded_snapshot(length: int, seed: int) -> Snapshot:
    """rho[k, j, i] = 1000 (i + 1) + noise: the x1 index of every pixel can be decoded."""
    noise = np.random.default_rng(seed).random((16, 16, length)).astype(np.float64)
    rho = (1000.0 * (np.arange(length) + 1))[None, None, :] + noise
    faces = np.linspace(0, 1, 17)
    return Snapshot({"rho": rho.astype(np.float32)}, np.linspace(0, 1, length + 1), faces, faces,
                    attributes={"SurrogateClass": "MHD"})


@pytest.mark.parametrize("kind, depth", [("slice", 1), ("projection", 3)])
def test_no_evaluation_tile_lies_within_the_buffer_of_training_data(tmp_path, kind, depth):
    length, buffer = 60, 5
    for n, cls in enumerate(("MHD", "CR_Advect")):
        snap = coded_snapshot(length, n)
        write_athdf(snap, tmp_path / "src" / cls / "cr.out1.00000.athdf")
    config = PrepareConfig(tile=8, stride=4, kinds=(kind,), depth=depth, buffer=str(buffer),
                           log=False, normalize="none", dtype="float32")
    out = tmp_path / "prep"
    prepare(discover_sources([str(tmp_path / "src")]), out, config, progress=False)

    def rows(split):
        images = _load(out, split, kind)[..., 0].astype(np.float64)
        # decode the first x1 index of each tile's window from the pixel values
        start = np.rint(images / 1000.0 - 1 - (depth - 1) / 2).astype(int)
        assert (start == start[:, :1, :1]).all(), "a tile mixes x1 windows"
        starts = start[:, 0, 0]
        return {int(s) + d for s in starts for d in range(depth)}

    train = np.array(sorted(rows("train")))
    for split in ("val", "test"):
        held = np.array(sorted(rows(split)))
        assert len(held) and len(train)
        distance = np.abs(held[:, None] - train[None, :])
        distance = np.minimum(distance, length - distance)  # periodic box
        assert distance.min() > buffer, f"{split} tile within {buffer} cells of training data"
    meta = np.concatenate([np.load(f) for f in sorted((out / "test" / kind).glob("*.meta.npy"))])
    assert (meta[:, 2] - meta[:, 1] == depth).all()
    assert set(meta[:, 1]) | set(meta[:, 1] + depth - 1) <= set(rows("test"))


def test_fits_sources_and_seed_projection_mode(tmp_path, surrogate):
    sources = discover_sources([str(surrogate)])[:2]
    fits_dir = tmp_path / "fits"
    for i, source in enumerate(sources):
        write_fits_cube(source.read(["rho"]), fits_dir / f"cube{i}.fits")
    found = discover_sources([str(fits_dir / "*.fits")])
    assert [s.class_name for s in found] == [s.class_name for s in sources]
    m = prepare(found, tmp_path / "p", PrepareConfig(tile=16, kinds=("projection",), depth=2,
                                                     projection_mode="seed", normalize="none",
                                                     dtype="float32"), progress=False)
    images = _load(tmp_path / "p", "train", "projection")
    assert images.min() >= 0 and images.max() <= 1  # mean of per-cube min-max normalised slices
    assert m.geometry.tile == 16


def test_prepare_cli(tmp_path, surrogate, capsys):
    out = tmp_path / "cli"
    args = ["--source", str(surrogate / "*" / "*.athdf"), "--classes-from-dirs", "--out", str(out),
            "--tile", "16", "--kinds", "slice", "--fractions", "0.6,0.2,0.2", "--log", "true"]
    assert prepare_cli.cli(args) == 0
    printed = capsys.readouterr().out
    assert "prepared 10 snapshot(s) of 5 class(es)" in printed and "CR_Streaming" in printed
    config = json.loads((out / "manifest.json").read_text())["config"]
    assert config["fractions"] == [0.6, 0.2, 0.2] and config["kinds"] == ["slice"]
    assert prepare_cli.cli(args) == 0
    assert "reused the dataset prepared earlier from 10 snapshot(s)" in capsys.readouterr().out
    assert prepare_cli.cli([*args[:-4], "--fractions", "0.5,0.25,0.25"]) == 2
    assert "prepared differently" in capsys.readouterr().err


def test_parallel_prepare_gives_identical_results(surrogate, tmp_path):
    sources = discover_sources([str(surrogate)])[:4]
    config = PrepareConfig(tile=16, targets=("Ec",), shard_size=40)
    one = prepare(sources, tmp_path / "one", config, progress=False, workers=1)
    two = prepare(sources, tmp_path / "two", config, progress=False, workers=2)
    assert one.to_dict() == two.to_dict()
    for stem in [s["stem"] for split in one.shards.values() for kind in split.values()
                 for s in kind]:
        for part in ("images", "labels", "meta"):
            np.testing.assert_array_equal(np.load(tmp_path / "one" / f"{stem}.{part}.npy"),
                                          np.load(tmp_path / "two" / f"{stem}.{part}.npy"))


def axis_coded_snapshot(axis: int, seed: int) -> Snapshot:
    """A 16^3 cube whose value is 1000 (index along ``axis`` + 1) + noise in [0, 1): the plane of
    every pixel along that axis can be decoded (axis 1 = x1, 2 = x2, 3 = x3)."""
    noise = np.random.default_rng(seed).random((16, 16, 16))
    index = np.arange(16).reshape([16 if a == 3 - axis else 1 for a in range(3)])
    faces = np.linspace(0, 1, 17)
    return Snapshot({"rho": (1000.0 * (index + 1) + noise).astype(np.float32)}, faces, faces,
                    faces, attributes={"SurrogateClass": "MHD"})


@pytest.mark.parametrize("axis", ["x1", "x2", "x3"])
def test_images_are_normal_to_the_chosen_axis(tmp_path, axis):
    """Every tile prepared along ``axis`` lies in one plane normal to it, and the planes of the
    three splits are those its manifest's regions name. Mutation caught: slicing along x1
    whatever the axis."""
    number = int(axis[1])
    for n, cls in enumerate(("MHD", "CR_Advect")):
        write_athdf(axis_coded_snapshot(number, n), tmp_path / "src" / cls / "c.out1.00000.athdf")
    config = PrepareConfig(axis=axis, tile=8, buffer="2", log=False, normalize="none",
                           dtype="float32")
    out = tmp_path / "prep"
    prepare(discover_sources([str(tmp_path / "src")]), out, config, progress=False)
    for split in ("train", "val", "test"):
        images = _load(out, split, "slice")[..., 0].astype(np.float64)
        planes = np.floor(images / 1000.0) - 1
        assert len(images) and (planes == planes[:, :1, :1]).all(), "a tile crosses planes"
        assert (planes[:, 0, 0] == _meta(out, split)[:, 1]).all()  # recorded window = plane


def _meta(root: Path, split: str, kind: str = "slice") -> np.ndarray:
    return np.concatenate([np.load(f) for f in sorted((root / split / kind).glob("*.meta.npy"))])


def test_slice_step_and_training_rolls(tmp_path):
    """``slice_step=2`` keeps every other plane of a region; ``train_rolls=1`` adds one
    periodically rolled copy of every training image (and nothing to val/test). Mutations
    caught: either option ignored, or the copies not rolls of their own image."""
    for n, cls in enumerate(("MHD", "CR_Advect")):
        write_athdf(axis_coded_snapshot(1, n), tmp_path / "src" / cls / "c.out1.00000.athdf")
    sources = discover_sources([str(tmp_path / "src")])
    common = dict(tile=16, buffer="1", fractions=(0.5, 0.25, 0.25), log=False, normalize="none",
                  dtype="float32")
    prepare(sources, tmp_path / "base", PrepareConfig(**common), progress=False)
    prepare(sources, tmp_path / "step", PrepareConfig(**common, slice_step=2), progress=False)
    prepare(sources, tmp_path / "rolls", PrepareConfig(**common, train_rolls=1), progress=False)

    def planes(root, split):
        images = _load(root, split, "slice")[..., 0]
        return images, _meta(root, split)[:, 0], np.floor(images[:, 0, 0] / 1000.0) - 1

    for split in ("train", "val", "test"):
        base, base_cube, base_plane = planes(tmp_path / "base", split)
        _, step_cube, step_plane = planes(tmp_path / "step", split)
        for cube in (0, 1):
            kept = np.sort(step_plane[step_cube == cube])
            every = np.sort(base_plane[base_cube == cube])
            assert len(kept) == (len(every) + 1) // 2 and set(kept) <= set(every)
            gaps = np.abs(kept[:, None] - kept[None, :])
            gaps = np.minimum(gaps, 16 - gaps) + 16 * np.eye(len(kept))
            assert gaps.min() >= 2  # no two neighbouring planes kept
        rolled, rolled_cube, rolled_plane = planes(tmp_path / "rolls", split)
        if split != "train":
            assert len(rolled) == len(base)
            continue
        assert len(rolled) == 2 * len(base)
        originals = {(c, p): t for t, c, p in zip(base, base_cube, base_plane)}
        moved = 0
        for tile, cube, plane in zip(rolled, rolled_cube, rolled_plane):
            original = originals[(cube, plane)]
            shifts = [(a, b) for a in range(16) for b in range(16)
                      if np.array_equal(np.roll(original, (a, b), axis=(0, 1)), tile)]
            assert shifts, "a training tile is neither an original nor a periodic roll of it"
            moved += shifts != [(0, 0)]
        assert moved >= len(base) // 2  # the copies are shifted (a random shift may be zero)


def test_spectrum_flattening_and_smoothing_act_on_the_images(surrogate, tmp_path):
    """``flatten_spectrum`` leaves a white spectrum (ring power proportional to k: slope 1,
    measured on the prepared training slices), ``smooth_sigma`` removes small-scale power; the
    plain slices are red (slope below -1). Mutation caught: either option ignored."""
    from crturb_keras.spectra import radial_power_spectrum, spectral_slope

    sources = discover_sources([str(surrogate)])
    slopes, high = {}, {}
    for name, extra in (("plain", {}), ("flat", {"flatten_spectrum": True}),
                        ("smooth", {"smooth_sigma": 2.0})):
        prepare(sources, tmp_path / name, PrepareConfig(tile=32, dtype="float32", **extra),
                progress=False)
        k, power = radial_power_spectrum(_load(tmp_path / name, "train", "slice")[..., 0])
        slopes[name] = spectral_slope(k, power, 2, 12)
        high[name] = power[k > 8].sum() / power.sum()
    assert slopes["plain"] < -1.0
    assert slopes["flat"] == pytest.approx(1.0, abs=0.25)
    assert high["smooth"] < 0.05 * high["plain"]


@pytest.mark.parametrize("method", ["minmax", "equalize"])
def test_minmax_and_equalize_in_prepare(surrogate, tmp_path, method):
    """``minmax`` maps each cube's log-density to [0, 1] (its tiles over all splits reach both
    ends); ``equalize`` makes every tile's values its pixels' rank quantiles in [0, 1]."""
    sources = discover_sources([str(surrogate)])[:2]
    out = tmp_path / method
    prepare(sources, out, PrepareConfig(tile=16, normalize=method, dtype="float32"),
            progress=False)
    tiles, cubes = [], []
    for split in ("train", "val", "test"):
        tiles.append(_load(out, split, "slice")[..., 0])
        cubes.append(_meta(out, split)[:, 0])
    tiles, cubes = np.concatenate(tiles), np.concatenate(cubes)
    if method == "minmax":
        for cube in np.unique(cubes):
            values = tiles[cubes == cube]
            assert values.min() == 0.0 and values.max() == pytest.approx(1.0, abs=1e-6)
    else:
        quantiles = np.linspace(0, 1, 16 * 16)
        for tile in tiles[:50]:  # tied values share their mean rank: half a step at most
            assert np.abs(np.sort(tile.ravel()) - quantiles).max() <= 0.5 / 255 + 1e-6


def test_small_inputs_are_prepared_in_one_process(surrogate, monkeypatch):
    """Automatic worker count: one process below 32 MiB of input (starting a pool costs more
    than it saves), else the cores up to 4 and the number of sources; an explicit count wins."""
    import os

    from crturb_keras.data import workers

    sources = discover_sources([str(surrogate)])[:4]
    assert workers.worker_count(0, sources) == 1 and workers.worker_count(2, sources) == 2
    monkeypatch.setattr(workers, "SMALL_INPUT_BYTES", 0)
    assert workers.worker_count(0, sources) == min(os.cpu_count(), 4, len(sources))


def test_a_dead_worker_is_one_clear_error():
    """A worker process that dies (killed for memory, or a script without a __main__ guard)
    gives one CrturbError naming the fix, not a BrokenProcessPool traceback."""
    from helpers import die

    from crturb_keras.errors import CrturbError
    from crturb_keras.processes import run_parallel

    with pytest.raises(CrturbError, match="worker process died.*--workers 1"):
        run_parallel(die, [(1,), (2,)], 2, "read", progress=False)


def test_manifest_is_typed(prepared):
    """Readers get a typed manifest: the settings as a PrepareConfig (equal to the one that
    prepared it), typed geometry and split layouts, class names in label order (issue 15)."""
    from crturb_keras.data import Manifest
    from crturb_keras.data.splits import SplitLayout

    m = load_manifest(prepared)
    assert isinstance(m, Manifest) and m.config == SMALL
    assert m.geometry.tile == SMALL.tile and m.geometry.targets == ("Ec",)
    assert m.geometry.rotations_allowed and isinstance(m.geometry.image_shape, tuple)
    assert m.class_names == sorted(m.classes, key=m.classes.get) and m.class_names[0] == "MHD"
    assert all(isinstance(layout, SplitLayout) for layout in m.layouts)
    assert len(m.layouts) == len(m.sources) and m.to_dict()["format"] == "crturb-prepared/1"


def test_all_axes_cut_images_normal_to_each_axis(tmp_path):
    """``axis="all"`` cuts every cube normal to x1, x2 and x3: the meta column ``axis`` names
    the axis (1-3), every pixel of a tile lies on the plane its window names along that axis,
    and each axis gives as many tiles as cutting along it alone. Needs whole runs per split
    and cubic boxes."""
    i3, i2, i1 = np.meshgrid(*[np.arange(16)] * 3, indexing="ij")
    faces = np.linspace(0, 1, 17)
    for cls in ("MHD", "CR_Advect"):
        for seed in range(3):
            coded = (1 + i1 + 16 * i2 + 256 * i3).astype(np.float32)
            write_athdf(Snapshot({"rho": coded}, faces, faces, faces,
                                 attributes={"SurrogateClass": cls}),
                        tmp_path / "src" / cls / f"seed{seed}" / "c.out1.00000.athdf")
    sources = discover_sources([str(tmp_path / "src")])
    settings = dict(tile=8, log=False, normalize="none", dtype="float32",
                    split_by="realization")
    out = tmp_path / "all"
    manifest = prepare(sources, out, PrepareConfig(axis="all", **settings), progress=False)
    single = prepare(sources, tmp_path / "x2", PrepareConfig(axis="x2", **settings),
                     progress=False)
    assert manifest.geometry.meta_columns[-1] == "axis"
    assert not manifest.geometry.rotations_allowed
    for split in ("train", "val", "test"):
        images = _load(out, split, "slice")[..., 0].astype(np.int64) - 1
        meta = _meta(out, split)
        position = {1: images % 16, 2: (images // 16) % 16, 3: images // 256}
        assert sorted(set(meta[:, -1])) == [1, 2, 3]
        for axis in (1, 2, 3):
            rows = meta[:, -1] == axis
            assert (position[axis][rows] == meta[rows, 1][:, None, None]).all()
            assert rows.sum() == len(_meta(tmp_path / "x2", split))
        assert sum(manifest.counts[split]["slice"].values()) == 3 * sum(
            single.counts[split]["slice"].values())
    with pytest.raises(ConfigError, match="split_by realization"):
        PrepareConfig(axis="all")
    write_athdf(Snapshot({"rho": np.ones((8, 16, 16), np.float32)}, faces, faces,
                         np.linspace(0, 1, 9), attributes={"SurrogateClass": "MHD"}),
                tmp_path / "flat" / "MHD" / "seed0" / "c.out1.00000.athdf")
    with pytest.raises(DataFormatError, match="cubic"):
        prepare(discover_sources([str(tmp_path / "flat")]), tmp_path / "bad",
                PrepareConfig(axis="all", **settings), progress=False)
