"""Any yt dataset in (issue 16, item 3): ``read_yt`` on refined Athena++ meshes at a chosen level
and on a FITS cube through yt's FITS frontend, and ``--source yt:PATH`` in ``prepare``."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from astropy.io import fits
from helpers import make_snapshot, write_refined_athdf

from crturb_keras.data.sources import discover_sources
from crturb_keras.errors import ConfigError, DataFormatError
from crturb_keras.io import write_fits_cube
from crturb_keras.io.yt_reader import read_yt

pytest.importorskip("yt", reason="yt is an optional dependency (pip install -e '.[yt]')")


def linear(x1, x2, x3):
    return 1.0 + x1 + 2.0 * x2 + 3.0 * x3


def curved(x1, x2, x3):
    return x1 * x1 + x2


def centres(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell centres (x1, x2, x3), each of shape (n, n, n) indexed [k, j, i], of an n^3 grid on
    [0, 1]^3."""
    c = (np.arange(n) + 0.5) / n
    x3, x2, x1 = np.meshgrid(c, c, c, indexing="ij")
    return x1, x2, x3


def block_mean(cube: np.ndarray) -> np.ndarray:
    """Mean over 2x2x2 blocks: (2n, 2n, 2n) -> (n, n, n)."""
    n = cube.shape[0] // 2
    return cube.reshape(n, 2, n, 2, n, 2).mean(axis=(1, 3, 5))


def test_refined_athena_mesh_at_each_level(tmp_path):
    """Level 1: fine blocks exactly, the coarse region injected (each coarse value in its 2^3
    fine cells). Level 0: the coarse blocks exactly, and the refined corner, which has no
    coarse block in the file, the mean of its fine cells (not zeros, not a sample)."""
    path = write_refined_athdf(tmp_path / "amr.out1.00007.athdf",
                               {"rho": linear, "vel1": curved}, time=0.5, cycle=7)
    fine = read_yt(path, ["rho", "vel1"], level=1)
    coarse = read_yt(path, ["rho", "vel1"], level=0)
    assert read_yt(path, ["rho"]).shape == fine.shape == (32, 32, 32)   # default: the finest
    assert coarse.shape == (16, 16, 16)
    assert (coarse.attributes["level"], fine.attributes["level"]) == (0, 1)
    assert (fine.time, fine.cycle) == (0.5, 7)
    np.testing.assert_allclose(fine.x1f, np.linspace(0, 1, 33))
    np.testing.assert_allclose(coarse.x3f, np.linspace(0, 1, 17))
    for name, f in (("rho", linear), ("vel1", curved)):
        exact_fine, exact_coarse = f(*centres(32)), f(*centres(16))
        injected = exact_coarse.repeat(2, 0).repeat(2, 1).repeat(2, 2)
        refined = np.zeros((32, 32, 32), bool)
        refined[:16, :16, :16] = True                     # [0, 0.5)^3, stored at level 1
        np.testing.assert_allclose(fine[name][refined], exact_fine[refined], rtol=1e-6)
        np.testing.assert_allclose(fine[name][~refined], injected[~refined], rtol=1e-6)
        expected = exact_coarse.copy()
        expected[:8, :8, :8] = block_mean(exact_fine)[:8, :8, :8]
        np.testing.assert_allclose(coarse[name], expected, rtol=1e-6, atol=1e-7)
    # the curved field tells a mean from a centre sample in the refined corner
    assert not np.allclose(coarse["vel1"][:8, :8, :8], curved(*centres(16))[:8, :8, :8],
                           rtol=1e-6, atol=1e-7)


