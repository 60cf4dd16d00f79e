"""Which .athdf files make which FITS cube, and what the conversion keeps or refuses."""

import pytest
from helpers import make_snapshot

from crturb_keras.errors import ConfigError
from crturb_keras.io import read_fits_cube, write_athdf
from crturb_keras.io.conversion import convert, plan_athdf, plan_yt


@pytest.fixture
def outputs(tmp_path):
    """Two cycles of one run, the first written by two output blocks, below ``tmp_path/run``."""
    run = tmp_path / "run" / "MHD"
    run.mkdir(parents=True)
    write_athdf(make_snapshot(names=("rho",)), run / "cr.out1.00000.athdf")
    write_athdf(make_snapshot(names=("Etot",), seed=2), run / "cr.out2.00000.athdf",
                variable="cons")
    write_athdf(make_snapshot(names=("rho",), seed=3), run / "cr.out1.00001.athdf")
    return tmp_path


def test_outputs_are_grouped_by_cycle_below_the_folder_searched(outputs):
    jobs = plan_athdf([outputs / "run"], outputs / "fits")
    assert [(len(files), target.relative_to(outputs).as_posix()) for files, target in jobs] == [
        (2, "fits/MHD/cr.00000.fits"), (1, "fits/MHD/cr.00001.fits")]
    with pytest.raises(ConfigError, match="2 cycles to convert need an output folder"):
        plan_athdf([outputs / "run"], outputs / "one.fits")
    with pytest.raises(ConfigError, match="no such file"):
        plan_yt([outputs / "absent"], outputs / "x.fits")


def test_conversion_merges_keeps_and_reports_missing_fields(outputs):
    jobs = plan_athdf([outputs / "run"], outputs / "fits")
    done = convert(jobs, fields=["rho", "Etot"])
    assert (done.written, done.kept) == (2, 0)
    assert len(done.partial) == 1 and "lacks Etot" in done.partial[0]
    assert read_fits_cube(jobs[0][1]).names == ["rho", "Etot"]
    assert convert(jobs).kept == 2
    with pytest.raises(ConfigError, match="none of the fields Ec"):
        convert(jobs, fields=["Ec"], overwrite=True)
    with pytest.raises(ConfigError, match="--class-name"):
        convert(jobs, class_name="../x")


def test_quiet_hides_the_library_progress_bars(outputs, capsys):
    """``-q`` sets TQDM_DISABLE; a bar asked for by the library must honour it."""
    from pipelines import convert as command

    assert command.cli([str(outputs / "run"), str(outputs / "a"), "-q"]) == 0
    assert "convert" not in capsys.readouterr().err
    assert command.cli([str(outputs / "run"), str(outputs / "b")]) == 0
    assert "convert" in capsys.readouterr().err
