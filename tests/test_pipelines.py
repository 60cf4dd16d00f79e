"""The command-line jobs: outputs, resumption, refusals, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from crturb_keras.io.athena import read_athdf, write_athdf
from crturb_keras.io.fits import read_fits_cube
from pipelines import convert, simulate

from helpers import make_snapshot

ARGS = ["--solver", "surrogate", "--resolution", "16", "--snapshots", "2", "--meshblock", "8"]


def test_simulate_cli_writes_outputs_summary_and_figure(tmp_path, capsys):
    out = tmp_path / "sim"
    assert simulate.cli(["--out", str(out), "--classes", "MHD,CR_Diff100", *ARGS]) == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.athdf"))
    assert files == ["CR_Diff100/cr.out1.00000.athdf", "CR_Diff100/cr.out1.00001.athdf",
                     "MHD/cr.out1.00000.athdf", "MHD/cr.out1.00001.athdf"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["resolution"] == 16
    assert set(summary["statistics"]) == {"MHD", "CR_Diff100"}
    assert summary["statistics"]["MHD"]["sigma_ln_rho"] > 0.3
    assert (out / "overview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "4 file(s) written" in capsys.readouterr().out
    assert simulate.cli(["--out", str(out), "--classes", "MHD,CR_Diff100", *ARGS]) == 0
    assert "0 file(s) written, 4 reused" in capsys.readouterr().out


def test_simulate_cli_refuses_other_config_and_bad_flags(tmp_path, capsys):
    out = tmp_path / "sim"
    assert simulate.cli(["--out", str(out), "--classes", "MHD", *ARGS]) == 0
    capsys.readouterr()
    assert simulate.cli(["--out", str(out), "--classes", "MHD", *ARGS, "--mach", "0.9"]) == 2
    err = capsys.readouterr().err
    assert "different surrogate configuration" in err and "Traceback" not in err
    assert simulate.cli(["--out", str(out), "--classes", "Bogus", *ARGS]) == 2
    assert "unknown class" in capsys.readouterr().err


def test_simulate_dataset_preset_gives_defaults_that_explicit_flags_override(tmp_path, capsys):
    from crturb_keras.simulate.campaign import DATASETS

    preset = DATASETS["science-32"]
    args = simulate.dataset_parser(["--preset", "science-32"]).parse_args(["--preset", "science-32"])
    assert (args.resolution, args.seeds, args.classes, args.outputs) == (
        32, preset["seeds"], "all", preset["outputs"])
    assert preset["seeds"] >= 3 and preset["classes"] == "all"
    argv = ["--preset", "science-32", "--resolution", "16", "--seeds", "2"]
    args = simulate.dataset_parser(argv).parse_args(argv)
    assert (args.resolution, args.seeds, args.t_start) == (16, 2, preset["t_start"])
    plain = simulate.dataset_parser([]).parse_args([])
    assert (plain.seeds, plain.outputs) != (preset["seeds"], preset["outputs"])
    athinput = tmp_path / "athinput.turb"
    athinput.write_text("<job>\nproblem_id = Turb\n")
    assert simulate.cli(["--preset", "science-32", "--athinput", str(athinput),
                         "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "give one of the two" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_simulate_refuses_more_devices_than_present_before_writing(tmp_path, capsys):
    out = tmp_path / "sim"
    assert simulate.cli(["--out", str(out), "--classes", "MHD", "--resolution", "16",
                         "--devices", "4096"]) == 2
    err = capsys.readouterr().err
    assert "--devices 4096" in err and "xla_force_host_platform_device_count" in err
    assert "Traceback" not in err and not out.exists()
    assert simulate.cli(["--out", str(out), "--classes", "MHD", "--resolution", "16",
                         "--devices", "2", "--workers", "2"]) == 2
    assert "cannot go with --workers 2" in capsys.readouterr().err and not out.exists()
    athinput = tmp_path / "athinput.turb"
    athinput.write_text("<job>\nproblem_id = Turb\n")
    assert simulate.cli(["--athinput", str(athinput), "--out", str(out), "--processes", "2",
                         "--process-id", "0"]) == 2
    err = capsys.readouterr().err
    assert "--athinput runs on one process" in err and "Traceback" not in err
    assert not out.exists()


def test_convert_single_file_and_folder(tmp_path, capsys):
    sim = tmp_path / "sim"
    assert simulate.cli(["--out", str(sim), "--classes", "MHD,CR_Advect", *ARGS]) == 0
    source = sim / "CR_Advect" / "cr.out1.00001.athdf"
    single = tmp_path / "one.fits"
    assert convert.cli([str(source), str(single), "--fields", "rho,Ec"]) == 0
    cube = read_fits_cube(single)
    assert cube.names == ["rho", "Ec"]
    np.testing.assert_array_equal(cube["Ec"], read_athdf(source)["Ec"])
    assert cube.attributes["SurrogateClass"] == "CR_Advect"

    out = tmp_path / "fits"
    assert convert.cli([str(sim), str(out), "--fields", "rho,Ec"]) == 0
    captured = capsys.readouterr()
    assert "4 FITS file(s) written" in captured.out
    assert "lacks Ec" in captured.err  # MHD runs carry no CR energy
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.fits")) == [
        "CR_Advect/cr.00000.fits", "CR_Advect/cr.00001.fits",
        "MHD/cr.00000.fits", "MHD/cr.00001.fits"]
    assert read_fits_cube(out / "MHD" / "cr.00000.fits").names == ["rho"]
    assert convert.cli([str(sim), str(out)]) == 0
    assert "0 FITS file(s) written, 4 kept" in capsys.readouterr().out


def test_convert_merges_outputs_of_one_cycle(tmp_path):
    write_athdf(make_snapshot(names=("rho", "Bcc1", "Bcc2", "Bcc3")), tmp_path / "run.out1.00002.athdf")
    write_athdf(make_snapshot(names=("Etot",), seed=5), tmp_path / "run.out2.00002.athdf",
                variable="cons")
    assert convert.cli([str(tmp_path), str(tmp_path / "fits")]) == 0
    merged = read_fits_cube(tmp_path / "fits" / "run.00002.fits")
    assert merged.names == ["rho", "Bcc1", "Bcc2", "Bcc3", "Etot"]


def test_convert_errors_are_one_line(tmp_path, capsys):
    assert convert.cli([str(tmp_path / "absent.athdf"), str(tmp_path / "x.fits")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    bad = tmp_path / "bad.athdf"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    assert convert.cli([str(bad), str(tmp_path / "x.fits")]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(bad) in last and "Traceback" not in err


@pytest.mark.parametrize("module", ["pipelines.simulate", "pipelines.convert"])
def test_modules_run_from_the_shell(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "usage: python -m " + module in done.stdout


@pytest.mark.parametrize("job", ["convert", "evaluate", "export", "generate", "interpret",
                                 "predict", "prepare", "simulate", "train", "tune"])
def test_every_job_reports_its_version(job, capsys):
    """``--version`` on every job prints the package version and exits 0 (issue 16, item 5)."""
    import importlib

    from crturb_keras import __version__

    module = importlib.import_module(f"pipelines.{job}")
    with pytest.raises(SystemExit) as stop:
        module.cli(["--version"])
    assert stop.value.code == 0
    assert f"crturb-keras {__version__}" in capsys.readouterr().out


@pytest.mark.parametrize("job", ["convert", "evaluate", "export", "generate", "interpret",
                                 "predict", "prepare", "simulate", "train", "tune"])
def test_every_job_is_quiet_or_verbose_not_both(job, capsys):
    """``-q`` and ``-v`` exist on every job and exclude each other (issue 16, item 5)."""
    import importlib

    module = importlib.import_module(f"pipelines.{job}")
    with pytest.raises(SystemExit) as stop:
        module.cli(["-q", "-v"])
    assert stop.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("config", ["PrepareConfig", "TrainConfig", "GenerateConfig",
                                    "SurrogateConfig", "MHDConfig"])
def test_config_flags_have_help_choices_and_switches(config):
    """Every flag made from a config dataclass carries the field's documentation as help text;
    fields documented with a set of values accept only those; booleans are switches that still
    take an explicit value."""
    import argparse
    import dataclasses

    import crturb_keras
    from pipelines._cli import add_config_arguments, field_docs

    cls = getattr(crturb_keras, config)
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, cls)
    docs = field_docs(cls)
    actions = {a.dest: a for a in parser._actions if a.help != argparse.SUPPRESS}
    for f in dataclasses.fields(cls):
        assert f.name in docs, f"{config}.{f.name} is not documented"
        assert len(actions[f.name].help) > len("(default: x)") + 5, f"{config}.{f.name}"
    booleans = [f.name for f in dataclasses.fields(cls) if isinstance(getattr(cls(), f.name), bool)]
    for name in booleans:
        flag = "--" + name.replace("_", "-")
        default = getattr(cls(), name)
        assert getattr(parser.parse_args([flag]), name) is True
        assert getattr(parser.parse_args(["--no-" + flag[2:]]), name) is False
        assert getattr(parser.parse_args([flag, str(not default).lower()]), name) is (not default)
    for name, (_, choices) in docs.items():
        action = actions.get(name)
        if action is not None and action.choices:
            assert tuple(action.choices) == choices
            with pytest.raises(SystemExit):
                parser.parse_args(["--" + name.replace("_", "-"), "no-such-value"])


def test_crturb_console_script_runs_each_job(capsys):
    """``crturb JOB ...`` (console script, ``python -m pipelines``) dispatches to the job's CLI."""
    from pipelines.__main__ import JOBS, main

    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(job in listed for job in JOBS)
    assert main(["no-such-job"]) == 2 and "unknown job" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["export", "--version"])
    assert stop.value.code == 0 and "crturb-keras" in capsys.readouterr().out
    done = subprocess.run([sys.executable, "-m", "pipelines", "simulate", "--help"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "--resolution" in done.stdout


def test_a_missing_optional_dependency_names_its_extra(tmp_path):
    """Without keras-tuner, ``tune`` fails with one line naming the extra that installs it."""
    code = ("import sys; sys.modules['keras_tuner'] = None\n"
            "from pipelines import tune\n"
            f"sys.exit(tune.cli(['--data', {str(tmp_path)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "crturb-keras[tune]" in done.stderr and "Traceback" not in done.stderr
