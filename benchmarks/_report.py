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


@functools.cache
def machine() -> dict:
    """The CPU model, its vector extensions, core count and GPUs of this machine.

    ``isa_limit`` reports ``ONEDNN_MAX_CPU_ISA`` when set (it caps the kernels oneDNN uses in
    TensorFlow and PyTorch, e.g. ``AVX2`` to mimic a CPU without AVX-512), so a figure taken
    under a cap says so.
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
            "tf_onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "gpus": gpus,
            "platform": platform.platform()}


def describe(info: dict | None = None) -> str:
    """One line naming the CPU, whether it has AVX-512 and AMX, and the GPUs."""
    info = info or machine()
    line = (f"{info['cpu']}, {info['cpus']} cores, AVX-512 {'yes' if info['avx512'] else 'NO'}, "
            f"AMX {'yes' if info['amx'] else 'no'}")
    if info["isa_limit"]:
        line += f", oneDNN capped at {info['isa_limit']}"
    if info["tf_onednn"] == "0":
        line += ", TensorFlow's oneDNN off"
    return line + (f"; GPU {', '.join(info['gpus'])}" if info["gpus"] else "; no GPU")


def write_result(path: str | Path, result: dict) -> Path:
    """Write ``result`` with the machine description as indented JSON to ``path``."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**result, "machine": machine()}, indent=2))
    return out
