"""Hostile or careless inputs: crafted files, manifests, run records and options fail with one
clear error, never write or read outside the folders they name, and never leave a NaN model
looking like a finished run."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from conftest import make_snapshot, surrogate_dataset
from crturb_keras.data.pipeline import make_dataset
from crturb_keras.data.sources import Source, discover_sources
from crturb_keras.data.store import PrepareConfig, load_manifest, load_split, prepare
from crturb_keras.errors import ConfigError, CrturbError, DataFormatError
from crturb_keras.generation import GenerateConfig, load_generator, train_generator
from crturb_keras.io.athena import write_athdf
from crturb_keras.io.fits import write_fits_cube
from crturb_keras.training import TrainConfig, train
from pipelines import convert, generate
from pipelines import prepare as prepare_cli
from pipelines import train as train_cli
from tuning.space import apply_overrides, default_space

GENERATIVE = dict(epochs=1, batch_size=16, widths=(8, 16), block_depth=1, embedding_dims=8,
                  sample_steps=2, ema=0.5, jit_compile="off")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """Five surrogate classes at 32^3 in 16-px tiles: 112 train, 24 val, 24 test per class."""
    return surrogate_dataset(tmp_path_factory.mktemp("hostile"), PrepareConfig(tile=16))


def _copy(prepared: Path, to: Path, edit=None) -> Path:
    """A copy of a prepared folder, its manifest passed through ``edit`` (changed in place)."""
    shutil.copytree(prepared, to)
    if edit is not None:
        manifest = json.loads((to / "manifest.json").read_text())
        edit(manifest)
        (to / "manifest.json").write_text(json.dumps(manifest))
    return to


def _cube_file(path: Path, class_name: str | None, shape=(32, 32, 32), seed: int = 0) -> Path:
    """One snapshot of rho (and its class attribute) as .athdf, or as FITS by the suffix."""
    snapshot = make_snapshot(shape=shape, names=("rho",), seed=seed)
    snapshot = dataclasses.replace(snapshot, attributes={"SurrogateClass": class_name or "MHD"})
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".fits":
        write_fits_cube(snapshot, path)
        if class_name is not None:
            fits.setval(path, "CRCLASS", value=class_name, ext=0)
    else:
        write_athdf(snapshot, path)
    return path


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in last, last
    return last


# 1. class names read from files, manifests and the command line become file names: checked


@pytest.mark.parametrize("suffix", [".athdf", ".fits"])
def test_class_name_read_from_a_file_cannot_lead_outside_the_output(tmp_path, capsys, suffix):
    crafted = _cube_file(tmp_path / "in" / f"crafted.00000{suffix}", "../../../ESCAPED")
    out = tmp_path / "work" / "prep"
    assert prepare_cli.cli(["--source", str(tmp_path / "in" / f"*{suffix}"), "--out", str(out),
                            "--tile", "16"]) == 2
    _one_line_error(capsys, str(crafted), "class name", "ESCAPED")
    assert not list(tmp_path.rglob("*ESCAPED*")) and not out.exists()


def test_prepare_checks_class_names_of_sources_made_in_python(tmp_path):
    cube = _cube_file(tmp_path / "in" / "cube.00000.athdf", "MHD")
    with pytest.raises(ConfigError, match="class name '../ESCAPED'"):
        prepare([Source("../ESCAPED", (str(cube),))], tmp_path / "work" / "prep",
                PrepareConfig(tile=16), progress=False)
    assert not list(tmp_path.rglob("*ESCAPED*"))


def test_class_names_in_a_manifest_are_checked(prepared, tmp_path):
    def rename(manifest):
        manifest["classes"]["../../ESCAPED"] = manifest["classes"].pop("MHD")

    copy = _copy(prepared, tmp_path / "copy", rename)
    with pytest.raises(DataFormatError, match="manifest.json.*class name '../../ESCAPED'"):
        load_manifest(copy)


def test_convert_refuses_an_unsafe_class_name(tmp_path, capsys):
    source = _cube_file(tmp_path / "run.out1.00000.athdf", None, shape=(8, 8, 8))
    assert convert.cli([str(source), str(tmp_path / "out.fits"), "--class-name", "../x"]) == 2
    _one_line_error(capsys, "--class-name", "'../x'")
    assert not (tmp_path / "out.fits").exists()


# 2. pipelines.generate makes folders from the class names of a run's config.json


def test_generate_refuses_class_names_from_a_crafted_run_record(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({
        "config": {"task": "generate", "model": "cddim"},
        "data": {"classes": {"../../ESCAPED": 0}, "classes_used": ["../../ESCAPED"],
                 "normalization": {"input": {"method": "standardize", "log10": True}}}}))
    assert generate.cli([str(run), "--out", str(tmp_path / "samples"), "--n", "1"]) == 2
    _one_line_error(capsys, str(run / "config.json"), "class name")
    with pytest.raises(DataFormatError, match="config.json"):
        load_generator(run)
    assert not list(tmp_path.rglob("*ESCAPED*"))


# 3. shard paths of a manifest stay inside the prepared folder


@pytest.mark.parametrize("where", ["relative", "absolute", "empty"])
def test_manifest_shards_outside_the_prepared_folder_are_refused(prepared, tmp_path, where):
    outside = tmp_path / "outside"  # an empty stem would read tmp_path/copy.*.npy
    outside.mkdir()
    for part in ("images", "labels", "meta"):
        shard = prepared / "val" / "slice" / f"MHD.0000.{part}.npy"
        shutil.copy(shard, outside)
        shutil.copy(shard, tmp_path / f"copy.{part}.npy")
    stem = {"relative": "../outside/MHD.0000", "absolute": str(outside / "MHD.0000"),
            "empty": ""}[where]

    def redirect(manifest):
        manifest["shards"]["val"]["slice"][0]["stem"] = stem

    copy = _copy(prepared, tmp_path / "copy", redirect)
    with pytest.raises(DataFormatError, match="outside"):
        make_dataset(copy, "val", batch_size=8)
    with pytest.raises(DataFormatError, match="outside"):
        load_split(copy, "val")


# 4. non-finite and negative options are refused up front; a diverged run is never kept


@pytest.mark.parametrize("config, field, value", [
    (TrainConfig, "learning_rate", math.nan),
    (TrainConfig, "weight_decay", math.inf),
    (TrainConfig, "dropout", math.nan),
    (TrainConfig, "ssim_alpha", -0.5),
    (TrainConfig, "steps_per_epoch", -1),
    (TrainConfig, "seed", -1),
    (GenerateConfig, "learning_rate", math.nan),
    (GenerateConfig, "guidance", math.nan),
    (GenerateConfig, "class_dropout", math.nan),
    (GenerateConfig, "max_signal", math.inf),
    (GenerateConfig, "steps_per_epoch", -1),
    (GenerateConfig, "classes", ("MHD", "../x")),
    (PrepareConfig, "smooth_sigma", math.nan),
    (PrepareConfig, "fractions", (0.7, math.nan, 0.15)),
    (PrepareConfig, "seed", -1),
])
def test_impossible_options_are_refused_when_the_config_is_made(config, field, value):
    with pytest.raises(ConfigError, match=field):
        config(**{field: value})


def test_command_lines_refuse_nan_options(prepared, tmp_path, capsys):
    assert train_cli.cli(["--data", str(prepared), "--out", str(tmp_path / "r"),
                          "--learning-rate", "nan"]) == 2
    _one_line_error(capsys, "learning_rate")
    assert train_cli.cli(["--task", "generate", "--data", str(prepared),
                          "--out", str(tmp_path / "g"), "--guidance", "nan"]) == 2
    _one_line_error(capsys, "guidance")
    assert generate.cli([str(tmp_path / "no-run"), "--out", str(tmp_path / "s"),
                         "--guidance", "nan"]) == 2
    _one_line_error(capsys, "--guidance")
    with pytest.raises(ConfigError, match="learning_rate"):
        apply_overrides(default_space("classify"), ["learning_rate=nan"])
    assert not list(tmp_path.iterdir())


def _poisoned(prepared: Path, to: Path) -> Path:
    """A copy whose training tiles are NaN, so that the very first training loss is NaN."""
    copy = _copy(prepared, to)
    for shard in (copy / "train" / "slice").glob("*.images.npy"):
        images = np.load(shard)
        np.save(shard, np.full_like(images, np.nan))
    return copy


def _assert_no_run(out: Path) -> None:
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.tmp")]


def test_diverged_classifier_run_is_not_kept(prepared, tmp_path):
    data = _poisoned(prepared, tmp_path / "data")
    out = tmp_path / "run"
    with pytest.raises(CrturbError, match="nan.*learning.rate"):
        train(TrainConfig(data=str(data), out=str(out), epochs=2, depth=2, base_filters=4,
                          batch_size=32), verbose=0)
    _assert_no_run(out)


def test_diverged_generative_run_is_not_kept(prepared, tmp_path):
    data = _poisoned(prepared, tmp_path / "data")
    out = tmp_path / "run"
    with pytest.raises(CrturbError, match="nan.*learning.rate"):
        train_generator(GenerateConfig(data=str(data), out=str(out), model="ddim",
                                       classes=("MHD",), **GENERATIVE), verbose=0)
    _assert_no_run(out)


# 5. split sizes against the batch size of generative training


@pytest.fixture(scope="module")
def whole_slices(tmp_path_factory) -> Path:
    """One class, whole 32-px slices of one 32^3 cube: 21 train, 4 val and 4 test tiles."""
    root = tmp_path_factory.mktemp("whole")
    _cube_file(root / "in" / "MHD" / "cube.00000.athdf", "MHD")
    prepare(discover_sources([str(root / "in")]), root / "prep", PrepareConfig(tile=32),
            progress=False)
    return root / "prep"


def test_generative_run_with_splits_smaller_than_a_batch_is_finished(whole_slices, tmp_path):
    out = tmp_path / "run"  # 4 validation tiles in batches of 16; 4 test tiles for 6-tile rows
    train_generator(GenerateConfig(data=str(whole_slices), out=str(out), model="ddim",
                                   **GENERATIVE), verbose=0)
    record = json.loads((out / "config.json").read_text())
    assert math.isfinite(record["training"]["final_val_loss"])
    assert (out / "figures" / "samples.png").stat().st_size > 0


def test_generative_training_refuses_a_batch_larger_than_the_training_split(whole_slices,
                                                                            tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="21 training tiles.*batch_size 32.*--batch-size"):
        train_generator(GenerateConfig(data=str(whole_slices), out=str(out), model="ddim",
                                       **{**GENERATIVE, "batch_size": 32}), verbose=0)
    _assert_no_run(out)


# 12. prepare: geometry that cannot work, or silently loses pixels


def test_prepare_refuses_a_tile_larger_than_the_images(tmp_path, capsys):
    source = _cube_file(tmp_path / "in" / "MHD" / "cube.00000.athdf", "MHD", shape=(16, 16, 16))
    assert prepare_cli.cli(["--source", str(tmp_path / "in"), "--out", str(tmp_path / "prep"),
                            "--tile", "32"]) == 2
    _one_line_error(capsys, str(source), "16x16", "--tile")
    assert not (tmp_path / "prep").exists()


def test_prepare_refuses_sources_of_different_image_sizes(tmp_path, capsys):
    big = _cube_file(tmp_path / "in" / "MHD" / "cube.00000.athdf", "MHD")
    small = _cube_file(tmp_path / "in" / "CR_Advect" / "cube.00000.athdf", "CR_Advect",
                       shape=(16, 16, 16), seed=1)
    assert prepare_cli.cli(["--source", str(tmp_path / "in"), "--out", str(tmp_path / "prep"),
                            "--tile", "16"]) == 2
    _one_line_error(capsys, str(big), str(small), "32x32", "16x16")
    assert not (tmp_path / "prep").exists()


def test_prepare_refuses_a_negative_seed_in_one_line(tmp_path, capsys):
    _cube_file(tmp_path / "in" / "MHD" / "cube.00000.athdf", "MHD")
    assert prepare_cli.cli(["--source", str(tmp_path / "in"), "--out", str(tmp_path / "prep"),
                            "--tile", "16", "--seed", "-3"]) == 2
    _one_line_error(capsys, "seed")


def test_prepare_warns_when_tiles_leave_pixels_out(tmp_path):
    _cube_file(tmp_path / "in" / "MHD" / "cube.00000.athdf", "MHD")
    with pytest.warns(UserWarning, match=r"44% of the pixels"):
        assert prepare_cli.cli(["--source", str(tmp_path / "in"),
                                "--out", str(tmp_path / "prep"), "--tile", "24"]) == 0
    geometry = load_manifest(tmp_path / "prep")["geometry"]
    assert geometry["pixels_left_out"] == pytest.approx(1 - 24 * 24 / 32 ** 2)