def test_yt_sources_take_their_class_and_level(tmp_path):
    """``yt:`` globs become one Source per file, reading through yt at the spec's level
    (stored and derived names); the class comes from folders or the file, else one error
    naming the fix."""
    for label in ("A", "B"):
        (tmp_path / label).mkdir()
        write_refined_athdf(tmp_path / label / "run.out1.00007.athdf")
    sources = discover_sources([f"yt@0:{tmp_path}/*/*.athdf"], classes_from_dirs=True)
    assert [(s.class_name, s.reader, s.level) for s in sources] == [("A", "yt", 0),
                                                                     ("B", "yt", 0)]
    assert sources[0].variables() == {"rho", "log10_rho"}
    snap = sources[0].read(["log10_rho"])
    assert snap.names == ["log10_rho"] and snap.shape == (16, 16, 16)
    np.testing.assert_allclose(snap["log10_rho"], np.log10(linear(*centres(16))), rtol=1e-5)
    assert discover_sources([f"yt:{tmp_path}/A/*.athdf"], True)[0].level is None
    with pytest.raises(ConfigError, match=r"run.out1.00007.athdf: cannot tell its class.*"
                                          r"--classes-from-dirs"):
        discover_sources([f"yt:{tmp_path}/*/*.athdf"])
    labelled = write_refined_athdf(tmp_path / "x.athdf", attributes={"SimulationClass": "MHD"})
    assert discover_sources([f"yt:{labelled}"])[0].class_name == "MHD"


@pytest.mark.parametrize("spec, message", [
    ("yt@one:{root}/x.athdf", "write yt:PATH or yt@LEVEL:PATH"),
    ("yt:{root}", "is a folder.*glob"),
    ("yt:{root}/*.nothing", "no file matches"),
])
def test_bad_yt_specs_name_the_fix(tmp_path, spec, message):
    with pytest.raises(ConfigError, match=message):
        discover_sources([spec.format(root=tmp_path)], classes_from_dirs=True)


def test_without_yt_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    path = write_refined_athdf(tmp_path / "a.athdf")
    monkeypatch.setitem(sys.modules, "yt", None)            # import yt now raises ImportError
    with pytest.raises(ConfigError, match="pip install yt"):
        discover_sources([f"yt:{path}"], classes_from_dirs=True)
    with pytest.raises(ConfigError, match="pip install yt"):
        read_yt(path)


