"""Shared output of the benchmarks: one JSON file per benchmark, each naming the machine."""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
from pathlib import Path

# vector extensions that decide CPU kernel speed (oneDNN, XLA, PyTorch pick kernels by them)
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni",
                "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


#: Environment that makes a CPU with AVX-512 run the kernels an AVX2-only CPU (e.g. AMD EPYC
#: Zen 2/3) gets: oneDNN (TensorFlow's and PyTorch's convolutions, BatchNorm, pooling), XLA's
#: CPU code generator (our SiLU gradient) and PyTorch's own ATen kernels (BatchNorm, SiLU,
#: Adam) are all capped. TensorFlow's Eigen kernels need no cap: the wheels are built for AVX.
ISA_CAPS = {
    "AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
             "XLA_FLAGS": "--xla_cpu_max_isa=AVX2"},
}


def capped_env(cap: str | None, base: dict | None = None) -> dict:
    """``base`` (default ``os.environ``) with the kernel caps of ``cap`` (``None``: native).

    Raises
    ------
    ValueError
        If ``cap`` is not a key of :data:`ISA_CAPS`.
    """
    env = dict(os.environ if base is None else base)
    if cap is None:
        return env
    if cap not in ISA_CAPS:
        raise ValueError(f"unknown ISA cap {cap!r}; choose from {sorted(ISA_CAPS)}")
    caps = ISA_CAPS[cap]
    xla = " ".join(f for f in env.get("XLA_FLAGS", "").split()
                   if not f.startswith("--xla_cpu_max_isa"))
    return {**env, **caps, "XLA_FLAGS": f"{xla} {caps['XLA_FLAGS']}".strip()}


def kernel_caps(env: dict | None = None) -> dict:
    """The instruction-set caps in force: ``{"oneDNN": "AVX2", "XLA": "AVX2", "ATen": "avx2"}``
    for those set (read from ``ONEDNN_MAX_CPU_ISA``, ``XLA_FLAGS``, ``ATEN_CPU_CAPABILITY``)."""
    env = os.environ if env is None else env
    xla = [flag.split("=", 1)[1] for flag in env.get("XLA_FLAGS", "").split()
           if flag.startswith("--xla_cpu_max_isa=")]
    caps = {"oneDNN": env.get("ONEDNN_MAX_CPU_ISA"), "XLA": xla[-1] if xla else None,
            "ATen": env.get("ATEN_CPU_CAPABILITY")}
    return {lib: isa for lib, isa in caps.items() if isa and isa.lower() != "default"}


@functools.cache
def machine() -> dict:
    """The CPU model, its vector extensions, core count and GPUs of this machine.

    ``isa_limit`` reports ``ONEDNN_MAX_CPU_ISA`` when set and ``kernel_caps`` every cap of
    :data:`ISA_CAPS` in force (oneDNN, XLA, ATen), so a figure taken on an AVX-512 machine
    mimicking an AVX2-only one says so.
    """
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total",
                               "--format=csv,noheader"], capture_output=True, text=True,
                              timeout=20)
        gpus = [line.strip() for line in done.stdout.splitlines() if line.strip()] \
            if done.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired):
        gpus = []
    return {"cpu": model, "cpus": os.cpu_count(),
            "vector_extensions": [f for f in VECTOR_FLAGS if f in flags],
            "avx512": "avx512f" in flags, "amx": "amx_tile" in flags,
            "isa_limit": os.environ.get("ONEDNN_MAX_CPU_ISA"),
            "kernel_caps": kernel_caps(),
            "tf_onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "gpus": gpus,
            "platform": platform.platform()}


def describe(info: dict | None = None) -> str:
    """One line naming the CPU, whether it has AVX-512 and AMX, and the GPUs."""
    info = info or machine()
    line = (f"{info['cpu']}, {info['cpus']} cores, AVX-512 {'yes' if info['avx512'] else 'NO'}, "
            f"AMX {'yes' if info['amx'] else 'no'}")
    caps = info.get("kernel_caps") or {}
    if caps:
        line += ", kernels capped: " + ", ".join(f"{lib} {isa}" for lib, isa in caps.items())
    if info["tf_onednn"] == "0":
        line += ", TensorFlow's oneDNN off"
    return line + (f"; GPU {', '.join(info['gpus'])}" if info["gpus"] else "; no GPU")


def write_result(path: str | Path, result: dict) -> Path:
    """Write ``result`` with the machine description as indented JSON to ``path``."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**result, "machine": machine()}, indent=2))
    return out
