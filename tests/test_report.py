"""The science report: folds of the runs x training seeds, pooled as mean +- std beside the
baselines, with the blur and flattened-spectrum experiments; re-runs keep what is finished."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from crturb_keras.data import PrepareConfig, discover_sources, load_manifest, prepare
from crturb_keras.errors import ConfigError
from crturb_keras.runs.report import science_report
from crturb_keras.runs.training import TrainConfig
from crturb_keras.simulate import SurrogateConfig, simulate
from pipelines import report as report_cli

CLASSES = ["MHD", "CR_Advect", "CR_Streaming"]
FLAGS = ["--epochs", "2", "--batch-size", "32", "--depth", "2", "--base-filters", "4",
         "--patience", "2", "--quiet"]


@pytest.fixture(scope="module")
def runs_data(tmp_path_factory):
    """Three surrogate runs (seeds) per class at 16^3, split by run (fold 0)."""
    root = tmp_path_factory.mktemp("report")
    for seed in range(3):
        simulate(SurrogateConfig(resolution=16, snapshots=2, meshblock=16, seed=seed),
                 root / f"run{seed}", classes=CLASSES)
    sources = discover_sources([str(root / "run*" / "*" / "*.athdf")], classes_from_dirs=True)
    prepare(sources, root / "prep", PrepareConfig(tile=16, split_by="realization"),
            progress=False)
    return root


@pytest.fixture(scope="module")
def report(runs_data):
    out = runs_data / "report"
    assert report_cli.cli(["--data", str(runs_data / "prep"), "--out", str(out), "--repeats",
                           "2", "--folds", "3", *FLAGS]) == 0
    return out


def test_folds_put_every_run_in_test_once_and_the_pool_is_every_network(report):
    """Each class's three runs are each in one fold's test split; the pooled CNN accuracy is
    the mean and sample std of the 3 x 2 networks' own test accuracies, and the logistic
    baseline's mean is that of the folds'."""
    result = json.loads((report / "report.json").read_text())
    assert list(result["folds"]) == ["0", "1", "2"]
    for name in CLASSES:
        tested = [run for fold in result["folds"].values() for run in fold["test_runs"][name]]
        assert sorted(tested) == [name] * 3  # the run folders are named after the class ...
    manifests = [load_manifest(f["data"]) for f in result["folds"].values()]
    assert [m.config.fold for m in manifests] == [0, 1, 2]
    test_sources = [{e["files"][0]["path"] for e, l in zip(m.sources, m.layouts)
                     if l.region("test") is not None} for m in manifests]
    assert not set.intersection(*test_sources)  # ... but they are different runs
    assert len(set.union(*test_sources)) == len(manifests[0].sources)
    accuracies = [json.loads((report / f"fold{f}" / "cnn" / f"seed{s}" / "metrics.json")
                             .read_text())["kinds"]["slice"]["accuracy"]
                  for f in range(3) for s in (0, 1)]
    pooled = result["cnn"]["kinds"]["slice"]
    assert pooled["cnn"]["accuracy"]["values"] == accuracies
    assert pooled["cnn"]["accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
    assert pooled["cnn"]["accuracy"]["std"] == pytest.approx(np.std(accuracies, ddof=1))
    logistic = [f["cnn"]["kinds"]["slice"]["baselines"]["logistic_image_statistics"]
                ["accuracy"]["mean"] for f in result["folds"].values()]
    assert pooled["baselines"]["logistic_image_statistics"]["accuracy"]["mean"] == \
        pytest.approx(np.mean(logistic))
    assert len(result["temperatures"]) == 6 and all(t > 0 for t in result["temperatures"])


def test_experiments_and_the_markdown(report):
    """Blur at sigma 0 is the unblurred test accuracy of every network; the flattened data are
    the same sources with flatten_spectrum on, trained over the same folds and seeds; the
    markdown states the pooled numbers and embeds figures that exist."""
    result = json.loads((report / "report.json").read_text())
    blur = result["blur"]
    assert blur["sigmas"] == [0.0, 0.5, 1.0, 2.0, 4.0]  # up to a quarter of the 16-px tile
    per_class = result["cnn"]["kinds"]["slice"]["cnn"]["per_class_accuracy"]
    for name in CLASSES:
        assert blur["accuracy"]["0.0"][name] == pytest.approx(per_class[name]["mean"], abs=1e-4)
        assert blur["std"]["0.0"][name] == pytest.approx(per_class[name]["std"], abs=1e-4)
    for fold in range(3):
        flat = load_manifest(report / f"fold{fold}" / "flattened" / "data")
        assert flat.config.flatten_spectrum and flat.config.fold == fold
        assert (report / f"fold{fold}" / "flattened" / "cnn" / "seed1" / "model.keras").exists()
    text = (report / "report.md").read_text()
    accuracy = result["cnn"]["kinds"]["slice"]["cnn"]["accuracy"]
    assert f"**{accuracy['mean']:.3f} ± {accuracy['std']:.3f}**" in text
    flat = result["flattened"]["kinds"]["slice"]["cnn"]["accuracy"]
    assert f"**{flat['mean']:.3f} ± {flat['std']:.3f}**" in text
    for link in [part.split(")")[0] for part in text.split("](")[1:]]:
        assert (report / link).stat().st_size > 3000, link


def test_rerun_keeps_everything_and_bad_requests_are_refused(report, runs_data, capsys):
    """A re-run trains nothing (every model file keeps its time stamp) and writes the same
    numbers; another configuration in the folder, one seed, and folds of region-split data
    are refused with the fix."""
    models = sorted(report.rglob("model.keras"))
    assert len(models) == 12
    stamps = [m.stat().st_mtime_ns for m in models]
    before = json.loads((report / "report.json").read_text())
    config = TrainConfig(data=str(runs_data / "prep"), out=str(report), epochs=2, batch_size=32,
                         depth=2, base_filters=4, patience=2)
    science_report(config, repeats=2, folds=3, log=lambda line: None)
    assert [m.stat().st_mtime_ns for m in models] == stamps
    assert json.loads((report / "report.json").read_text())["cnn"] == before["cnn"]
    assert report_cli.cli(["--data", str(runs_data / "prep"), "--out", str(report),
                           "--repeats", "2", "--folds", "3", "--dropout", "0.1", *FLAGS]) == 2
    assert "another configuration" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=">= 2 training seeds"):
        science_report(config, repeats=1)
    elsewhere = runs_data / "not_a_report"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="notes.txt, which a science report does not write"):
        science_report(dataclasses.replace(config, out=str(elsewhere)), repeats=2)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["notes.txt"]
    region = runs_data / "prep_region"
    prepare(discover_sources([str(runs_data / "run0")]), region, PrepareConfig(tile=16),
            progress=False)
    with pytest.raises(ConfigError, match="split-by realization"):
        science_report(TrainConfig(data=str(region), out=str(runs_data / "r2")), folds=3)