def test_a_file_yt_cannot_load_is_one_clear_error(tmp_path, capsys):
    from pipelines.prepare import cli

    (tmp_path / "MHD").mkdir()
    junk = tmp_path / "MHD" / "notes.dat"
    junk.write_text("not a simulation output\n")
    with pytest.raises(DataFormatError, match="notes.dat: yt cannot open it"):
        read_yt(junk)
    with pytest.raises(DataFormatError, match="absent.athdf: no such file"):
        read_yt(tmp_path / "absent.athdf")
    no_units = tmp_path / "no_bunit.fits"          # yt's FITS frontend fails indexing it
    fits.PrimaryHDU(np.ones((4, 4, 4), np.float32)).writeto(no_units)
    with pytest.raises(DataFormatError, match="no_bunit.fits: yt cannot open it.*BUNIT"):
        read_yt(no_units)
    code = cli(["--source", f"yt:{junk}", "--classes-from-dirs", "--out",
                str(tmp_path / "prep"), "--tile", "8", "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{junk}: yt cannot open it" in err and "--source yt:" in err
    assert "Traceback" not in err
    assert not (tmp_path / "prep").exists()


@pytest.mark.slow
def test_prepare_from_yt_class_folders(tmp_path, capsys):
    """``prepare --source yt:GLOB --classes-from-dirs`` over two worker processes: refined
    Athena++ files become a prepared dataset of the chosen level's shape and both classes."""
    from pipelines.prepare import cli

    rng = np.random.default_rng(0)
    for label, slope in (("CR_Advect", 1.0), ("MHD", 3.0)):
        (tmp_path / "runs" / label).mkdir(parents=True)
        for seed in range(2):
            noise = rng.uniform(0.5, 1.5)
            write_refined_athdf(
                tmp_path / "runs" / label / f"amr.out1.{seed:05d}.athdf",
                {"rho": lambda x1, x2, x3, s=slope, n=noise:
                    1.0 + s * x1 + n * np.sin(6.0 * x2) ** 2 + x3})
    shapes = {}
    for spec, out in (("yt", "fine"), ("yt@0", "coarse")):
        code = cli(["--source", f"{spec}:{tmp_path}/runs/*/*.athdf", "--classes-from-dirs",
                    "--out", str(tmp_path / out), "--tile", "8", "--buffer", "1",
                    "--workers", "2", "-q"])
        assert code == 0, capsys.readouterr().err
        manifest = json.loads((tmp_path / out / "manifest.json").read_text())
        assert sorted(manifest["classes"]) == ["CR_Advect", "MHD"]
        assert len(manifest["sources"]) == 4
        shapes[out] = {tuple(s["shape"]) for s in manifest["sources"]}
        for label in manifest["classes"]:
            assert manifest["counts"]["train"]["slice"][label] > 0
            images = np.load(tmp_path / out / "train" / "slice" / f"{label}.0000.images.npy")
            assert images.shape[1:] == (8, 8, 1) and np.isfinite(images).all()
    assert shapes == {"fine": {(32, 32, 32)}, "coarse": {(16, 16, 16)}}
    # the reader and level are part of the dataset's identity: the same files read at another
    # level are not the dataset already there (found: they were silently reused)
    code = cli(["--source", f"yt@0:{tmp_path}/runs/*/*.athdf", "--classes-from-dirs",
                "--out", str(tmp_path / "fine"), "--tile", "8", "--buffer", "1", "-q"])
    assert code == 2 and "prepared differently" in capsys.readouterr().err
    assert cli(["--source", f"yt@0:{tmp_path}/runs/*/*.athdf", "--classes-from-dirs",
                "--out", str(tmp_path / "coarse"), "--tile", "8", "--buffer", "1", "-q"]) == 0


def test_fits_cube_through_yts_fits_frontend(tmp_path):
    """yt's FITS frontend reads the package's own cubes (one image HDU per field, named
    ``image_<HDU>`` by yt) given as 'type,field', and a cube whose ``BTYPE`` names the field
    as ``rho``; a ``yt:`` Source takes its class from the ``CRCLASS`` card."""
    snap = make_snapshot(shape=(8, 12, 16), names=("rho", "vel1"))
    ours = write_fits_cube(snap, tmp_path / "ours.fits", class_name="MHD")
    back = read_yt(ours, ["fits,image_1", "fits,image_2"])
    assert back.shape == (8, 12, 16) and back.attributes["code"] == "FITSDataset"
    np.testing.assert_array_equal(back["fits,image_1"], snap["rho"])
    np.testing.assert_array_equal(back["fits,image_2"], snap["vel1"])

    cube = np.exp(np.random.default_rng(1).standard_normal((6, 10, 12))).astype(np.float32)
    header = fits.Header({"BTYPE": "rho", "BUNIT": "", "CRCLASS": "CR_Streaming"})
    fits.PrimaryHDU(cube, header=header).writeto(tmp_path / "plain.fits")
    source, = discover_sources([f"yt:{tmp_path}/plain.fits"])
    assert source.class_name == "CR_Streaming" and "rho" in source.variables()
    read = source.read(["rho"])
    assert read.attributes["yt_fields"] == {"rho": ["fits", "rho"]}
    np.testing.assert_array_equal(read["rho"], cube)


def test_convert_writes_a_refined_mesh_through_yt(tmp_path, capsys):
    """``convert --yt --level L`` writes the uniform grid yt gives at that level as a FITS cube
    (``--units cgs``: labelled in physical units that astropy parses)."""
    from astropy import units

    from crturb_keras.io import read_fits_cube
    from pipelines import convert

    path = write_refined_athdf(tmp_path / "amr.out1.00003.athdf", {"rho": linear})
    assert convert.cli(["--yt", "--level", "0", str(path), str(tmp_path / "c.fits"), "-q"]) == 0
    cube = read_fits_cube(tmp_path / "c.fits")
    np.testing.assert_allclose(cube["rho"], read_yt(path, ["rho"], level=0)["rho"], rtol=1e-6)
    assert cube["rho"].shape == (16, 16, 16)
    assert convert.cli(["--yt", "--units", "cgs", str(path), str(tmp_path / "f.fits"), "-q"]) == 0
    with fits.open(tmp_path / "f.fits") as hdul:
        assert hdul[1].data.shape == (32, 32, 32)
        assert units.Unit(hdul[1].header["BUNIT"]) == units.g / units.cm ** 3
    assert convert.cli(["--yt", str(tmp_path / "absent.athdf"), str(tmp_path / "x.fits")]) == 2
    assert "no such file" in capsys.readouterr().err
