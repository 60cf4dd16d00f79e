"""Verification of the two-moment cosmic-ray transport against analytic solutions (float64).

Diffusion of a pulse along and across the field, Alfvenic streaming (flux and energy transfer),
sound waves with locked and diffusing CRs against the linear dispersion relation, conservation,
positivity, and the five class presets as CI-sized runs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from crturb_keras.io.athena import read_athdf
from crturb_keras.simulate.mhd import MHDConfig, SimulationError, simulate_mhd
from crturb_keras.simulate.mhd.cosmic_rays import EC_FLOOR
from crturb_keras.simulate.mhd.cr_problems import (
    cosmic_rays,
    cr_params,
    frequency_and_damping,
    linear_sound_wave,
    locked_sound_speed,
    standing_sound_wave,
    static_gas,
    transport_until,
)
from crturb_keras.simulate.mhd.diagnostics import read_history
from crturb_keras.simulate.mhd.presets import PRESET_CLASSES, preset_config
from crturb_keras.simulate.mhd.solver import enable_precision

enable_precision("float64")


def _variance(profile: np.ndarray, x: np.ndarray) -> float:
    excess = profile - 1.0
    return float(np.sum(excess * (x - 0.5) ** 2) / np.sum(excess))


@pytest.mark.slow
def test_pulse_diffuses_along_the_field_with_variance_2_kappa_t_and_not_across():
    """A Gaussian CR pulse along a uniform field along x1 (static gas) grows its variance by
    ``2 kappa_par t`` within 5 % (kappa = 0.01, V_m = 20, 128 cells, t doubling the variance);
    the same pulse with the field along x2 instead spreads by less than 1 % of that; the total
    CR energy is conserved to round-off."""
    n, kappa, width = 128, 0.01, 0.05
    x = (np.arange(n) + 0.5) / n
    pulse = 1.0 + np.exp(-(x - 0.5) ** 2 / (2 * width ** 2))
    t_end = 0.5 * width ** 2 / kappa
    params = cr_params(20.0, kappa_par=kappa)

    along = transport_until(static_gas((2, 2, n)), cosmic_rays(
        np.broadcast_to(pulse, (2, 2, n)).copy()), params, t_end)
    growth = _variance(np.asarray(along.ec)[0, 0], x) - _variance(pulse, x)
    assert growth / (2 * kappa * t_end) == pytest.approx(1.0, abs=0.05)
    total = np.asarray(along.ec).sum()
    assert total == pytest.approx(pulse.sum() * 4, rel=1e-12)

    across = transport_until(static_gas((2, 2, n), direction=1), cosmic_rays(
        np.broadcast_to(pulse, (2, 2, n)).copy()), params, t_end)
    spread = _variance(np.asarray(across.ec)[0, 0], x) - _variance(pulse, x)
    assert abs(spread) < 0.01 * 2 * kappa * t_end


def test_streaming_moves_crs_at_the_alfven_speed_and_hands_v_a_grad_pc_to_the_gas():
    """Streaming only (v_A = 1, no diffusion): once the flux has relaxed, it is
    ``4/3 E_c v_A`` down the gradient on the steep flanks (within 10 %); the CR energy falls at
    the streaming loss rate ``v_A |d P_c / dx|`` integrated over the box (within 15 %); the
    maximum drops and flattens into a plateau (Sharma et al. 2010; Jiang & Oh 2018)."""
    n, vmax = 128, 20.0
    x = (np.arange(n) + 0.5) / n
    start = np.broadcast_to(2.0 + np.sin(2 * np.pi * x), (2, 2, n)).copy()
    gas = static_gas((2, 2, n))
    params = cr_params(vmax, streaming=1.0)
    relaxed = transport_until(gas, cosmic_rays(start), params, 0.02)
    ec = np.asarray(relaxed.ec)[0, 0]
    flux = np.asarray(relaxed.flux)[0, 0, 0] * vmax
    gradient = np.gradient(ec)
    steep = np.abs(gradient) > 0.5 * np.abs(gradient).max()
    assert np.all(np.sign(flux[steep]) == -np.sign(gradient[steep]))
    assert np.abs(flux[steep]) / (4 / 3 * ec[steep]) == pytest.approx(1.0, abs=0.1)

    later = transport_until(gas, relaxed, params, 0.01)
    ec_later = np.asarray(later.ec)[0, 0]
    rate = (ec_later.sum() - ec.sum()) / n / 0.01

    def variation(profile):
        return np.abs(np.diff(np.append(profile, profile[0]))).sum() / 3.0

    expected = -0.5 * (variation(ec) + variation(ec_later))
    assert rate == pytest.approx(expected, rel=0.15)
    assert ec_later.max() < ec.max() < 3.0

    def near(profile, side):
        span = profile.max() - profile.min()
        return int((profile > profile.max() - 0.1 * span).sum() if side == "top"
                   else (profile < profile.min() + 0.1 * span).sum())

    # The sinusoid has 22 % of its cells within 10 % of its range from either extreme; streaming
    # widens the top into a plateau (44 % at t = 0.03 at 64 cells) much more than the bottom.
    assert near(ec_later, "top") >= 1.5 * near(start[0, 0], "top")
    assert near(ec_later, "top") > near(ec_later, "bottom")


WAVE = {"n": 32, "t_end": 1.5}      # 32 cells per wavelength, 2.3 periods with locked CRs


@pytest.mark.slow
def test_sound_waves_with_locked_diffusing_and_decoupled_cosmic_rays():
    """Locked CRs (kappa = 0): the wave travels at
    ``sqrt((c_s**2 + 4/3 P_c / rho) / (1 + 4 P_c / (rho V_m**2)))`` (the CR enthalpy adds
    inertia ``(E_c + P_c) / V_m**2`` at finite V_m) within 1 %, undamped. Fast diffusion
    (kappa = 20): at c_s within 3 %. In between the damping peaks where ``k**2 kappa ~ omega``:
    at kappa = 0.2 the measured damping rate matches the linear dispersion relation within
    15 % and exceeds the slow- and fast-diffusion rates by over 5x."""
    locked = frequency_and_damping(*standing_sound_wave(0.0, **WAVE))
    expected = locked_sound_speed(20.0) * 2 * np.pi
    assert locked[0] == pytest.approx(expected, rel=0.01)
    assert abs(locked[1]) < 0.01

    fast = frequency_and_damping(*standing_sound_wave(20.0, **WAVE))
    assert fast[0] == pytest.approx(2 * np.pi, rel=0.03)

    middle = frequency_and_damping(*standing_sound_wave(0.2, **WAVE))
    slow = frequency_and_damping(*standing_sound_wave(0.002, **WAVE))
    omega, gamma = linear_sound_wave(0.2)
    assert middle[1] == pytest.approx(gamma, rel=0.15)
    assert middle[0] == pytest.approx(omega, rel=0.05)
    assert middle[1] > 5 * max(slow[1], fast[1], 1e-3)


def test_steep_streaming_keeps_the_cr_energy_positive():
    """Streaming out of a near-empty region (E_c from 1e-6 to 10 over a few cells, v_A = 3)
    leaves every cell finite and at or above the floor."""
    n = 128
    x = (np.arange(n) + 0.5) / n
    profile = np.where(np.abs(x - 0.5) < 0.1, 10.0, 1e-6)
    cr = transport_until(static_gas((2, 2, n), b1=3.0), cosmic_rays(
        np.broadcast_to(profile, (2, 2, n)).copy()), cr_params(20.0, streaming=1.0), 0.2)
    ec = np.asarray(cr.ec)
    assert np.all(np.isfinite(ec)) and ec.min() >= EC_FLOOR
    assert np.all(np.isfinite(np.asarray(cr.flux)))


SMALL = {"resolution": 16, "k_max": 3, "t_start": 0.2, "dt_output": 0.1, "outputs": 2,
         "dedt": 0.2}


@pytest.mark.slow
def test_every_class_preset_runs_and_writes_the_cr_fork_variables(tmp_path):
    """All five presets run at 16^3 (float32); CR classes write Ec and Fc1..3 in prim with their
    settings in the attributes, and CR energy, P_c / P_g and the fastest signal speed in the
    history; the time step is the same for every diffusivity (set by vmax and the MHD CFL,
    never by kappa); MHD writes no CR fields."""
    steps = {}
    for name in PRESET_CLASSES:
        config = preset_config(name, MHDConfig(**SMALL))
        result = simulate_mhd(config, tmp_path, name)
        steps[name] = result.steps
        snap = read_athdf(result.files[-1])
        stored = MHDConfig.from_json(snap.attributes["MHDConfig"])
        assert stored == config and snap.attributes["SimulationClass"] == name
        history = read_history(result.history)
        if name == "MHD":
            assert "Ec" not in snap.names and np.all(history["cr_energy"] == 0)
            continue
        assert {"Ec", "Fc1", "Fc2", "Fc3"} <= set(snap.names)
        assert np.all(snap["Ec"] > 0) and np.all(np.isfinite(snap["Fc2"]))
        assert history["cr_pressure_ratio"][0] == pytest.approx(1.0, rel=0.01)
        assert np.all(history["max_signal_speed"] < config.vmax)
        record = json.loads((result.folder / "run.json").read_text())
        assert record["max_signal_speed"] == pytest.approx(history["max_signal_speed"].max())
    cr_steps = {steps[n] for n in ("CR_Advect", "CR_Diff_Fiducial", "CR_Diff100")}
    assert len(cr_steps) == 1
    assert steps["MHD"] < min(cr_steps)


@pytest.mark.slow
def test_a_vmax_below_the_fastest_signal_stops_the_run(tmp_path):
    """vmax = 1.2 c_s is below the fast speed with CR pressure (about 1.8 c_s): one clear error
    naming the fix."""
    config = preset_config("CR_Advect", MHDConfig(**SMALL), vmax=1.2)
    with pytest.raises(SimulationError, match="--vmax"):
        simulate_mhd(config, tmp_path, "CR_Advect")


@pytest.mark.slow
def test_killed_cr_run_resumes_bit_identical(tmp_path):
    """The CR state travels in the checkpoint: a run killed after its first output resumes and
    ends bit-identical to an uninterrupted one."""
    config = preset_config("CR_Streaming", MHDConfig(**SMALL, checkpoint_interval=1e-9))
    reference = simulate_mhd(config, tmp_path / "reference", "CR_Streaming")

    class Killed(Exception):
        pass

    def kill(report):
        if report.output == 0:
            raise Killed

    with pytest.raises(Killed):
        simulate_mhd(config, tmp_path / "killed", "CR_Streaming", progress=kill)
    resumed = simulate_mhd(config, tmp_path / "killed", "CR_Streaming")
    assert resumed.resumed_from is not None
    for a, b in zip(reference.files, resumed.files):
        np.testing.assert_array_equal(read_athdf(a, ["Ec"])["Ec"], read_athdf(b, ["Ec"])["Ec"])
        np.testing.assert_array_equal(read_athdf(a, ["Fc1"])["Fc1"],
                                      read_athdf(b, ["Fc1"])["Fc1"])


@pytest.mark.slow
def test_streaming_class_runs_at_beta_1(tmp_path):
    """beta = 1 (mean-field Alfven speed 1.4 c_s, streaming at it) runs: CR energy finite and
    positive, streaming losses drain CR energy relative to the locked class, signal below vmax."""
    energies = {}
    for name in ("CR_Advect", "CR_Streaming"):
        config = preset_config(name, MHDConfig(**{**SMALL, "beta": 1.0}))
        result = simulate_mhd(config, tmp_path, name)
        history = read_history(result.history)
        snap = read_athdf(result.files[-1], ["Ec"])
        assert np.all(np.isfinite(snap["Ec"])) and snap["Ec"].min() > 0
        assert np.all(history["max_signal_speed"] < config.vmax)
        energies[name] = history["cr_energy"][-1]
    assert energies["CR_Streaming"] < energies["CR_Advect"]
