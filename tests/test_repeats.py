"""Training over seeds: mean +- std over seeds next to the baselines, the seed ensemble, and
re-runs that keep finished seeds and refuse another configuration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crturb_keras.data import PrepareConfig
from crturb_keras.errors import ConfigError
from crturb_keras.metrics import classification_metrics
from crturb_keras.runs.repeats import read_plan, seed_configs, train_repeats
from crturb_keras.runs.training import TrainConfig
from pipelines import evaluate as evaluate_cli
from pipelines import train as train_cli

from helpers import surrogate_dataset

FLAGS = ["--epochs", "2", "--batch-size", "32", "--depth", "2", "--base-filters", "4",
         "--patience", "2", "--quiet"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("repeats")
    return surrogate_dataset(root, PrepareConfig(tile=16, kinds=("slice", "projection"), depth=2))


@pytest.fixture(scope="module")
def repeats(prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cnn"
    code = train_cli.cli(["--data", str(prepared), "--out", str(out), "--seed", "4",
                          "--repeats", "3", "--evaluate", *FLAGS])
    assert code == 0
    return out


def test_seeds_are_ordinary_runs_and_the_summary_is_their_mean_and_std(repeats, capsys):
    """Each seed is a run directory trained with its own seed; the summary's mean and sample
    std (ddof=1) are those of the seeds' own test metrics, and the baselines sit beside them."""
    assert read_plan(repeats)["seeds"] == [4, 5, 6]
    summary = json.loads((repeats / "metrics.json").read_text())
    assert summary["task"] == "classify_repeats" and summary["split"] == "test"
    for kind in ("slice", "projection"):
        per_seed = [json.loads((repeats / f"seed{k}" / "metrics.json").read_text())["kinds"][kind]
                    for k in (4, 5, 6)]
        accuracies = [m["accuracy"] for m in per_seed]
        cnn = summary["kinds"][kind]["cnn"]
        assert cnn["accuracy"]["values"] == accuracies
        assert cnn["accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
        assert cnn["accuracy"]["std"] == pytest.approx(np.std(accuracies, ddof=1))
        logistic = summary["kinds"][kind]["baselines"]["logistic_image_statistics"]
        assert logistic["accuracy"]["mean"] == pytest.approx(
            np.mean([m["baselines"]["logistic_image_statistics"]["accuracy"] for m in per_seed]))
        assert (repeats / "figures" / f"accuracy_{kind}.png").stat().st_size > 5000
    configs = [json.loads((repeats / f"seed{k}" / "config.json").read_text())["config"]
               for k in (4, 5, 6)]
    assert [c["seed"] for c in configs] == [4, 5, 6]


def test_the_ensemble_averages_the_seeds_probabilities(repeats):
    """The ensemble's scores are those of the mean of the stored test probabilities, which are
    the softmax of each seed's model (rows sum to one, argmax gives its confusion matrix)."""
    summary = json.loads((repeats / "metrics.json").read_text())
    stored = [np.load(repeats / f"seed{k}" / "test_probabilities.npz") for k in (4, 5, 6)]
    for kind in ("slice", "projection"):
        probabilities = [s[f"{kind}_probabilities"] for s in stored]
        labels = stored[0][f"{kind}_labels"]
        assert np.allclose(probabilities[0].sum(axis=1), 1, atol=1e-5)
        own = json.loads((repeats / "seed4" / "metrics.json").read_text())["kinds"][kind]
        names = list(own["per_class_accuracy"])
        assert classification_metrics(labels, probabilities[0].argmax(axis=1), names)[
            "confusion_matrix"] == own["confusion_matrix"]
        mean = np.mean(np.asarray(probabilities, dtype=np.float64), axis=0)
        expected = classification_metrics(labels, mean.argmax(axis=1), names)["accuracy"]
        assert summary["kinds"][kind]["ensemble"]["accuracy"] == pytest.approx(expected)
        assert 0 <= summary["kinds"][kind]["ensemble"]["calibration"]["ece"] <= 1


def test_rerun_keeps_finished_seeds_and_refuses_another_configuration(repeats, prepared,
                                                                       capsys):
    stamp = (repeats / "seed5" / "model.keras").stat().st_mtime_ns
    assert train_cli.cli(["--data", str(prepared), "--out", str(repeats), "--seed", "4",
                          "--repeats", "3", *FLAGS]) == 0
    assert capsys.readouterr().out.count("finished before, kept") == 3
    assert (repeats / "seed5" / "model.keras").stat().st_mtime_ns == stamp
    assert train_cli.cli(["--data", str(prepared), "--out", str(repeats), "--seed", "4",
                          "--repeats", "3", *FLAGS, "--learning-rate", "0.01"]) == 2
    assert "another configuration" in capsys.readouterr().err
    assert evaluate_cli.cli([str(repeats)]) == 0
    table = capsys.readouterr().out
    assert "3 training seeds (4, 5, 6)" in table and "±" in table and "ensemble" in table


def test_repeats_refuse_what_they_cannot_do(prepared, tmp_path):
    with pytest.raises(ConfigError, match="classifier"):
        seed_configs(TrainConfig(task="map"), 3)
    with pytest.raises(ConfigError, match=">= 1"):
        seed_configs(TrainConfig(), 0)
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="not a repeats folder"):
        train_repeats(TrainConfig(data=str(prepared), out=str(tmp_path / "taken")), 2)
    assert evaluate_cli.cli([str(tmp_path / "taken")]) == 2
