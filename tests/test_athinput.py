"""Athena++ input files: parsing, unit conversion to the solver's units, refusal of what the
solver does not do (one line naming the key), and ``simulate --athinput`` writing Athena++'s
file names in the input's units."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crturb_keras.errors import ConfigError, DataFormatError
from crturb_keras.io.athena import read_athdf
from crturb_keras.simulate.mhd import simulate_mhd
from crturb_keras.simulate.mhd.athinput import athinput_run, read_athinput
from pipelines.simulate import cli

#: A small driven MHD box in Athena++'s units: L = 2, c_s = 0.5, rho0 = 2.
MHD = """<comment>
problem = driven turbulence   # a comment

<job>
problem_id = Box

<output1>
file_type = hst
dt = 0.01

<output2>
file_type = hdf5
variable = prim
dt = 0.4

<time>
cfl_number = 0.3
tlim = 0.8
integrator = vl2
xorder = 2

<mesh>
nx1 = 8
x1min = -1.0
x1max = 1.0
ix1_bc = periodic
ox1_bc = periodic
nx2 = 8
x2min = -1.0
x2max = 1.0
nx3 = 8
x3min = 0.0
x3max = 2.0
refinement = none

<meshblock>
nx1 = 4

<hydro>
iso_sound_speed = 0.5

<turbulence>
turb_flag = 3
dedt = 0.4
nlow = 1
nhigh = 3
expo = 2
tcorr = 1.2
f_shear = 1
rseed = 7

