"""FITS cubes and maps: round trips, provenance cards, WCS kept, and errors."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from crturb_keras import __version__
from crturb_keras.errors import ConfigError, DataFormatError
from crturb_keras.io.fits import read_fits_cube, read_fits_map, write_fits_cube, write_fits_map

from helpers import make_snapshot


def test_cube_round_trip_with_provenance(tmp_path):
    snap = make_snapshot(names=("rho", "Ec", "Bcc1", "Bcc2", "Bcc3"))
    path = write_fits_cube(snap, tmp_path / "c.fits",
                           fields=["rho", "Ec", "magnetic_energy_density"])
    back = read_fits_cube(path)
    assert back.names == ["rho", "Ec", "magnetic_energy_density"]
    for name in back.names:
        np.testing.assert_array_equal(back[name], snap[name])
    np.testing.assert_allclose(back.x1f, snap.x1f, atol=1e-12)
    np.testing.assert_allclose(back.x2f, snap.x2f, atol=1e-12)
    assert (back.time, back.cycle) == (snap.time, snap.cycle)
    assert back.attributes["SurrogateClass"] == "CR_Advect"
    with fits.open(path) as hdul:
        assert hdul[0].header["CRTKVER"] == __version__
        assert hdul[0].header["CRCLASS"] == "CR_Advect"
        assert hdul["EC"].header["CODEUNIT"] == "code_pressure"
        assert hdul["RHO"].header["NAXIS1"] == 16  # x1 is FITS axis 1
        world = WCS(hdul["RHO"].header).pixel_to_world_values(0, 0, 0)
        np.testing.assert_allclose(world, [snap.x1v[0], snap.x2v[0], snap.x3v[0]])


def test_cube_field_selection_and_refusal_to_overwrite(tmp_path):
    snap = make_snapshot()
    path = write_fits_cube(snap, tmp_path / "c.fits", fields=["rho"], class_name="MHD")
    assert read_fits_cube(path).attributes["SurrogateClass"] == "MHD"
    with pytest.raises(ConfigError, match="exists"):
        write_fits_cube(snap, path)
    write_fits_cube(snap, path, overwrite=True)
    assert read_fits_cube(path, ["vel1"]).names == ["vel1"]
    with pytest.raises(DataFormatError, match="missing field.*Ec"):
        read_fits_cube(path, ["Ec"])


def test_map_keeps_wcs_header(tmp_path):
    header = fits.Header()
    for key, value in {"CTYPE1": "RA---CAR", "CTYPE2": "DEC--CAR", "CRVAL1": 150.0,
                       "CRVAL2": 2.0, "CDELT1": -0.01, "CDELT2": 0.01, "CRPIX1": 16.5,
                       "CRPIX2": 16.5, "BUNIT": "cm-2"}.items():
        header[key] = value
    image = np.random.default_rng(0).random((32, 24)).astype(np.float32)
    path = write_fits_map(image, tmp_path / "nhi.fits", header=header, name="NHI")
    read = read_fits_map(path)
    np.testing.assert_array_equal(read.data, image)
    assert read.name == "NHI" and read.header["BUNIT"] == "cm-2"
    copy = write_fits_map(read, tmp_path / "copy.fits")
    again = read_fits_map(copy)
    a = WCS(read.header).pixel_to_world_values(3, 5)
    b = WCS(again.header).pixel_to_world_values(3, 5)
    np.testing.assert_allclose(a, b)
    assert a[0] != 0


def test_map_from_cube_plane_and_errors(tmp_path):
    single = tmp_path / "plane.fits"
    fits.PrimaryHDU(np.ones((1, 8, 8), np.float32)).writeto(single)
    assert read_fits_map(single).data.shape == (8, 8)
    snap = make_snapshot()
    cube = write_fits_cube(snap, tmp_path / "cube.fits")
    with pytest.raises(DataFormatError, match="expected a 2-D map"):
        read_fits_map(cube, hdu="RHO")
    with pytest.raises(DataFormatError, match="no HDU 'NOPE'"):
        read_fits_map(cube, hdu="NOPE")
    flat = tmp_path / "flat.fits"
    fits.PrimaryHDU(np.ones((8, 8), np.float32)).writeto(flat)
    with pytest.raises(DataFormatError, match="read_fits_map"):
        read_fits_cube(flat)
    with pytest.raises(ValueError, match="2-D"):
        write_fits_map(np.ones((2, 2, 2)), tmp_path / "x.fits")


def test_truncated_and_non_fits_files(tmp_path):
    path = write_fits_cube(make_snapshot(shape=(16, 16, 16)), tmp_path / "t.fits")
    data = path.read_bytes()
    truncated = tmp_path / "cut.fits"
    truncated.write_bytes(data[: len(data) - 5000])
    with pytest.raises(DataFormatError, match="cut.fits.*truncated"):
        read_fits_cube(truncated)
    text = tmp_path / "x.fits"
    text.write_text("SIMPLE? no")
    with pytest.raises(DataFormatError, match="x.fits: not a readable FITS"):
        read_fits_map(text)
    with pytest.raises(DataFormatError, match="no such file"):
        read_fits_cube(tmp_path / "absent.fits")


def test_cube_units_parse_with_astropy_and_carry_checksums_and_provenance(tmp_path):
    """Every BUNIT/CUNITn the cube writer puts down parses with ``astropy.units`` and the cube
    reads with ``CCDData``; HDUs carry valid CHECKSUM/DATASUM, the primary a DATE and the SHA-256
    of the source file (issue 16: ``'code_mass / code_length**3'`` did not parse)."""
    from astropy import units as u
    from astropy.nddata import CCDData

    from crturb_keras.io.athena import read_athdf, write_athdf
    from crturb_keras.io.hashing import sha256

    source = write_athdf(make_snapshot(), tmp_path / "cr.out1.00000.athdf")
    snap = read_athdf(source)
    path = write_fits_cube(snap, tmp_path / "c.fits", fields=["rho", "log10_rho", "vel1"])
    with fits.open(path, checksum=True) as hdul:
        primary = hdul[0].header
        assert primary["DATE"][:2] == "20" and "T" in primary["DATE"]
        assert f"sha256 {sha256(source)}" in list(primary["HISTORY"])
        for hdu in hdul:
            assert hdu.verify_checksum() == 1 and hdu.verify_datasum() == 1
        for hdu in hdul[1:]:
            assert u.Unit(hdu.header["BUNIT"]) in (u.dimensionless_unscaled, u.dex)
            assert all(u.Unit(hdu.header[f"CUNIT{a}"]) == u.dimensionless_unscaled
                       for a in (1, 2, 3))
        assert hdul["RHO"].header["CODEUNIT"] == "code_mass / code_length**3"
    cube = CCDData.read(path, hdu="RHO")
    assert cube.unit == u.dimensionless_unscaled and cube.data.shape == snap["rho"].shape


def test_prediction_figures_are_on_the_sky_when_the_header_has_a_wcs(tmp_path):
    """A celestial WCS gives WCSAxes labelled in sky coordinates; no WCS, or a broken one,
    gives pixel axes (issue 16, item 4)."""
    from astropy.visualization.wcsaxes import WCSAxes
    from matplotlib.figure import Figure

    from crturb_keras.plots import plot_map_prediction, sky_axes

    sky = fits.Header({"NAXIS": 2, "NAXIS1": 48, "NAXIS2": 32, "CTYPE1": "RA---TAN",
                       "CTYPE2": "DEC--TAN", "CRVAL1": 83.8, "CRVAL2": -5.4, "CRPIX1": 24,
                       "CRPIX2": 16, "CDELT1": -0.01, "CDELT2": 0.01})
    galactic = fits.Header({**sky, "CTYPE1": "GLON-CAR", "CTYPE2": "GLAT-CAR"})
    fig = Figure()
    grid = fig.add_gridspec(1, 4)
    on_sky = sky_axes(fig, grid[0, 0], sky)
    assert isinstance(on_sky, WCSAxes)
    assert on_sky.coords[0].get_axislabel() == "right ascension"
    assert sky_axes(fig, grid[0, 1], galactic).coords[1].get_axislabel() == "galactic latitude"
    for header in (None, fits.Header({"CTYPE1": "LINEAR"}), fits.Header({"CTYPE1": "RA---XYZ"})):
        plain = sky_axes(fig, grid[0, 2], header)
        assert not isinstance(plain, WCSAxes) and plain.get_xlabel() == "pixel"
    image = np.exp(np.random.default_rng(0).normal(0, 0.3, (32, 48)))
    path = plot_map_prediction(image, np.array([[0, 0], [16, 16]]), 16,
                               np.array([[0.7, 0.3], [0.2, 0.8]]), ["MHD", "CR_Advect"],
                               tmp_path / "p.png", sky)
    assert path.stat().st_size > 5000
