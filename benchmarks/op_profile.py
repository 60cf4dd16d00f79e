"""Where a training step's time goes: our classifier (TensorFlow) against the PyTorch reference.

    python -m benchmarks.op_profile [--steps 40] [--isa-cap AVX2]

Profiles ``steps`` training steps of the default classifier (128x128, batch 64, Adam, tiles from
memory, ``steps_per_execution=8``) with TensorFlow's profiler, and of the published network
rebuilt in PyTorch (``benchmarks.torch_reference``) with ``torch.profiler``, each in its own
process, and sums kernel time per step by category: convolution forward and backward (both
gradients), BatchNorm forward and backward, SiLU forward and backward, optimizer, the rest.
``--isa-cap AVX2`` caps every kernel library (``_report.ISA_CAPS``) to see the kernels an
AVX2-only CPU gets. Kernel times are CPU time summed over threads, so with two cores they can
add up to more than the wall time per step, which is given too. Writes
``benchmarks/results/op_profile.json``.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._report import ISA_CAPS, capped_env, describe, kernel_caps, machine, write_result

CATEGORIES = ("conv_forward", "conv_backward", "batchnorm_forward", "batchnorm_backward",
              "silu_forward", "silu_backward", "optimizer", "other")

# TensorFlow op types (after oneDNN's rewrite, "_MklNative..." prefixes stripped) -> category
_TF_TYPES = {"Conv2D": "conv_forward", "Conv2DBackpropInput": "conv_backward",
             "Conv2DBackpropFilter": "conv_backward",
             "FusedBatchNormV3": "batchnorm_forward", "FusedBatchNormGradV3": "batchnorm_backward",
             "Swish": "silu_forward", "Sigmoid": "silu_forward"}
# PyTorch operators -> category; an operator inside another takes its ancestor's category
_TORCH_OPS = {"aten::mkldnn_convolution": "conv_forward",
              "aten::convolution_backward": "conv_backward",
              "aten::native_batch_norm": "batchnorm_forward",
              "aten::native_batch_norm_backward": "batchnorm_backward",
              "aten::silu": "silu_forward", "aten::silu_backward": "silu_backward"}


def _tf_category(name: str) -> str | None:
    """Category of one event of TensorFlow's host trace; ``None`` for bookkeeping events."""
    if name == "CpuExecutable::ExecuteAsyncOnStream":  # the one XLA function: SiLU's gradient
        return "silu_backward"
    if ":" not in name or "::" in name:  # op events are "name:type"; "A::B" are scopes
        return None
    path, op_type = name.rsplit(":", 1)
    op_type = op_type.removeprefix("_MklNative").removeprefix("_Mkl")
    if op_type in _TF_TYPES:
        return _TF_TYPES[op_type]
    if "/adam/" in f"/{path}/" or op_type.startswith(("ResourceApply", "Assign")):
        return "optimizer"
    return "other"


def profile_tensorflow(steps: int) -> dict:
    """Per-step kernel milliseconds by category, and wall milliseconds, of our training step."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import crturb_keras  # noqa: F401  (turns TensorFlow's oneDNN kernels on)
    import keras
    import numpy as np
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from crturb_keras.models import build_classifier

    rng = np.random.default_rng(0)
    data = tf.data.Dataset.from_tensor_slices(
        (rng.standard_normal((512, 128, 128, 1)).astype("float32"), rng.integers(0, 5, 512)))
    options = tf.data.Options()
    options.autotune.enabled = False
    data = data.repeat().batch(64).prefetch(2).with_options(options)
    model = build_classifier(5)
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  steps_per_execution=8)
    model.fit(data, steps_per_epoch=16, epochs=1, verbose=0)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
        wall = time.perf_counter() - start
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(Path(logdir).rglob("*.xplane.pb")).read_bytes())
    totals: dict[str, float] = collections.defaultdict(float)
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                category = _tf_category(plane.event_metadata[event.metadata_id].name)
                if category:
                    totals[category] += event.duration_ps / 1e9
    return {"framework": f"tensorflow {tf.__version__}",
            "wall_ms_per_step": 1e3 * wall / steps,
            "ms_per_step": {c: totals[c] / steps for c in CATEGORIES}}


def profile_torch(steps: int) -> dict:
    """The same for the PyTorch reference network (self CPU time, by operator ancestry)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from .torch_reference import training_step

    step = training_step()
    for i in range(8):
        step(i)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    wall = time.perf_counter() - start
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            step(i)
    totals: dict[str, float] = collections.defaultdict(float)
    for event in prof.events():
        category, node = "other", event
        while node is not None:
            if node.name in _TORCH_OPS or node.name.startswith("Optimizer."):
                category = _TORCH_OPS.get(node.name, "optimizer")
                break
            node = node.cpu_parent
        totals[category] += event.self_cpu_time_total / 1e3
    return {"framework": f"torch {torch.__version__}", "wall_ms_per_step": 1e3 * wall / steps,
            "ms_per_step": {c: totals[c] / steps for c in CATEGORIES}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.op_profile", description=__doc__)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--isa-cap", choices=sorted(ISA_CAPS), default=None)
    parser.add_argument("--framework", choices=("tensorflow", "torch"), default=None,
                        help=argparse.SUPPRESS)  # one child process's share of the work
    parser.add_argument("--out", default="benchmarks/results/op_profile.json")
    args = parser.parse_args(argv)
    if args.framework:
        run = profile_tensorflow if args.framework == "tensorflow" else profile_torch
        print(json.dumps(run(args.steps)))
        return 0
    profiles = {}
    for framework in ("tensorflow", "torch"):
        done = subprocess.run([sys.executable, "-m", "benchmarks.op_profile", "--framework",
                               framework, "--steps", str(args.steps)], capture_output=True,
                              text=True, env=capped_env(args.isa_cap))
        if done.returncode != 0:
            print(f"op_profile: the {framework} profile failed: "
                  f"{done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return 1
        profiles[framework] = json.loads(done.stdout.strip().splitlines()[-1])
    where = describe({**machine(), "kernel_caps": kernel_caps(capped_env(args.isa_cap))})
    write_result(args.out, {"benchmark": "op_profile", "steps": args.steps,
                            "isa_cap": args.isa_cap, "where": where, "profiles": profiles})
    ours, theirs = profiles["tensorflow"], profiles["torch"]
    parts = ", ".join(f"{c} {ours['ms_per_step'][c]:.1f}/{theirs['ms_per_step'][c]:.1f}"
                      for c in CATEGORIES)
    print(f"op_profile ms per step, ours/PyTorch ({where}): wall "
          f"{ours['wall_ms_per_step']:.1f}/{theirs['wall_ms_per_step']:.1f}; {parts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