<problem>
beta = 2.0
rho0 = 2.0
"""

CR = MHD.replace("<problem>\n", "<cr>\nvmax = 5.0\nvs_flag = 0\n\n<problem>\ncrBeta = 1.0\n")


def _write(tmp_path, text, name="athinput.test"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_mhd_input_converts_to_solver_units(tmp_path):
    """Times in L / c_s, dedt in rho0 c_s**3 L**2, the open shell nlow/nhigh, f_shear, rseed,
    MeshBlock size, outputs every dt up to tlim from t = 0, named after problem_id and the
    output block number."""
    run = athinput_run(_write(tmp_path, MHD))
    c = run.config
    time_unit = 2.0 / 0.5
    assert c.resolution == 8 and c.beta == 2.0 and c.sound_speed == 1.0
    assert c.dedt == pytest.approx(0.4 / (2.0 * 0.5 ** 3 * 2.0 ** 2))
    assert c.t_corr == pytest.approx(1.2 / time_unit)
    assert c.dt_output == pytest.approx(0.4 / time_unit) and c.t_start == 0 and c.outputs == 3
    assert (c.k_min, c.k_max, c.drive_slope, c.solenoidal_weight) == (1, 3, 2, 1)
    assert c.seed == 7 and c.block == 4 and c.cfl == 0.3 and not c.cosmic_rays
    assert run.units.length == 2.0 and run.units.velocity == 0.5 and run.units.density == 2.0
    assert run.units.origin == (-1.0, -1.0, 0.0)
    assert (run.naming.stem, run.naming.block) == ("Box", 2)


def test_cr_inputs_diffusion_from_sigma_and_streaming(tmp_path):
    """``<cr> vmax`` in c_s, ``sigma_par`` as Athena++'s interaction coefficient (``kappa = vmax /
    (3 sigma)``, then in L c_s), ``vs_flag`` as the streaming switch, ``crBeta`` as P_c / P_g;
    ``b0`` instead of ``beta``."""
    diffusion = CR.replace("crBeta = 1.0\n", "crBeta = 1.0\nsigma_par = 10.0\n")
    c = athinput_run(_write(tmp_path, diffusion)).config
    assert c.cosmic_rays and c.cr_pressure_ratio == 1.0 and not c.streaming
    assert c.vmax == pytest.approx(5.0 / 0.5)
    assert c.kappa_par == pytest.approx(5.0 / 30.0 / (2.0 * 0.5)) and c.kappa_perp == 0
    streaming = CR.replace("vs_flag = 0", "vs_flag = 1")
    assert athinput_run(_write(tmp_path, streaming)).config.streaming
    b0 = math.sqrt(2.0) * 0.5          # beta = 2 rho0 c_s**2 / B0**2 = 2 for rho0 = 2
    field = MHD.replace("beta = 2.0", f"b0 = {b0!r}")
    assert athinput_run(_write(tmp_path, field)).config.beta == pytest.approx(2.0)


@pytest.mark.parametrize("change,words", [
    (("iso_sound_speed = 0.5", "gamma = 1.6667"), "<hydro> iso_sound_speed: missing: only an isothermal"),
    (("refinement = none", "refinement = static"), "<mesh> refinement"),
    (("nx2 = 8", "nx2 = 16"), "only cubic grids"),
    (("x2max = 1.0", "x2max = 3.0"), "only cubic boxes"),
    (("ix1_bc = periodic", "ix1_bc = outflow"), "<mesh> ix1_bc"),
    (("turb_flag = 3", "turb_flag = 2"), "<turbulence> turb_flag: 2"),
    (("file_type = hdf5", "file_type = vtk"), "no <outputN> block with file_type = hdf5"),
    (("integrator = vl2", "integrator = rk2"), "<time> integrator"),
    (("xorder = 2", "xorder = 3"), "<time> xorder"),
    (("beta = 2.0", "beta = 2.0\nb0 = 1.0"), "exactly one of beta or b0"),
    (("beta = 2.0", "crBeta = 1.0\nbeta = 2.0"), "no <cr> block"),
    (("dedt = 0.4", "dedt = fast"), "<turbulence> dedt: expected a number"),
    (("nhigh = 3", "nhigh = 1.2"), "no integer wavevector"),
    (("<problem>", "<gravity>\nfour_pi_G = 1\n\n<problem>"), "<gravity>: self-gravity"),
    (("<turbulence>", "<turbulent>"), "no <turbulence> block"),
])
def test_what_the_solver_does_not_do_is_refused_naming_the_key(tmp_path, change, words):
    path = _write(tmp_path, MHD.replace(*change))
    with pytest.raises(ConfigError) as err:
        athinput_run(path)
    message = str(err.value)
    assert words in message and str(path) in message and "\n" not in message


def test_cr_settings_athena_has_and_we_do_not_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="<cr> src_flag"):
        athinput_run(_write(tmp_path, CR.replace("vs_flag = 0", "vs_flag = 0\nsrc_flag = 0")))
    with pytest.raises(ConfigError, match="needs crBeta > 0"):
        athinput_run(_write(tmp_path, CR.replace("crBeta = 1.0\n", "")))


@pytest.mark.parametrize("text,words", [
    ("<mesh>\nnx1 32\n", "expected 'key = value' in <mesh>"),
    ("nx1 = 32\n", "before the first <block>"),
    ("<mesh>\nnx1 = 8\nnx1 = 16\n", "<mesh> nx1 is set twice"),
    ("<mesh>\n<mesh>\n", "block <mesh> appears twice"),
    ("# only a comment\n", "no <block> found"),
])
def test_malformed_files_get_one_line_with_the_line_number(tmp_path, text, words):
    path = _write(tmp_path, text)
    with pytest.raises(DataFormatError) as err:
        read_athinput(path)
    assert words in str(err.value) and str(path) in str(err.value)


def test_unreadable_file_is_a_data_format_error(tmp_path):
    path = tmp_path / "athinput.bin"
    path.write_bytes(b"\xff\xfe\x00<mesh>")
    with pytest.raises(DataFormatError, match="cannot read"):
        read_athinput(path)
    with pytest.raises(DataFormatError, match="cannot read"):
        read_athinput(tmp_path / "missing")


def test_cli_runs_an_input_file_in_its_units_with_athena_names(tmp_path, capsys):
    """``simulate --athinput`` writes ``Box.out2.0000N.athdf`` into OUT at t = 0, 0.4, 0.8 (the
    file's units), with coordinates of the file's box and fields scaled by rho0, c_s and
    sqrt(rho0) c_s: exactly the solver-unit run scaled. A re-run reuses it; other configuration
    flags next to --athinput are refused."""
    path = _write(tmp_path, MHD)
    out = tmp_path / "run"
    assert cli(["--athinput", str(path), "--out", str(out), "-q"]) == 0
    names = sorted(p.name for p in out.glob("*.athdf"))
    assert names == [f"Box.out2.{i:05d}.athdf" for i in range(3)]
    assert (out / "Box.hst").exists()
    fields = ["rho", "vel1", "vel2", "vel3", "Bcc1", "Bcc2", "Bcc3"]
    snap = read_athdf(out / "Box.out2.00002.athdf", fields)
    assert snap.time == pytest.approx(0.8, rel=1e-6)
    assert snap.x1f[0] == pytest.approx(-1.0) and snap.x1f[-1] == pytest.approx(1.0)
    assert snap.x3f[0] == pytest.approx(0.0) and snap.x3f[-1] == pytest.approx(2.0)
    code = simulate_mhd(athinput_run(path).config, tmp_path / "code")
    reference = read_athdf(code.files[2], fields)
    scale = {"rho": 2.0, "vel1": 0.5, "vel2": 0.5, "vel3": 0.5}
    for name in fields:
        factor = scale.get(name, math.sqrt(2.0) * 0.5)
        np.testing.assert_allclose(snap[name], reference[name] * factor, rtol=1e-6)
    assert np.mean(reference["rho"]) == pytest.approx(1.0, rel=1e-5)
    capsys.readouterr()
    assert cli(["--athinput", str(path), "--out", str(out)]) == 0
    assert "reused" in capsys.readouterr().out
    assert cli(["--athinput", str(path), "--out", str(out), "--resolution", "16"]) == 2
    assert "drop --resolution" in capsys.readouterr().err
