"""The benchmarks say on which kernels a figure was taken (issue 17: ratios differ by CPU kind)."""

import pytest

from benchmarks._report import ISA_CAPS, capped_env, describe, kernel_caps


def test_avx2_cap_covers_every_kernel_library_and_keeps_other_xla_flags():
    env = capped_env("AVX2", {"XLA_FLAGS": "--xla_dump_to=/tmp/x --xla_cpu_max_isa=AVX512",
                              "PATH": "/bin"})
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2" and env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert env["XLA_FLAGS"].split() == ["--xla_dump_to=/tmp/x", "--xla_cpu_max_isa=AVX2"]
    assert env["PATH"] == "/bin"
    assert kernel_caps(env) == {"oneDNN": "AVX2", "XLA": "AVX2", "ATen": "avx2"}
    assert capped_env(None, {"PATH": "/bin"}) == {"PATH": "/bin"}


def test_unknown_cap_is_refused():
    with pytest.raises(ValueError, match="AVX2"):
        capped_env("AVX3", {})


def test_native_environment_reports_no_caps():
    assert kernel_caps({"ATEN_CPU_CAPABILITY": "default", "XLA_FLAGS": "--xla_dump_to=/x"}) == {}


def test_description_names_missing_avx512_and_caps():
    info = {"cpu": "AMD EPYC 7B12", "cpus": 2, "avx512": False, "amx": False,
            "kernel_caps": {}, "tf_onednn": None, "gpus": []}
    assert describe(info) == "AMD EPYC 7B12, 2 cores, AVX-512 NO, AMX no; no GPU"
    capped = describe({**info, "cpu": "Intel Xeon", "avx512": True,
                       "kernel_caps": kernel_caps(capped_env("AVX2", {}))})
    assert "AVX-512 yes" in capped and "kernels capped: oneDNN AVX2, XLA AVX2, ATen avx2" in capped
    assert set(ISA_CAPS) == {"AVX2"}
