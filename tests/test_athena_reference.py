"""The Athena++ comparison's parts that need no Athena++ binary: the input file it writes means
the issue's inputs in our units, and its statistics measure what they say."""

import numpy as np
import pytest

from benchmarks import athena_reference as ref
from crturb_keras.io import write_athdf
from crturb_keras.simulate.mhd.athinput import athinput_run
from crturb_keras.snapshot import Snapshot


@pytest.mark.parametrize("cls, ratio, kappa, streaming", [
    ("MHD", 0.0, 0.0, False), ("CR_Diff", 1.0, 0.333, False), ("CR_Streaming", 1.0, 0.0, True)])
def test_the_input_file_is_the_stated_run_in_our_units(tmp_path, cls, ratio, kappa, streaming):
    """Athena++ units (L = 1, c_s = 0.011) to ours: dedt 1.5e-7 -> 0.1127, tcorr 45 -> 0.495,
    vmax 0.11 -> 10, kappa_par 3.67e-3 -> 0.333 (README's flag list), to 1 %."""
    path = tmp_path / "athinput.turb"
    path.write_text(ref.athinput_text(16, seed=4, cls=cls))
    config = athinput_run(path).config
    assert (config.resolution, config.seed, config.k_min, config.k_max) == (16, 4, 1, 4)
    assert config.dedt == pytest.approx(0.1127, rel=1e-2)
    assert config.t_corr == pytest.approx(0.495, rel=1e-2)
    assert (config.beta, config.solenoidal_weight, config.drive_slope) == (1.0, 1.0, 2.0)
    assert config.cr_pressure_ratio == ratio and config.streaming == streaming
    assert config.kappa_par == pytest.approx(kappa, rel=1e-2, abs=1e-6)
    if ratio:
        assert config.vmax == pytest.approx(10.0, rel=1e-6)


def test_statistics_measure_a_field_of_known_spectrum_and_speed():
    """A Gaussian ln rho whose shell-summed spectrum falls as k^-4 (3-D power k^-6) gives a slope
    near -4 over k = 4-12 (to 0.3 at 32^3; the rho - <rho> of a weak field is nearly ln rho),
    its sigma, and M_s = |v| / c_s for a uniform flow."""
    n, rng = 32, np.random.default_rng(0)
    k = np.fft.fftfreq(n, 1.0 / n)
    kk = np.sqrt(sum(a ** 2 for a in np.meshgrid(k, k, k, indexing="ij")))
    amplitude = np.where(kk > 0, kk, np.inf) ** -3.0
    field = np.real(np.fft.ifftn(amplitude * np.fft.fftn(rng.standard_normal((n, n, n)))))
    log_rho = 0.05 * field / field.std()
    vel = np.zeros((3, n, n, n))
    vel[0] = 0.5 * ref.SOUND_SPEED
    stats = ref.statistics(np.exp(log_rho), vel, ref.SOUND_SPEED)
    assert stats["sigma_ln_rho"] == pytest.approx(0.05, rel=1e-6)
    assert stats["slope"] == pytest.approx(-4.0, abs=0.3)
    assert stats["mach"] == pytest.approx(0.5, rel=1e-9)


def test_outputs_are_reduced_from_t_first_on_in_athena_units(tmp_path):
    """Only outputs at t >= 2.2 L/c_s count; times are read in Athena++'s units (t c_s)."""
    n = 16
    faces = np.linspace(-0.5, 0.5, n + 1)
    for i, t in enumerate((2.0, 2.2, 2.4)):
        rho = np.exp(0.1 * (i + 1) * np.random.default_rng(i).standard_normal((n, n, n)))
        fields = {"rho": rho.astype(np.float32),
                  **{f"vel{c}": np.zeros((n, n, n), np.float32) for c in (1, 2, 3)}}
        write_athdf(Snapshot(fields=fields, x1f=faces, x2f=faces, x3f=faces,
                             time=t / ref.SOUND_SPEED, cycle=i),
                    tmp_path / f"Turb.out1.{i:05d}.athdf")
    reduced = ref.reduce_outputs(tmp_path)
    assert reduced["outputs"] == 2 and [r["t"] for r in reduced["rows"]] == [2.2, 2.4]
    assert reduced["mach"] == 0.0
    with pytest.raises(RuntimeError, match="no outputs"):
        ref.reduce_outputs(tmp_path / "empty")


def test_speed_runs_stop_after_the_cycles_and_carry_the_presets_cr_settings(tmp_path):
    """``benchmarks.mhd``'s Athena++ input: a cycle limit and no outputs (else the timing would
    include HDF5 writes), and for each CR preset its vmax, streaming switch and the opacity
    ``vmax / (3 kappa)`` of its diffusivity (kappa_par 0.1 L c_s -> sigma 100 / 3 per L)."""
    from benchmarks import mhd

    text = ref.athinput_text(16, seed=1, cycles=7, blocks=mhd.athena_blocks("CR_Diff_Fiducial"))
    assert "nlim = 7\n" in text and "<output" not in text
    assert "crBeta = 1.0" in text and "vs_flag = 0" in text
    opacity = float(text.split("max_opacity = ")[1].split()[0])
    assert opacity == pytest.approx(100 / 3, rel=1e-9)
    assert float(text.split("vmax = ")[1].split()[0]) == pytest.approx(10 * ref.SOUND_SPEED)
    assert "vs_flag = 1" in ref.athinput_text(
        16, 1, cycles=7, blocks=mhd.athena_blocks("CR_Streaming"))
    assert mhd.athena_blocks("MHD") == ("", "")
    assert "<output1>" in ref.athinput_text(16, seed=1)
    missing = tmp_path / "athena"
    assert "no such Athena++ binary" in mhd._check_binary(missing, "MHD")


def test_compare_reports_both_per_machine_ratios_from_medians(monkeypatch):
    """``benchmarks.mhd.compare`` measures ours per core, in one process, and one process per
    core (the like-for-like figure against one Athena++ process per core), takes medians over
    the rounds and divides each by Athena++'s; the printed line names both per-machine ratios.
    The measurements are stubbed: this checks the bookkeeping, not the speed."""
    import argparse

    from benchmarks import mhd

    rates = iter(range(1, 100))

    def fake(*args, **kwargs):
        return {"zone_cycles_per_second": float(next(rates)), "compile_seconds": 1.0,
                "peak_memory_mib": 10.0}

    monkeypatch.setattr(mhd, "ours", fake)
    monkeypatch.setattr(mhd, "ours_per_core", fake)
    monkeypatch.setattr(mhd, "athena", fake)
    monkeypatch.setattr(mhd, "_cores", lambda: [0, 1])
    args = argparse.Namespace(rounds=3, repeats=1, precision="float64", riemann="hlld",
                              preset="MHD", athena_bin="athena")
    result = mhd.compare(16, 10, args)
    # Per round, in order: ours_core, athena_core, ours_machine, ours_processes, athena_machine.
    assert [result[k] for k in ("ours_core", "athena_core", "ours_machine", "ours_processes",
                                "athena_machine")] == [6.0, 7.0, 8.0, 9.0, 10.0]
    assert result["ratio_per_core"] == pytest.approx(6 / 7)
    assert result["ratio_per_machine"] == pytest.approx(8 / 10)
    assert result["ratio_per_machine_processes"] == pytest.approx(9 / 10)
    line = mhd._line(result)
    assert "9 in one per core" in line and "0.80x / 0.90x per machine" in line
