"""The benchmarks still run against the current API and report what the README quotes.

Speed is never asserted here (benchmarks are measured, not tested); these catch a benchmark
broken by a library change, which the suite would otherwise report only as an error line.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.run import training_ratios

ROOT = Path(__file__).resolve().parents[1]


def _run(module: str, *args: str, out: Path, cap: str | None = None) -> dict:
    from benchmarks._report import capped_env

    done = subprocess.run([sys.executable, "-m", module, *args, "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env=dict(capped_env(cap), TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip(), "a benchmark prints one line of numbers"
    return json.loads(out.read_text())


@pytest.mark.slow
def test_input_pipeline_and_profiles_run(tmp_path):
    pipeline = _run("benchmarks.input_pipeline", "--snapshots", "1", "--repeats", "1",
                    out=tmp_path / "pipeline.json")
    assert pipeline["train_tiles"] > 0
    assert all(rate > 0 for rate in pipeline["images_per_second"].values())
    profile = _run("benchmarks.op_profile", "--steps", "2", "--isa-cap", "AVX2",
                   out=tmp_path / "profile.json")
    assert profile["isa_cap"] == "AVX2" and "kernels capped: oneDNN AVX2" in profile["where"]
    for framework in ("tensorflow", "torch"):
        times = profile["profiles"][framework]["ms_per_step"]
        assert times["conv_forward"] > 0 and times["batchnorm_forward"] > 0
        assert profile["profiles"][framework]["wall_ms_per_step"] > 0
    torch = _run("benchmarks.torch_reference", "--steps", "2", "--repeats", "1",
                 out=tmp_path / "torch.json", cap="AVX2")
    assert torch["machine"]["kernel_caps"] == {"oneDNN": "AVX2", "XLA": "AVX2", "ATen": "avx2"}
    assert torch["images_per_second"] > 0


def test_training_ratio_per_kind_of_kernels():
    pairs = {"native": {"images_per_second": {"from_disk": 300.0, "in_memory": 400.0,
                                              "torch": 200.0}},
             "AVX2": {"error": "benchmarks.torch_reference: failed"}}
    assert training_ratios(pairs) == {"native": {"from_disk": 1.5, "in_memory": 2.0}}
    pairs["AVX2"] = {"images_per_second": {"from_disk": 100.0, "in_memory": 150.0,
                                           "torch": 125.0}}
    assert training_ratios(pairs)["AVX2"] == {"from_disk": 0.8, "in_memory": 1.2}


@pytest.mark.slow
def test_campaign_benchmark_times_both_ways(tmp_path):
    result = _run("benchmarks.campaign", "--compare", "batch", "--classes", "MHD", "--seeds",
                  "2", "--t-start", "0.05", "--rounds", "1", out=tmp_path / "campaign.json")
    assert result["runs"] == 2 and set(result["seconds"]) == {"one run at a time", "ensembles"}
    assert all(len(times) == 1 for times in result["seconds"].values())
    assert result["speedup"] == pytest.approx(
        result["median_seconds_baseline"] / result["median_seconds_new"])
    assert result["machine"]["cpu"]


@pytest.mark.slow
def test_ensemble_benchmark_times_both_ways_over_the_same_steps(tmp_path):
    result = _run("benchmarks.ensemble", "--resolutions", "16", "--members", "2",
                  "--classes", "MHD", "--time", "0.02", "--rounds", "1",
                  out=tmp_path / "ensemble.json")
    (case,) = result["cases"]
    assert case["members"] == 2 and case["steps"]["alone"] == case["steps"]["together"]
    assert case["speedup"] == pytest.approx(
        case["median_seconds_alone"] / case["median_seconds_together"])
    assert result["machine"]["cpu"]


@pytest.mark.slow
def test_compile_benchmark_measures_both_ways(tmp_path):
    result = _run("benchmarks.compile", "--resolutions", "16", "--presets", "MHD", "--steps",
                  "2", "--repeats", "1", "--rounds", "1", out=tmp_path / "compile.json")
    (case,) = result["cases"]
    assert set(case["runs"]) == {"tuned", "defaults"}
    assert all(r["steps"] == 2 and r["compile_seconds"] > 0 for runs in case["runs"].values()
               for r in runs)
    assert case["compile_ratio"] == pytest.approx(
        case["compile_seconds_defaults"] / case["compile_seconds_tuned"])
    assert result["machine"]["cpu"]
