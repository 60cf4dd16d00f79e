"""The surrogate's statistics, measured per class rather than assumed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crturb_keras.errors import ConfigError
from crturb_keras.io.athena import read_athdf
from crturb_keras.simulate import CLASSES, SurrogateConfig, simulate, simulate_class
from crturb_keras.simulate.stats import box_statistics, slice_spectrum
from crturb_keras.spectra import spectral_slope

SMALL = SurrogateConfig(resolution=32, snapshots=4, meshblock=16)


@pytest.fixture(scope="module")
def runs():
    return {name: list(simulate_class(SMALL, name)) for name in CLASSES}


@pytest.fixture(scope="module")
def stats(runs):
    return {name: box_statistics(snaps) for name, snaps in runs.items()}


def test_fields_and_shapes(runs):
    for name, snaps in runs.items():
        assert len(snaps) == 4
        expected = ["rho", "vel1", "vel2", "vel3"] + (["Ec"] if name != "MHD" else [])
        assert snaps[0].names == expected + ["Bcc1", "Bcc2", "Bcc3"]
        for snap in snaps:
            assert all(a.dtype == np.float32 and a.shape == (32, 32, 32)
                       for a in snap.fields.values())
            assert all(np.isfinite(a).all() for a in snap.fields.values())
            assert snap["rho"].min() > 0
            assert snap["rho"].mean() == pytest.approx(1.0, rel=1e-5)  # mass conserved
        assert [s.time for s in snaps] == sorted(s.time for s in snaps)
        assert snaps[1].cycle > snaps[0].cycle


def test_density_pdf_width_follows_mach_number(stats):
    sigma = {n: s.sigma_ln_rho for n, s in stats.items()}
    expected_mhd = math.sqrt(math.log1p((SMALL.forcing_b * SMALL.mach) ** 2))
    assert sigma["MHD"] == pytest.approx(expected_mhd, rel=0.02)
    # CR pressure lowers the effective Mach number; streaming drains kinetic energy most.
    assert sigma["MHD"] > sigma["CR_Advect"] > sigma["CR_Streaming"]
    # Fast diffusion barely changes MHD; fiducial diffusion damps density fluctuations.
    assert sigma["MHD"] > sigma["CR_Diff100"] > sigma["CR_Diff_Fiducial"]
    assert sigma["CR_Diff100"] > 0.85 * sigma["MHD"]


def test_spectral_slope_matches_configuration():
    for alpha in (5.0 / 3.0, 2.0):
        config = SurrogateConfig(resolution=64, snapshots=1, anisotropy=0.0, spectral_index=alpha)
        log_rho = np.log(next(simulate_class(config, "MHD"))["rho"])
        slopes = [spectral_slope(*slice_spectrum(log_rho, axis), 3, 16) for axis in ("x1", "x2")]
        assert slopes == pytest.approx([-alpha, -alpha], abs=0.3)


def test_diffusion_damps_small_scales(runs):
    def high_k_fraction(name):
        k, power = slice_spectrum(np.log(runs[name][0]["rho"]))
        return power[k >= 8].sum() / power.sum()

    mhd = high_k_fraction("MHD")
    assert high_k_fraction("CR_Diff_Fiducial") < 0.25 * mhd
    assert high_k_fraction("CR_Diff100") > 0.5 * mhd
    assert high_k_fraction("CR_Streaming") == pytest.approx(mhd, rel=0.5)  # slope kept


def test_streaming_keeps_slope_but_lowers_kinetic_energy(runs, stats):
    def kinetic(name):
        s = runs[name][0]
        return float(np.mean(s["rho"] * (s["vel1"] ** 2 + s["vel2"] ** 2 + s["vel3"] ** 2)) / 2)

    assert kinetic("CR_Streaming") < 0.4 * kinetic("MHD")
    assert stats["CR_Streaming"].slope == pytest.approx(stats["MHD"].slope, abs=0.3)


def test_time_correlation_decays(stats):
    for name, s in stats.items():
        lag1, lag2, lag3 = s.lag_correlation
        assert 0.2 < lag1 < 0.99, name
        assert lag1 > lag3, name


def test_eddies_elongated_along_mean_field(runs):
    log_rho = np.log(runs["MHD"][0]["rho"]).astype(np.float64)
    f = log_rho - log_rho.mean()

    def autocorrelation(axis):
        return float(np.mean(f * np.roll(f, 3, axis=axis)) / f.var())

    assert autocorrelation(2) > autocorrelation(1) + 0.03   # x1 (axis 2) vs x2
    assert autocorrelation(2) > autocorrelation(0) + 0.03   # x1 vs x3


def test_magnetic_field_mean_and_divergence(runs):
    snap = runs["MHD"][0]
    b0 = math.sqrt(2.0 / SMALL.beta)
    assert snap["Bcc1"].mean() == pytest.approx(b0, rel=1e-4)
    assert abs(snap["Bcc2"].mean()) < 1e-5
    k = np.fft.fftfreq(32) * 2j * np.pi
    div = (np.fft.fftn(snap["Bcc1"]) * k[None, None, :] + np.fft.fftn(snap["Bcc2"]) * k[None, :, None]
           + np.fft.fftn(snap["Bcc3"]) * k[:, None, None])
    grad = np.abs(np.fft.fftn(snap["Bcc2"]) * k[None, None, :]).sum()
    assert np.abs(div).sum() < 1e-3 * grad
    # Fast-mode compression: parallel field fluctuations follow density.
    corr = np.corrcoef(np.log(snap["rho"]).ravel(), snap["Bcc1"].ravel())[0, 1]
    assert corr > 0.3


@pytest.mark.parametrize("name, exponent", [("CR_Advect", 4 / 3), ("CR_Streaming", 2 / 3)])
def test_cr_energy_follows_gas_adiabat(runs, name, exponent):
    snap = runs[name][0]
    fit = np.polyfit(np.log(snap["rho"]).ravel(), np.log(snap["Ec"]).ravel(), 1)[0]
    assert fit == pytest.approx(exponent, abs=1e-3)


def test_diffusive_cr_energy_is_smoothed_density(runs):
    fiducial, fast = runs["CR_Diff_Fiducial"][0], runs["CR_Diff100"][0]
    r = np.corrcoef(np.log(fiducial["rho"]).ravel(), np.log(fiducial["Ec"]).ravel())[0, 1]
    assert 0.3 < r < 0.999  # follows the gas, but smoothed
    spread = lambda s: np.std(np.log(s["Ec"])) / np.std(np.log(s["rho"]))  # noqa: E731
    assert spread(fast) < 0.2 * spread(fiducial)  # 10x longer diffusion length: nearly uniform


def test_determinism_and_independence():
    a = list(simulate_class(SurrogateConfig(resolution=16, snapshots=2, seed=3), "MHD"))
    b = list(simulate_class(SurrogateConfig(resolution=16, snapshots=2, seed=3), "MHD"))
    c = list(simulate_class(SurrogateConfig(resolution=16, snapshots=2, seed=4), "MHD"))
    d = list(simulate_class(SurrogateConfig(resolution=16, snapshots=2, seed=3), "CR_Advect"))
    for name in a[0].names:
        np.testing.assert_array_equal(a[1][name], b[1][name])
    assert not np.allclose(a[0]["rho"], c[0]["rho"])
    r = np.corrcoef(np.log(a[0]["rho"]).ravel(), np.log(d[0]["rho"]).ravel())[0, 1]
    assert abs(r) < 0.5  # each class is its own simulation, not a relabelled copy


def test_simulate_writes_resumes_and_refuses(tmp_path):
    config = SurrogateConfig(resolution=16, snapshots=2, meshblock=8)
    result = simulate(config, tmp_path, "MHD,CR_Streaming")
    assert result.written == 4 and result.reused == 0
    path = tmp_path / "CR_Streaming" / "cr.out1.00001.athdf"
    snap = read_athdf(path)
    assert snap.attributes["SurrogateClass"] == "CR_Streaming"
    assert SurrogateConfig.from_json(snap.attributes["SurrogateConfig"]) == config
    reference = next(iter(simulate_class(config, "CR_Streaming")))
    np.testing.assert_array_equal(read_athdf(tmp_path / "CR_Streaming" / "cr.out1.00000.athdf")["Ec"],
                                  reference["Ec"])
    stamp = path.stat().st_mtime_ns
    path.with_name("cr.out1.00000.athdf").unlink()
    again = simulate(config, tmp_path, "MHD,CR_Streaming")
    assert (again.written, again.reused) == (1, 3)
    assert path.stat().st_mtime_ns == stamp
    with pytest.raises(ConfigError, match="different surrogate configuration"):
        simulate(SurrogateConfig(resolution=16, snapshots=2, meshblock=8, seed=1), tmp_path, "MHD")


def test_invalid_configuration_and_classes():
    with pytest.raises(ConfigError, match="resolution must be even"):
        SurrogateConfig(resolution=15)
    with pytest.raises(ConfigError, match="mach must be > 0.*anisotropy"):
        SurrogateConfig(mach=0, anisotropy=2)
    with pytest.raises(ConfigError, match="unknown class.*CR_Fast"):
        simulate(SurrogateConfig(resolution=16, snapshots=1), "/nonexistent", "MHD,CR_Fast")
    assert SurrogateConfig(resolution=48, meshblock=32).block == 24


def test_both_simulators_name_the_classes_in_the_canonical_order():
    """Label indices follow ``simulate.classes.CLASSES``: the surrogate's class physics and the
    solver's presets must list the same five classes in the same order."""
    from crturb_keras.simulate import CLASS_PHYSICS
    from crturb_keras.simulate.mhd.presets import PRESET_CLASSES

    assert tuple(CLASS_PHYSICS) == CLASSES
    assert PRESET_CLASSES == CLASSES
    assert len(set(CLASSES)) == 5
