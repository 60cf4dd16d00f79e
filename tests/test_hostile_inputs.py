"""Hostile or careless inputs: crafted files, manifests, run records and options fail with one
clear error, never write or read outside the folders they name, and never leave a NaN model
looking like a finished run."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from astropy.io import fits

from helpers import make_snapshot, surrogate_dataset
from crturb_keras.data.pipeline import make_dataset
from crturb_keras.data.sources import Source, discover_sources
from crturb_keras.data import PrepareConfig, load_manifest, load_split, prepare
from crturb_keras.errors import ConfigError, CrturbError, DataFormatError
from crturb_keras.runs.export import export
from crturb_keras.generative.training import GenerateConfig, load_generator, train_generator
from crturb_keras.io.athena import read_athdf, write_athdf
from crturb_keras.io.atomic import atomic_path
from crturb_keras.io.fits import read_fits_cube, write_fits_cube
from crturb_keras.io.hashing import sha256
from crturb_keras.runs.predict import predict_map
from crturb_keras.simulate import SurrogateConfig
from crturb_keras.simulate.mhd import MHDConfig
from crturb_keras.runs.training import TrainConfig, load_run, train
from pipelines import convert, generate
from pipelines import export as export_cli
from pipelines import predict as predict_cli
from pipelines import prepare as prepare_cli
from pipelines import train as train_cli
from pipelines._cli import run as cli_run
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


def test_manifest_image_kinds_that_would_name_files_are_refused(prepared, tmp_path):
    """Image kinds name the figures and arrays that evaluation and the science report write
    (``confusion_<kind>.png``); a manifest whose kind is a path is refused on load."""
    def rename(manifest):
        manifest["counts"]["test"]["../../ESCAPED"] = manifest["counts"]["test"].pop("slice")

    copy = _copy(prepared, tmp_path / "copy", rename)
    with pytest.raises(DataFormatError, match="unknown image kind '../../ESCAPED'"):
        load_manifest(copy)


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
    (SurrogateConfig, "mach", math.nan),
    (SurrogateConfig, "dt", math.inf),
    (MHDConfig, "beta", math.nan),
    (MHDConfig, "dedt", math.inf),
    (MHDConfig, "cfl", 0.9),
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


@pytest.mark.slow
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


@pytest.mark.slow
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
    geometry = load_manifest(tmp_path / "prep").to_dict()["geometry"]
    assert geometry["pixels_left_out"] == pytest.approx(1 - 24 * 24 / 32 ** 2)


# 6. directories are written atomically under a lock; stale temporaries of dead processes go


def _dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_stale_temporaries_of_dead_processes_are_removed_on_the_next_run(tmp_path):
    _cube_file(tmp_path / "in" / "MHD" / "cube.00000.athdf", "MHD")
    out = tmp_path / "prep"
    dead, alive = _dead_pid(), os.getppid()
    (tmp_path / f".prep.tmp-{dead}" / "train").mkdir(parents=True)
    (tmp_path / f".prep.tmp-{dead}" / "train" / "x.npy").write_bytes(b"half")
    (tmp_path / f".prep.tmp-{alive}").mkdir()
    (tmp_path / ".prep.lock").write_text(str(dead))
    assert prepare_cli.cli(["--source", str(tmp_path / "in"), "--out", str(out),
                            "--tile", "16"]) == 0
    assert load_manifest(out).counts["train"]["slice"]["MHD"] > 0
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert left == [f".prep.tmp-{alive}"]  # another live process may still be writing it


def test_stale_temporary_files_of_dead_processes_are_removed(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    for pid in (dead, alive):
        (tmp_path / f".summary.json.tmp-{pid}.json").write_text("{")
    with atomic_path(tmp_path / "summary.json") as tmp:
        tmp.write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f".summary.json.tmp-{alive}.json", "summary.json"]


def test_a_second_writer_to_the_same_output_is_refused(tmp_path, capsys):
    _cube_file(tmp_path / "in" / "MHD" / "cube.00000.athdf", "MHD")
    holder = os.getppid()
    (tmp_path / ".prep.lock").write_text(str(holder))
    assert prepare_cli.cli(["--source", str(tmp_path / "in"), "--out", str(tmp_path / "prep"),
                            "--tile", "16"]) == 2
    _one_line_error(capsys, str(tmp_path / "prep"), f"PID {holder}")
    assert not (tmp_path / "prep").exists()
    assert (tmp_path / ".prep.lock").read_text() == str(holder)


@pytest.fixture(scope="module")
def classifier_run(prepared, tmp_path_factory) -> Path:
    return train(TrainConfig(data=str(prepared), out=str(tmp_path_factory.mktemp("run") / "cls"),
                             epochs=1, batch_size=32, depth=2, base_filters=4), verbose=0)


def test_export_rewrites_a_truncated_serving_model(classifier_run, tmp_path):
    run = Path(shutil.copytree(classifier_run, tmp_path / "run"))
    (run / f".saved_model.tmp-{_dead_pid()}").mkdir()
    export(run)
    serving = run / "serving.keras"
    serving.write_bytes(serving.read_bytes()[:1000])
    export(run)
    assert keras.saving.load_model(serving).output_shape == (None, 5)
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]


# 7. shards carry their SHA-256, shape, dtype and count; loads check them


def _tamper(shard: Path, how: str) -> None:
    images = np.load(shard)
    if how == "dtype":
        np.save(shard, images.astype(np.float64))
    elif how == "shape":
        np.save(shard, images[:, :8, :8])
    elif how == "count":
        np.save(shard, images[:-3])
    elif how == "missing":
        shard.unlink()
    elif how == "labels":
        labels = shard.with_name(shard.name.replace("images", "labels"))
        np.save(labels, np.load(labels) + 1)


def test_manifest_records_hash_shape_dtype_and_count_of_each_shard(prepared):
    shard = load_manifest(prepared).shards["val"]["slice"][0]
    images = np.load(prepared / f"{shard['stem']}.images.npy")
    entry = shard["files"]["images"]
    assert entry["shape"] == list(images.shape) and entry["dtype"] == "float16"
    assert entry["sha256"] == sha256(prepared / f"{shard['stem']}.images.npy")
    assert shard["count"] == len(images) and shard["files"]["labels"]["dtype"] == "int32"


@pytest.mark.parametrize("how", ["dtype", "shape", "count", "missing", "labels"])
def test_damaged_shards_give_one_error_naming_the_file(prepared, tmp_path, how):
    copy = _copy(prepared, tmp_path / "copy")
    shard = copy / "val" / "slice" / "CR_Advect.0000.images.npy"
    _tamper(shard, how)
    named = re.escape(str(shard).replace("images", "labels") if how == "labels" else str(shard))
    with pytest.raises(DataFormatError, match=named):
        make_dataset(copy, "val", batch_size=8)
    with pytest.raises(DataFormatError, match=named):
        load_split(copy, "val")


def test_shard_hashes_are_checked_on_demand(prepared, tmp_path, capsys):
    copy = _copy(prepared, tmp_path / "copy")
    shard = copy / "train" / "slice" / "MHD.0000.images.npy"
    images = np.load(shard)
    images[0] = -images[0]  # same shape, dtype and count: only the hash tells
    np.save(shard, images)
    assert len(load_split(copy, "train")["images"]) == 5 * 112
    with pytest.raises(DataFormatError, match=f"{re.escape(str(shard))}.*SHA-256"):
        load_split(copy, "train", verify=True)
    with pytest.raises(DataFormatError, match="SHA-256"):
        make_dataset(copy, "train", verify=True)
    assert train_cli.cli(["--data", str(copy), "--out", str(tmp_path / "run"), "--epochs", "1",
                          "--verify", "true"]) == 2
    _one_line_error(capsys, str(shard), "SHA-256")


# 8. run directories are checked before use


def _break_run(run: Path, how: str) -> Path:
    record = json.loads((run / "config.json").read_text())
    if how == "json":
        (run / "config.json").write_text('{"config": {"task": "classify"')
        return run / "config.json"
    if how == "keys":
        del record["data"]["normalization"]
    elif how == "task":
        record["config"]["task"] = "regress"
    elif how == "classes":
        record["data"]["classes"] = {"MHD": 0, "CR_Advect": 1, "CR_Streaming": 2}
    else:
        model = run / "model.keras"
        if how == "no model":
            model.unlink()
        else:
            model.write_bytes(model.read_bytes()[:2000])
        return model
    (run / "config.json").write_text(json.dumps(record))
    return run / "config.json"


@pytest.mark.parametrize("how", ["json", "keys", "task", "classes", "no model", "truncated"])
def test_damaged_run_directories_give_one_error_naming_the_file(classifier_run, tmp_path,
                                                                capsys, how):
    run = Path(shutil.copytree(classifier_run, tmp_path / "run"))
    named = _break_run(run, how)
    with pytest.raises(CrturbError, match=re.escape(str(named))):
        load_run(run)
    assert export_cli.cli([str(run)]) == 2
    _one_line_error(capsys, str(named))
    assert not (run / "saved_model").exists() and not (run / "serving.keras").exists()


# 9. predict: outputs checked before anything is written; every message names the map


def _map(path: Path, image: np.ndarray) -> Path:
    fits.PrimaryHDU(image.astype(np.float32)).writeto(path)
    return path


def _lognormal(shape) -> np.ndarray:
    return np.exp(np.random.default_rng(0).standard_normal(shape))


def test_predict_writes_nothing_when_the_outputs_are_not_finite(classifier_run, tmp_path,
                                                                capsys):
    run = Path(shutil.copytree(classifier_run, tmp_path / "run"))
    record = json.loads((run / "config.json").read_text())
    record["data"]["normalization"]["input"]["mean"] = math.nan
    (run / "config.json").write_text(json.dumps(record))
    source = _map(tmp_path / "map.fits", _lognormal((32, 32)))
    assert predict_cli.cli([str(run), str(source), "--out", str(tmp_path / "p")]) == 2
    _one_line_error(capsys, str(source), "NaN")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.fits", "run"]


def test_predict_names_an_all_blank_map(classifier_run, tmp_path, capsys):
    source = _map(tmp_path / "blank.fits", np.full((32, 32), np.nan))
    assert predict_cli.cli([str(classifier_run), str(source), "--out", str(tmp_path / "p")]) == 2
    _one_line_error(capsys, str(source))


def test_predict_refuses_a_negative_stride(classifier_run, tmp_path, capsys):
    source = _map(tmp_path / "map.fits", _lognormal((32, 32)))
    assert predict_cli.cli([str(classifier_run), str(source), "--stride", "-4",
                            "--out", str(tmp_path / "p")]) == 2
    _one_line_error(capsys, "--stride", "-4")
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("image, problem", [
    (_lognormal((8, 8)), "smaller than"),
    (np.ones((32, 32)), "constant"),
    (np.where(np.arange(32 * 32).reshape(32, 32) < 700, np.nan, _lognormal((32, 32))), "blank"),
])
def test_predict_warns_on_maps_it_cannot_score_well(classifier_run, tmp_path, image, problem):
    source = _map(tmp_path / "map.fits", image)
    with pytest.warns(UserWarning, match=f"{re.escape(str(source))}.*{problem}"):
        assert predict_cli.cli([str(classifier_run), str(source),
                                "--out", str(tmp_path / "p")]) == 0
    assert json.loads((tmp_path / "p.json").read_text())["classes"]


# 10. file-system errors: one line naming the path and the reason


def test_an_output_under_a_file_gives_one_line(tmp_path, capsys, prepared):
    _cube_file(tmp_path / "in" / "MHD" / "cube.00000.athdf", "MHD")
    (tmp_path / "file").write_text("not a folder")
    assert prepare_cli.cli(["--source", str(tmp_path / "in"),
                            "--out", str(tmp_path / "file" / "prep"), "--tile", "16"]) == 2
    _one_line_error(capsys, str(tmp_path / "file"), "not a folder")
    with pytest.raises(CrturbError, match=f"{re.escape(str(tmp_path / 'file'))}: is a file"):
        train(TrainConfig(data=str(prepared), out=str(tmp_path / "file" / "run"), epochs=1,
                          depth=2, base_filters=4), verbose=0)


def test_a_full_disk_gives_one_error_and_leaves_nothing(tmp_path, monkeypatch):
    _cube_file(tmp_path / "in" / "MHD" / "cube.00000.athdf", "MHD")

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(np, "save", full)
    with pytest.raises(CrturbError, match="No space left on device"):
        prepare(discover_sources([str(tmp_path / "in")]), tmp_path / "prep",
                PrepareConfig(tile=16), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


@pytest.mark.parametrize("error, needles", [
    (PermissionError(13, "Permission denied", "/x/y"), ("/x/y: Permission denied",)),
    (MemoryError("Unable to allocate 1 TiB"), ("out of memory", "1 TiB"))])
def test_cli_prints_os_and_memory_errors_in_one_line(capsys, error, needles):
    def main(args):
        raise error

    assert cli_run(main, argparse.ArgumentParser(), []) == 2
    _one_line_error(capsys, *needles)
    with pytest.raises(type(error)):
        cli_run(main, argparse.ArgumentParser(), ["--debug"])


# 11. Athena++ reader: attributes and data types it cannot take are refused


@pytest.mark.parametrize("how, problem", [
    ("time", "Time"), ("name", "ASCII"), ("int16", "int16"), ("complex", "complex64")])
def test_athdf_attributes_and_types_that_do_not_fit_are_refused(tmp_path, how, problem):
    path = _cube_file(tmp_path / "MHD" / "cube.00000.athdf", "MHD", shape=(16, 16, 16))
    with h5py.File(path, "r+") as f:
        if how == "time":
            f.attrs["Time"] = "soon"
        elif how == "name":
            f.attrs["VariableNames"] = np.array(["rh\xf6".encode("latin-1")], dtype="S21")
        else:
            data = f["prim"][()]
            del f["prim"]
            f["prim"] = data.astype(how.replace("complex", "complex64"))
    with pytest.raises(DataFormatError, match=f"{re.escape(str(path))}.*{problem}"):
        read_athdf(path)
    with pytest.raises(DataFormatError, match=re.escape(str(path))):
        source = Source("MHD", (str(path),))
        source.read(sorted(source.variables()))


# 13. memory is estimated before a cube or a map is read


def test_a_cube_too_large_for_memory_is_refused_before_reading(tmp_path):
    path = _cube_file(tmp_path / "cube.athdf", "MHD", shape=(8, 8, 8))
    n = 4096  # 256 GiB of float32, stored as one unwritten chunked dataset
    with h5py.File(path, "r+") as f:
        f.attrs["RootGridSize"] = f.attrs["MeshBlockSize"] = np.array([n, n, n], dtype=np.int32)
        for axis in (1, 2, 3):
            lo, hi = f.attrs[f"RootGridX{axis}"][:2]
            del f[f"x{axis}f"], f[f"x{axis}v"]
            f[f"x{axis}f"] = np.linspace(lo, hi, n + 1)[None]
            f[f"x{axis}v"] = np.zeros((1, n))
        del f["prim"]
        f.create_dataset("prim", shape=(1, 1, n, n, n), dtype=np.float32, chunks=(1, 1, 64, 64, 64))
    with pytest.raises(CrturbError, match=f"{re.escape(str(path))}.*GiB.*available"):
        read_athdf(path)


def test_a_map_too_large_for_memory_is_refused_before_scoring(classifier_run):
    huge = np.broadcast_to(np.float32(1.0), (200_000, 200_000))  # no memory behind it
    with pytest.raises(CrturbError, match="huge.fits.*GiB.*available"):
        predict_map(classifier_run, huge, source="huge.fits")


def test_a_fits_cube_too_large_for_memory_is_refused_before_reading(tmp_path, monkeypatch):
    """A FITS cube whose headers announce 2048^3 float32 cells (a sparse 32 GiB file) is refused
    from its headers, naming the file, before astropy reads any data (issue 14: the memory
    check covered .athdf cubes and maps, not FITS cubes). Available memory is pinned at 8 GiB so
    a big machine does not try to read the file."""
    from astropy.io import fits

    import crturb_keras.checks

    monkeypatch.setattr(crturb_keras.checks, "available_memory", lambda: 8 * 2 ** 30)
    path = tmp_path / "huge.fits"
    extension = fits.ImageHDU(np.zeros((1, 1, 1), np.float32), name="rho").header
    for axis in (1, 2, 3):
        extension[f"NAXIS{axis}"] = 2048
    header_bytes = fits.PrimaryHDU().header.tostring().encode() + extension.tostring().encode()
    data_bytes = 4 * 2048 ** 3
    with open(path, "wb") as handle:
        handle.write(header_bytes)
        handle.truncate(len(header_bytes) + -(-data_bytes // 2880) * 2880)
    with pytest.raises(CrturbError, match=f"{re.escape(str(path))}.*GiB.*available"):
        read_fits_cube(path)
