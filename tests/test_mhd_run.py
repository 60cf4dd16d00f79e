"""The MHD solver as a job: Athena++ outputs and history, resume from a checkpoint, reuse and
refusal, the command line, and the outputs going through prepare and the tf.data pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crturb_keras.data.sources import discover_sources
from crturb_keras.data import PrepareConfig, prepare
from crturb_keras.errors import ConfigError, SplitError
from crturb_keras.io.athena import read_athdf
from crturb_keras.simulate.mhd import MHDConfig, evolve_snapshots, simulate_mhd
from crturb_keras.simulate.mhd.diagnostics import read_history
from crturb_keras.simulate.stats import correlation_lengths, turbulence_statistics
from pipelines.simulate import cli

FIELDS = ["rho", "vel1", "vel2", "vel3", "Bcc1", "Bcc2", "Bcc3"]
SMALL = dict(resolution=16, k_max=3, t_start=0.2, dt_output=0.1, outputs=2)


class _Killed(Exception):
    pass


@pytest.mark.slow
def test_run_writes_athena_outputs_history_and_figure(tmp_path):
    """Outputs at t_start + i dt_output with prim + B fields and the configuration attached;
    a history with one row per 0.05 whose injected energy is dedt t; the figure; no checkpoint
    left; identical to the in-memory snapshots of evolve_snapshots."""
    config = MHDConfig(**SMALL, dedt=0.2)
    result = simulate_mhd(config, tmp_path)
    assert not result.reused and result.steps > 0
    snaps = [read_athdf(p, FIELDS) for p in result.files]
    assert [s.time for s in snaps] == pytest.approx([0.2, 0.3])
    assert snaps[0].shape == (16, 16, 16)
    assert MHDConfig.from_json(snaps[0].attributes["MHDConfig"]) == config
    assert snaps[0].attributes["SimulationClass"] == "MHD"
    assert np.all(snaps[1]["rho"] > 0) and snaps[1]["vel2"].std() > 0
    history = read_history(result.history)
    assert history["time"][-1] == pytest.approx(0.3)
    assert np.diff(history["time"]) == pytest.approx(np.full(5, 0.05))
    assert history["injected_energy"][-1] == pytest.approx(0.2 * 0.3, rel=1e-5)
    assert np.all(history["dedt"] == 0.2)
    assert (result.folder / "history.png").stat().st_size > 0
    assert not (result.folder / "checkpoint.npz").exists()
    memory = list(evolve_snapshots(config))
    assert np.array_equal(memory[1]["rho"], snaps[1]["rho"])
    assert np.array_equal(memory[1]["Bcc3"], snaps[1]["Bcc3"])


def test_killed_run_resumes_from_its_checkpoint_to_the_same_result(tmp_path):
    """A run stopped after its first output resumes from the checkpoint (saying from when) and
    ends bit-identical to an uninterrupted run; a finished run is then reused; other settings in
    the same folder are refused."""
    config = MHDConfig(**SMALL, dedt=0.2, checkpoint_interval=1e-9)
    reference = simulate_mhd(config, tmp_path / "reference")

    def kill_after_first_output(report):
        if report.output == 0:
            raise _Killed

    with pytest.raises(_Killed):
        simulate_mhd(config, tmp_path / "killed", progress=kill_after_first_output)
    folder = tmp_path / "killed" / "MHD"
    assert (folder / "checkpoint.npz").exists()
    assert not json.loads((folder / "run.json").read_text())["finished"]
    resumed = simulate_mhd(config, tmp_path / "killed")
    assert resumed.resumed_from == pytest.approx(0.2, abs=0.051)
    for a, b in zip(reference.files, resumed.files):
        assert np.array_equal(read_athdf(a, FIELDS)["vel1"], read_athdf(b, FIELDS)["vel1"])
    again = simulate_mhd(config, tmp_path / "killed")
    assert again.reused
    with pytest.raises(ConfigError, match="different configuration"):
        simulate_mhd(MHDConfig(**{**SMALL, "outputs": 3}, dedt=0.2), tmp_path / "killed")


def test_surrogate_outputs_in_the_folder_are_not_overwritten(tmp_path):
    """A folder holding other .athdf files (not this solver's run) is refused."""
    (tmp_path / "MHD").mkdir()
    (tmp_path / "MHD" / "cr.out1.00000.athdf").write_bytes(b"not ours")
    with pytest.raises(ConfigError, match="not made by this solver"):
        simulate_mhd(MHDConfig(**SMALL), tmp_path)
    assert (tmp_path / "MHD" / "cr.out1.00000.athdf").read_bytes() == b"not ours"


def test_cli_runs_reports_statistics_and_refuses_bad_flags(tmp_path, capsys):
    """``pipelines.simulate --solver mhd`` prints M_s, M_A, beta, sigma(ln rho), slope and
    anisotropy and writes summary.json and both figures; impossible flags give one line, exit 2."""
    args = ["--solver", "mhd", "--classes", "MHD", "--out", str(tmp_path), "--resolution", "16",
            "--k-max", "3", "--t-start", "0.2", "--dt-output", "0.1", "--outputs", "2",
            "--beta", "1"]
    assert cli(args) == 0
    out = capsys.readouterr().out
    assert "M_s" in out and "anisotropy" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    stats = summary["statistics"]["MHD"]
    assert stats["beta"] == pytest.approx(1.0, rel=1e-3)
    assert 0 < stats["mach_sonic"] < 1
    assert (tmp_path / "overview.png").exists() and (tmp_path / "MHD" / "history.png").exists()
    assert cli(args) == 0
    assert "reused" in capsys.readouterr().out
    assert cli(["--solver", "mhd", "--out", str(tmp_path / "x"), "--cfl", "0.9"]) == 2
    assert cli(["--solver", "mhd", "--out", str(tmp_path / "x"), "--classes", "../escape"]) == 2
    assert not (tmp_path / "escape").exists()
    assert cli(["--solver", "mhd", "--out", str(tmp_path / "x"), "--mach", "nan"]) == 2
    assert "cfl" in capsys.readouterr().err


@pytest.mark.slow
def test_solver_outputs_go_through_prepare_and_the_pipeline(tmp_path):
    """Two runs with different beta, named as classes, are prepared (buffered split along x1)
    and read back by make_dataset without any conversion."""
    for name, beta in (("MHD", 10.0), ("MHD_beta1", 1.0)):
        simulate_mhd(MHDConfig(resolution=32, k_max=3, t_start=0.1, dt_output=0.05, outputs=2,
                               beta=beta, dedt=0.3), tmp_path / "sim", name=name)
    prep = prepare(discover_sources([str(tmp_path / "sim")]), tmp_path / "prep",
                   PrepareConfig(tile=16, buffer="2"), progress=False)
    manifest = json.loads((tmp_path / "prep" / "manifest.json").read_text())
    assert sorted(manifest["classes"]) == ["MHD", "MHD_beta1"]
    from crturb_keras.data.pipeline import make_dataset

    images, labels = next(iter(make_dataset(tmp_path / "prep", "train", "classify",
                                            batch_size=8)))
    assert images.shape[1:] == (16, 16, 1)
    assert set(np.asarray(labels).tolist()) <= {0, 1}
    assert prep is not None


def test_turbulence_statistics_measure_known_fields():
    """Correlation lengths see elongation along x1; Mach numbers and beta of a known field."""
    n = 32
    x = np.arange(n) / n
    x3, x2, x1 = np.meshgrid(x, x, x, indexing="ij")
    elongated = np.cos(2 * np.pi * x1) + np.cos(2 * np.pi * 4 * x2) + np.cos(2 * np.pi * 4 * x3)
    l1, l2, l3 = correlation_lengths(elongated)
    assert l1 > 2 * l2 and l2 == pytest.approx(l3)
    from crturb_keras.snapshot import Snapshot

    faces = np.linspace(0, 1, n + 1)
    rho = np.exp(0.1 * elongated).astype(np.float32)
    fields = {"rho": rho, "vel1": np.full_like(rho, 0.5), "vel2": np.zeros_like(rho),
              "vel3": np.zeros_like(rho), "Bcc1": np.full_like(rho, np.sqrt(0.2)),
              "Bcc2": np.zeros_like(rho), "Bcc3": np.zeros_like(rho)}
    stats = turbulence_statistics([Snapshot(fields, faces, faces, faces)])
    assert stats["mach_sonic"] == pytest.approx(0.5, rel=1e-6)
    assert stats["beta"] == pytest.approx(2 * rho.mean() / 0.2, rel=1e-5)
    assert stats["mach_alfven"] == pytest.approx(0.5 / np.sqrt(0.2 / rho.mean()), rel=1e-5)
    assert stats["anisotropy"] > 2


@pytest.mark.slow
def test_simulating_imports_neither_tensorflow_nor_keras():
    """Running the solver (API and CLI module) never pays for importing TensorFlow or Keras."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import pipelines.simulate\n"
        "from crturb_keras import MHDConfig, evolve_snapshots\n"
        "snaps = list(evolve_snapshots(MHDConfig(resolution=8, k_max=3, t_start=0.02, "
        "dt_output=0.01, outputs=1, dedt=0.1)))\n"
        "assert snaps[0]['rho'].shape == (8, 8, 8)\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_output_times_not_representable_in_float32_are_reached():
    """float32(0.02) is below 0.02: the run must still write its output there, not loop forever
    (it did: the chunk target rounded to the current time and no step was taken)."""
    snaps = list(evolve_snapshots(MHDConfig(resolution=8, k_max=3, t_start=0.02, dt_output=0.01,
                                            outputs=2, dedt=0.1)))
    assert [s.time for s in snaps] == pytest.approx([0.02, 0.03], rel=1e-6)


@pytest.mark.slow
def test_seeds_give_independent_runs_that_prepare_splits_whole(tmp_path, capsys):
    """``simulate --seeds 3`` writes OUT/<class>/seed<k>/ from three driving seeds (different
    boxes); ``prepare --split-by realization`` gives each run wholly to one split, so no run
    (hence no correlated structure) is shared between train, val and test."""
    args = ["--classes", "MHD", "--seeds", "3", "--out", str(tmp_path / "sim"),
            "--resolution", "16", "--k-max", "3", "--t-start", "0.2", "--dt-output", "0.1",
            "--outputs", "2", "--dedt", "0.3"]
    assert cli(args) == 0
    runs = sorted(p.name for p in (tmp_path / "sim" / "MHD").iterdir() if p.is_dir())
    assert runs == ["seed0", "seed1", "seed2"]
    last = [read_athdf(tmp_path / "sim" / "MHD" / r / "cr.out1.00001.athdf", ["rho"])["rho"]
            for r in runs]
    assert not np.array_equal(last[0], last[1]) and not np.array_equal(last[1], last[2])
    sources = discover_sources([str(tmp_path / "sim")])
    assert {s.class_name for s in sources} == {"MHD"}
    manifest = prepare(sources, tmp_path / "prep",
                       PrepareConfig(tile=16, split_by="realization"), progress=False)
    run_of_split = {}
    for entry, layout in zip(manifest.sources, manifest.layouts):
        (region,) = layout.regions
        assert (region.start, region.stop) == (0, 16)
        folder = str(Path(entry["files"][0]["path"]).parent.name)
        run_of_split.setdefault(region.split, set()).add(folder)
    assert run_of_split == {"train": {"seed0"}, "val": {"seed1"}, "test": {"seed2"}}
    with pytest.raises(SplitError, match="--seeds"):
        prepare(discover_sources([str(tmp_path / "sim" / "MHD" / "seed0" / "*.athdf"),
                                  str(tmp_path / "sim" / "MHD" / "seed1" / "*.athdf")]),
                tmp_path / "prep2", PrepareConfig(tile=16, split_by="realization"),
                progress=False)
