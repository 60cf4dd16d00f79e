"""Hyperparameter search: spaces, local search and resume, chief + workers, lost workers, failures."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras_tuner as kt
import pytest

from crturb_keras.errors import ConfigError, CrturbError
from crturb_keras.runs.training import TrainConfig
from pipelines import tune as tune_cli
from tuning import search, space as spaces
from tuning.hypermodels import CrturbHyperModel

from helpers import surrogate_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return surrogate_dataset(tmp_path_factory.mktemp("tune"))


def test_search_space_overrides_and_errors():
    space = spaces.apply_overrides(spaces.default_space("classify"),
                                   ["depth=3", "learning_rate=1e-4:1e-3", "base_filters=8,16"])
    assert space["depth"] == {"type": "fixed", "value": 3}
    assert space["learning_rate"] == {"type": "float", "min": 1e-4, "max": 1e-3, "log": True}
    assert space["base_filters"] == {"type": "choice", "values": [8, 16]}
    with pytest.raises(ConfigError, match="unknown hyperparameter; this search has"):
        spaces.apply_overrides(space, ["width=3"])
    with pytest.raises(ConfigError, match="min 0.5 > max 0.1"):
        spaces.apply_overrides(space, ["dropout=0.5:0.1"])
    with pytest.raises(ConfigError, match="at most 2"):
        spaces.fit_to_data(space, max_depth=2, user_set=["depth=3"])
    clipped = spaces.fit_to_data(spaces.default_space("classify"), max_depth=3, user_set=[])
    assert clipped["depth"] == {"type": "int", "min": 2, "max": 3}
    text = spaces.describe(clipped)
    assert "depth" in text and "(log)" in text and "one of 4, 8, 16" in text
    with pytest.raises(ConfigError, match="objective for classify"):
        search.objective_for("classify", "val_ssim")


def test_keras_tuner_internals_we_rely_on_are_there():
    """``tuning/search.py`` (the one module that touches keras-tuner's private ``src``) needs
    these names; an upgrade that moves them fails here, not in a distributed search."""
    import inspect

    from keras_tuner.src.distribute import oracle_chief
    from keras_tuner.src.engine import oracle as oracle_module
    from keras_tuner.src.engine import trial as trial_module

    assert callable(oracle_chief.exit_chief) and callable(oracle_module.synchronized)
    assert hasattr(oracle_module.LOCKS, "__getitem__")
    for status in ("STOPPED", "IDLE", "INVALID", "FAILED", "COMPLETED"):
        assert hasattr(trial_module.TrialStatus, status)
    assert {"hyperparameters", "trial_id", "status"} <= set(
        inspect.signature(trial_module.Trial).parameters)


def _rows(path: Path) -> list[dict]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_local_search_retrains_and_reports(data, tmp_path, capsys):
    out = tmp_path / "tune"
    args = ["--data", str(data), "--tuner", "random", "--max-trials", "2", "--epochs", "2",
            "--final-epochs", "2", "--out", str(out), "--set", "base_filters=4,8"]
    assert tune_cli.cli(args) == 0
    shown = capsys.readouterr()
    printed = shown.out
    assert "search space (random, 2 trials, objective val_loss)" in printed
    # progress: a bar over the trials that reaches 2/2, then the retraining's epochs
    assert "trials: 100%" in shown.err and "2/2" in shown.err
    assert "Epoch 2/2" in printed
    rows = _rows(out / "results.csv")
    assert len(rows) == 2 and {r["status"] for r in rows} == {"COMPLETED"}
    assert all(r["base_filters"] in ("4", "8") and int(r["epochs"]) == 2 for r in rows)
    assert float(rows[0]["score"]) <= float(rows[1]["score"])  # best first
    assert (out / "results.md").read_text().startswith("Objective: val_loss (min)")
    assert (out / "results.png").exists()
    best = json.loads((out / "best_hyperparameters.json").read_text())
    assert best["base_filters"] in (4, 8)
    assert json.loads((out / "best" / "config.json").read_text())["config"]["base_filters"] == \
        best["base_filters"]
    assert (out / "best" / "metrics.json").exists() and (out / "best" / "saved_model").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["completed_trials"] == 2 and summary["failed_trials"] == []
    assert tune_cli.cli([*args[:-1], "base_filters=16"]) == 2
    assert "holds a different search" in capsys.readouterr().err


@pytest.mark.slow
def test_retrained_configurations_are_compared_over_seeds(data, tmp_path, capsys):
    """With --repeats 2 the best and the default configuration are each retrained over seeds
    3 and 4 and compared as mean ± std; the first seed is exported; the U-net is refused."""
    out = tmp_path / "tune"
    args = ["--data", str(data), "--tuner", "random", "--max-trials", "1", "--epochs", "1",
            "--final-epochs", "2", "--out", str(out), "--set", "depth=2", "--seed", "3",
            "--repeats", "2", "--compare-default", "--quiet"]
    assert tune_cli.cli(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("2 training seeds (3, 4); mean ± std over seeds") == 2
    for name in ("best", "default"):
        summary = json.loads((out / name / "metrics.json").read_text())
        assert summary["task"] == "classify_repeats" and summary["seeds"] == [3, 4]
        assert len(summary["kinds"]["slice"]["cnn"]["accuracy"]["values"]) == 2
    assert (out / "best" / "seed3" / "saved_model").is_dir()
    assert tune_cli.cli(["--data", str(data), "--task", "map", "--repeats", "2", "--out",
                         str(tmp_path / "map")]) == 2
    assert "only for the classifier" in capsys.readouterr().err


@pytest.mark.slow
def test_search_resumes_after_interruption(data, tmp_path):
    out = tmp_path / "resume"
    command = [sys.executable, "-m", "pipelines.tune", "--data", str(data), "--tuner", "random",
               "--max-trials", "3", "--epochs", "30", "--patience", "30", "--final-epochs", "1",
               "--out", str(out), "--set", "depth=2", "--set", "base_filters=4"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    trial0 = out / "search" / "trial_0" / "trial.json"
    deadline = time.time() + 180
    while time.time() < deadline and not (out / "search" / "trial_1").exists():
        time.sleep(0.5)
    time.sleep(2)
    first.send_signal(signal.SIGKILL)  # interrupted in the middle of trial 1
    first.wait()
    assert json.loads(trial0.read_text())["status"] == "COMPLETED"
    stamp = trial0.stat().st_mtime_ns
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _rows(out / "results.csv")
    assert sorted(r["trial"] for r in rows) == ["0", "1", "2"]
    assert {r["status"] for r in rows} == {"COMPLETED"}
    assert trial0.stat().st_mtime_ns == stamp  # the finished trial was not run again


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _distributed(data, out, trials, epochs, extra=()):
    port = _free_port()
    base = [sys.executable, "-m", "pipelines.tune", "--data", str(data), "--tuner", "random",
            "--max-trials", str(trials), "--epochs", str(epochs), "--patience", str(epochs),
            "--final-epochs", "1", "--out", str(out), "--oracle", f"127.0.0.1:{port}",
            "--set", "depth=2", "--set", "base_filters=4", *extra]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")

    def start(*role, log):
        return subprocess.Popen([*base, *role], cwd=ROOT, env=env, stdout=open(log, "w"),
                                stderr=subprocess.STDOUT)

    chief = start("--distributed", "chief", log=out.parent / "chief.log")
    time.sleep(4)
    workers = [start("--distributed", "worker", "--worker-id", str(i),
                     log=out.parent / f"worker{i}.log") for i in range(2)]
    return chief, workers


def _oracle_state(out: Path) -> dict:
    path = out / "search" / "oracle.json"
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.mark.slow
def test_losing_a_worker_does_not_lose_the_search(data, tmp_path):
    """A chief and two workers share three trials; one worker is killed mid-trial. Its trial is
    run again, every other trial exactly once, the surviving worker finds no trials left, and
    the chief finishes the search."""
    out = tmp_path / "lost" / "tune"
    out.parent.mkdir()
    chief, workers = _distributed(data, out, trials=3, epochs=40,
                                  extra=("--worker-timeout", "15"))
    deadline = time.time() + 180
    while time.time() < deadline and "tuner0" not in _oracle_state(out).get("ongoing_trials", {}):
        time.sleep(0.5)
    time.sleep(3)
    workers[0].send_signal(signal.SIGKILL)
    assert chief.wait(timeout=600) == 0, (out.parent / "chief.log").read_text()[-3000:]
    assert workers[1].wait(timeout=60) == 0
    rows = _rows(out / "results.csv")
    assert len(rows) == 3 and {r["status"] for r in rows} == {"COMPLETED"}
    assert "lost worker(s), their trials retried: tuner0" in (out.parent / "chief.log").read_text()
    runs = _oracle_state(out)["run_times"]
    assert sorted(runs.values()) == [1, 1, 2]  # only the dead worker's trial ran twice
    assert "no trials left" in (out.parent / "worker1.log").read_text()


class _Crashing(CrturbHyperModel):
    """Crashes in training (as a missing dependency would) for the ``bad`` base_filters."""

    def __init__(self, base, space, bad):
        super().__init__(base, space)
        self.bad = bad

    def fit(self, hp, model, *args, **kwargs):
        if self.config_for(hp).base_filters in self.bad:
            raise ValueError(f"planted failure for base_filters={self.config_for(hp).base_filters}")
        return super().fit(hp, model, *args, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("bad, all_fail", [((4, 8), True), ((4,), False)])
def test_failed_trials_are_reported_not_hidden(data, tmp_path, bad, all_fail):
    space = spaces.apply_overrides(spaces.default_space("classify"),
                                   ["depth=2", "base_filters=4,8", "batch_size=64"])
    hypermodel = _Crashing(TrainConfig(data=str(data), epochs=1), space, bad)
    tuner = search.make_tuner("random", hypermodel, tmp_path, 2, kt.Objective("val_loss", "min"),
                              seed=3)
    if all_fail:
        with pytest.raises(CrturbError, match="all .* trial\\(s\\) failed.*planted failure"):
            search.run_search(tuner, epochs=1)
    else:
        outcome = search.run_search(tuner, epochs=1)
        assert outcome["completed"] >= 1 and outcome["failed"]
        assert all("planted failure for base_filters=4" in m for _, m in outcome["failed"])


def test_distributed_roles_set_keras_tuners_variables(monkeypatch):
    from tuning.search import set_role

    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)
    set_role("worker", "10.0.0.1:8000", "3")
    assert (os.environ["KERASTUNER_TUNER_ID"], os.environ["KERASTUNER_ORACLE_IP"],
            os.environ["KERASTUNER_ORACLE_PORT"]) == ("tuner3", "10.0.0.1", "8000")
    set_role("chief", "[::1]:9000")
    assert (os.environ["KERASTUNER_TUNER_ID"], os.environ["KERASTUNER_ORACLE_IP"]) == ("chief", "[::1]")
    for role, oracle, worker, message in (("worker", "h:1", None, "--worker-id"),
                                          ("chief", "nohost", None, "HOST:PORT"),
                                          ("boss", "h:1", None, "chief or worker")):
        with pytest.raises(ConfigError, match=message):
            set_role(role, oracle, worker)
