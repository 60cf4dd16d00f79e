"""Slices, projections, tiles and the image transforms."""

from __future__ import annotations

import numpy as np
import pytest

from crturb_keras.data import transforms
from crturb_keras.data.images import (
    periodic_roll, projection_windows, projections, slices, tile_positions, tiles)
from crturb_keras.data.splits import Region
from crturb_keras.spectra import radial_power_spectrum, spectral_slope


def coded_cube():
    """cube[k, j, i] = 10000 k + 100 j + i: every cell names its own (x3, x2, x1) index."""
    k, j, i = np.meshgrid(np.arange(6), np.arange(5), np.arange(4), indexing="ij")
    return (10000 * k + 100 * j + i).astype(np.float32)


def test_slices_are_planes_normal_to_the_axis():
    cube = coded_cube()
    x1 = slices(cube, "x1", np.array([2]))[0]
    assert x1.shape == (6, 5) and np.all(x1 % 100 == 2)          # rows x3, columns x2
    assert x1[3, 4] == 30402
    x2 = slices(cube, "x2", np.array([1, 3]))
    assert x2.shape == (2, 6, 4) and np.all((x2[1] // 100) % 100 == 3)
    x3 = slices(cube, "x3", np.array([5]))[0]
    assert x3.shape == (5, 4) and np.all(x3 // 10000 == 5)


def test_projections_stay_inside_regions_and_average():
    region = Region("val", 3, 14)
    windows = projection_windows(region, depth=4)
    assert windows == [(3, 7), (7, 11)]  # (11, 15) would leave the region
    cube = np.random.default_rng(0).random((8, 8, 16)).astype(np.float32)
    proj = projections(cube, "x1", windows)
    np.testing.assert_allclose(proj[1], cube[:, :, 7:11].mean(axis=2), rtol=1e-6)
    with pytest.raises(ValueError, match="depth"):
        projection_windows(region, depth=0)


def test_tiles_cover_with_stride_and_record_positions():
    images = np.arange(2 * 8 * 8, dtype=np.float32).reshape(2, 8, 8)
    cut, pos = tiles(images, tile=4, stride=2)
    assert cut.shape == (2 * 9, 4, 4)
    for t, (n, r, c) in zip(cut, pos):
        np.testing.assert_array_equal(t, images[n, r:r + 4, c:c + 4])
    assert tile_positions(8, 8, 8, 8) == [(0, 0)]
    with pytest.raises(ValueError, match="larger"):
        tile_positions(8, 8, 9, 1)
    rolled = periodic_roll(images, 3, -2)
    assert rolled[0, 3, 0] == images[0, 0, 2]


def _field(n=64, slope=-3.0, seed=0):
    rng = np.random.default_rng(seed)
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(n) * n, np.fft.fftfreq(n) * n, indexing="ij"))
    amp = np.where(k > 0, np.maximum(k, 1) ** (slope / 2), 0)
    return np.fft.ifft2(amp * np.fft.fft2(rng.standard_normal((n, n)))).real.astype(np.float32)


def test_flattened_image_has_a_flat_spectrum_and_keeps_phases():
    image = _field()
    k, before = radial_power_spectrum(image)
    assert spectral_slope(k / 1.0, before / k, 2, 30) < -2.5     # per-mode power falls steeply
    flat = transforms.flatten_power_spectrum(image)
    _, after = radial_power_spectrum(flat)
    assert abs(spectral_slope(k, after / k, 2, 30)) < 0.1         # fitted slope ~ 0
    assert flat.std() == pytest.approx(1.0, rel=1e-5)
    phase = lambda a: np.angle(np.fft.fft2(a))[1:5, 1:5]          # noqa: E731
    np.testing.assert_allclose(phase(flat), phase(image), atol=1e-4)


def test_gaussian_smoothing_follows_the_transfer_function():
    image = _field(slope=0.0, seed=1)  # white: every k has power before
    sigma = 2.0
    smooth = transforms.gaussian_smooth(image, sigma)
    k, before = radial_power_spectrum(image)
    _, after = radial_power_spectrum(smooth)
    expected = np.exp(-(2 * np.pi * k / 64 * sigma) ** 2)        # |H(k)|^2 of the Gaussian
    mid = (k >= 2) & (k <= 12)
    np.testing.assert_allclose(after[mid] / before[mid], expected[mid], rtol=0.1, atol=1e-4)
    # periodic boundary: a shifted image smooths to the shifted result
    np.testing.assert_allclose(transforms.gaussian_smooth(np.roll(image, 7, axis=1), sigma),
                               np.roll(smooth, 7, axis=1), atol=1e-5)
    np.testing.assert_array_equal(transforms.gaussian_smooth(image, 0), image)


def test_normalisations():
    rng = np.random.default_rng(2)
    data = rng.lognormal(size=(3, 8, 8)).astype(np.float32)
    logged = transforms.log10(data)
    np.testing.assert_allclose(logged, np.log10(data), rtol=1e-6)
    with pytest.raises(ValueError, match="positive"):
        transforms.log10(-data)
    mm = transforms.minmax(logged, float(logged.min()), float(logged.max()))
    assert mm.min() == 0 and mm.max() == pytest.approx(1)
    st = transforms.standardize(logged, float(logged.mean()), float(logged.std()))
    assert abs(st.mean()) < 1e-5 and st.std() == pytest.approx(1, rel=1e-4)
    eq = transforms.equalize(data)
    for image, equalised in zip(data, eq):
        assert equalised.min() == 0 and equalised.max() == 1
        np.testing.assert_array_equal(np.argsort(image, axis=None), np.argsort(equalised, axis=None))
        assert np.histogram(equalised, bins=4, range=(0, 1))[0].tolist() == [16, 16, 16, 16]
