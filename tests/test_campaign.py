"""The simulation campaign behind ``pipelines.simulate``: summary, overview, table, refusals."""

import json

import pytest

from crturb_keras.errors import ConfigError
from crturb_keras.simulate import SurrogateConfig
from crturb_keras.simulate.campaign import Campaign, mhd_campaign, surrogate_campaign
from crturb_keras.simulate.mhd import MHDConfig
from crturb_keras.simulate.mhd.athinput import athinput_overrides


def test_surrogate_campaign_writes_summary_overview_and_table(tmp_path):
    config = SurrogateConfig(resolution=16, snapshots=2, seed=1)
    seen = []
    done = surrogate_campaign(config, tmp_path, "MHD,CR_Streaming",
                              progress=lambda name, index: seen.append(name))
    summary = json.loads(done.summary.read_text())
    assert summary["classes"] == ["MHD", "CR_Streaming"]
    assert summary["config"]["seed"] == 1
    assert all((tmp_path / f).exists() for files in summary["files"].values() for f in files)
    assert done.overview.stat().st_size > 0 and done.written == 4 and len(seen) == 4
    table = done.table()
    assert len(table) == 3 and table[1].startswith("MHD") and "sigma(ln rho)" in table[0]
    again = surrogate_campaign(config, tmp_path, "MHD,CR_Streaming")
    assert again.reused == 4 and again.statistics == done.statistics


def test_solver_table_flags_the_signal_speed_of_cr_runs_only():
    stats = {"mach_sonic": 0.5, "mach_alfven": 0.4, "beta": 1.0, "sigma_ln_rho": 0.1,
             "slope": -4.0, "anisotropy": 1.2, "pc_over_pg": 0.0, "max_signal_over_vmax": 0.31}
    configs = {"MHD": MHDConfig(), "CR_Advect": MHDConfig(cr_pressure_ratio=1.0)}
    campaign = Campaign(None, {"MHD": stats, "CR_Advect": dict(stats, max_signal_over_vmax=0.42)},
                        {}, None, None, configs=configs)
    assert campaign.table()[-1].startswith("fastest signal speed / vmax over the CR runs: 0.42")
    campaign.configs.pop("CR_Advect")
    campaign.statistics.pop("CR_Advect")
    assert len(campaign.table()) == 2 and "fastest" not in campaign.table()[-1]


@pytest.mark.parametrize("seeds, explicit, message", [
    (0, {}, "--seeds"), (1, {"beta": 2.0}, "not preset settings")])
def test_solver_campaign_refuses_bad_requests_before_running(tmp_path, seeds, explicit, message):
    with pytest.raises(ConfigError, match=message):
        mhd_campaign(MHDConfig(resolution=16), tmp_path, "MHD", seeds, explicit)
    assert not any(tmp_path.iterdir())


def test_only_settings_that_change_no_physics_go_with_an_input_file():
    defaults = {"precision": "float32", "checkpoint_interval": 600.0, "resolution": 32}
    assert athinput_overrides("a.in", {"precision": "float64", "resolution": 32}, defaults) == {
        "precision": "float64"}
    with pytest.raises(ConfigError, match=r"a.in: .*drop --resolution"):
        athinput_overrides("a.in", {"resolution": 16, "precision": "float64"}, defaults)


@pytest.mark.slow
def test_runs_in_worker_processes_give_the_outputs_of_one_process(tmp_path):
    """Two seeds of CR_Advect (16^3, to t = 0.1: gas and CR fields) run in two single-threaded
    worker processes write bit-identical outputs and the same statistics as one process running
    them in turn; each run is reported once; a negative worker count is refused."""
    import numpy as np

    from crturb_keras.io.athena import read_athdf

    base = MHDConfig(resolution=16, t_start=0.05, dt_output=0.05, outputs=2)
    lines = {1: [], 2: []}
    done = {w: mhd_campaign(base, tmp_path / f"w{w}", "CR_Advect", 2,
                            report=lines[w].append, workers=w) for w in (1, 2)}
    assert done[1].statistics == done[2].statistics
    assert sorted(line.split(":")[0] for line in lines[2]) == sorted(
        line.split(":")[0] for line in lines[1]) and len(lines[2]) == 2
    for name, paths in done[1].files.items():
        assert [p.relative_to(tmp_path / "w1") for p in paths] == [
            p.relative_to(tmp_path / "w2") for p in done[2].files[name]]
        for one, two in zip(paths, done[2].files[name]):
            a, b = read_athdf(one), read_athdf(two)
            assert all(np.array_equal(a[f], b[f]) for f in a.fields)
    with pytest.raises(ConfigError, match="--workers"):
        mhd_campaign(base, tmp_path / "bad", "MHD", 2, workers=-1)
