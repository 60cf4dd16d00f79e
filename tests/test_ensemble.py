"""Batched ensembles: several runs in one compiled loop (a leading member axis), each with its
own time step, matching the same runs one at a time; the CPU fusion fence kept under
``vmap``; a failing member leaves the others to finish; grouping and refusals."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crturb_keras.errors import ConfigError
from crturb_keras.io.athena import read_athdf
from crturb_keras.simulate.campaign import ensembles
from crturb_keras.simulate.mhd import MHDConfig, SimulationError, preset_config, simulate_mhd
from crturb_keras.simulate.mhd.diagnostics import read_history
from crturb_keras.simulate.mhd.problems import random_state
from crturb_keras.simulate.mhd.run import RunSpec, simulate_ensemble
from crturb_keras.simulate.mhd.scheme import materialize
from crturb_keras.simulate.mhd.solver import Solver, advance_members

SMALL = dict(resolution=16, k_max=3, t_start=0.2, dt_output=0.1, outputs=2)


def _leaves(carry) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(carry)]


@pytest.mark.parametrize("classes", [("MHD", "MHD", "MHD"), ("CR_Advect", "CR_Diff_Fiducial",
                                                             "CR_Streaming")])
def test_members_match_runs_one_at_a_time_in_float64(classes):
    """Members that differ in seed, injection rate, initial state and CR transport take their
    own (different) numbers of steps to the same time and end bit for bit where each ends
    alone, with driving (the hydro, CR and driving code all in the loop): cross-talk between
    members, a shared time step, a lost member or a box mean summed in a batch-dependent order
    (the driving's normalisation, which once made members differ in the last bits) all fail
    it."""
    base = MHDConfig(resolution=16, k_max=3, precision="float64")
    configs = [dataclasses.replace(preset_config(name, base), seed=k)
               for k, name in enumerate(classes)]
    solvers = [Solver(c) for c in configs]
    dedts = [0.1 * (k + 1) for k in range(len(configs))]
    starts = [s.start(random_state(16, seed=k, mach=0.3 + 0.3 * k))
              for k, s in enumerate(solvers)]
    alone = [s.advance(c, 0.06, dedt) for s, c, dedt in zip(solvers, starts, dedts)]
    together = advance_members(solvers, starts, 0.06, dedts)
    steps = [int(c.steps) for c in alone]
    assert [int(c.steps) for c in together] == steps
    assert len(set(steps)) > 1, steps                    # each member its own time step
    for a, b in zip(alone, together):
        assert float(a.time) == pytest.approx(0.06) and float(b.time) == pytest.approx(0.06)
        for x, y in zip(_leaves(a), _leaves(b)):
            np.testing.assert_array_equal(x, y)


def test_materialize_under_vmap_is_the_identity_a_kept_conditional_and_isolates_members():
    """Batched, the fence must still be a conditional on the CPU (else the speed-up is lost),
    return every member unchanged, and poison only when every member is NaN: one member's NaN
    must not spread to the others."""
    x = jnp.asarray(np.random.default_rng(1).normal(size=(3, 4, 5)), jnp.float32)
    fenced = jax.jit(jax.vmap(lambda t: [a + 1 for a in materialize([b * 2 for b in t])]))
    out = fenced([x, -x])
    np.testing.assert_array_equal(np.asarray(out[0]), np.asarray(x * 2 + 1))
    np.testing.assert_array_equal(np.asarray(out[1]), np.asarray(-x * 2 + 1))
    one_bad = fenced([x.at[0, 0, 0].set(jnp.nan), x])
    assert bool(jnp.isnan(one_bad[0][0, 0, 0])) and not bool(jnp.any(jnp.isnan(one_bad[0][1:])))
    assert not bool(jnp.any(jnp.isnan(one_bad[1])))
    all_bad = fenced([x.at[:, 0, 0].set(jnp.nan), x])
    assert all(bool(jnp.all(jnp.isnan(a))) for a in all_bad)
    if jax.default_backend() == "cpu":
        assert "conditional(" in fenced.lower([x, x]).compile().as_text()


@pytest.mark.slow
def test_an_ensemble_writes_each_run_as_it_would_alone(tmp_path):
    """Files, histories and records of an ensemble (two seeds of two CR classes, float64)
    equal those of each run alone bit for bit after about 100 driven steps, then reuse."""
    base = MHDConfig(**SMALL, precision="float64")
    specs = [RunSpec(dataclasses.replace(preset_config(name, base), seed=seed), name,
                     f"seed{seed}") for name in ("CR_Advect", "CR_Streaming") for seed in (0, 1)]
    results = simulate_ensemble(specs, tmp_path / "together")
    assert all(r.members == 4 and not r.reused for r in results)
    for spec, together in zip(specs, results):
        alone = simulate_mhd(spec.config, tmp_path / "alone", spec.name, run=spec.run)
        assert alone.steps == together.steps and alone.members == 1
        for a, b in zip(alone.files, together.files):
            one, two = read_athdf(a), read_athdf(b)
            assert set(one.fields) == set(two.fields)
            for name in one.fields:
                np.testing.assert_array_equal(two[name], one[name])
        h1, h2 = read_history(alone.history), read_history(together.history)
        np.testing.assert_array_equal(h2["kinetic_energy"], h1["kinetic_energy"])
        record = json.loads((together.folder / "run.json").read_text())
        assert record["finished"] and record["members"] == 4
    again = simulate_ensemble(specs, tmp_path / "together")
    assert all(r.reused for r in again)


def test_a_failing_member_leaves_the_others_to_finish(tmp_path):
    """A member whose vmax is below its fastest signal fails with its own folder in the error;
    the other member's run is finished and written."""
    base = MHDConfig(**SMALL)
    good = RunSpec(preset_config("CR_Advect", base), "CR_Advect")
    bad = RunSpec(preset_config("CR_Streaming", base, vmax=1.2), "CR_Streaming")
    with pytest.raises(SimulationError, match=r"CR_Streaming.*--vmax"):
        simulate_ensemble([bad, good], tmp_path)
    record = json.loads((tmp_path / "CR_Advect" / "run.json").read_text())
    assert record["finished"]
    assert all(p.exists() for p in (tmp_path / "CR_Advect").glob("cr.out1.*.athdf"))
    assert not json.loads((tmp_path / "CR_Streaming" / "run.json").read_text())["finished"]


def test_ensembles_group_runs_of_one_shape_and_refuse_mixtures(tmp_path):
    """Runs group by numerics, CR on/off and output times, at most ``batch`` per group (by
    default every run of a group, except boxes above 16^3 on the CPU, where batching is
    slower); an ensemble of mixed shapes or two runs in one folder is refused before anything is
    written."""
    base = MHDConfig(**SMALL)
    jobs = [(name, dataclasses.replace(preset_config(name, base), seed=k), f"seed{k}")
            for name in ("MHD", "CR_Advect", "CR_Streaming") for k in range(2)]
    jobs += [("MHD", MHDConfig(**{**SMALL, "resolution": 32, "seed": k}), f"big{k}")
             for k in range(2)]
    assert ensembles(jobs, platform="cpu") == [[0, 1], [2, 3, 4, 5], [6], [7]]
    assert ensembles(jobs, platform="gpu") == [[0, 1], [2, 3, 4, 5], [6, 7]]
    assert ensembles(jobs, batch=3) == [[0, 1], [2, 3, 4], [5], [6, 7]]
    assert ensembles(jobs, batch=1) == [[i] for i in range(8)]
    with pytest.raises(ConfigError, match="share resolution"):
        simulate_ensemble([RunSpec(jobs[0][1]), RunSpec(jobs[2][1], "CR_Advect")], tmp_path)
    with pytest.raises(ConfigError, match="share one folder"):
        simulate_ensemble([RunSpec(jobs[0][1]), RunSpec(jobs[1][1])], tmp_path)
    assert not any(tmp_path.iterdir())
