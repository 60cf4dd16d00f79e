#!/usr/bin/env bash
# GPU benchmark: the MHD (+ CR) solver's zone-cycles/s at 128^3-512^3, its scaling over the GPUs
# present (the grid split with --devices), then mixed precision and XLA (the training defaults on a
# GPU), in under 8 minutes. No ensemble figure yet (batched ensembles are not built).
# Uses .venv-gpu if it already has a GPU build of TensorFlow, else builds it (needs PyPI access;
# on a machine without network, build .venv-gpu elsewhere with the same Python and carry it).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv-gpu/bin/python -c "import tensorflow as tf, sys; sys.exit(not tf.config.list_physical_devices('GPU'))" 2>/dev/null; then
  python3 -m venv .venv-gpu
  .venv-gpu/bin/pip install -q -e '.[gpu]'
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
export TF_CPP_MIN_LOG_LEVEL=2
gpus=$( (nvidia-smi --list-gpus 2>/dev/null || true) | wc -l); counts=1; [ "$gpus" -ge 2 ] && counts=1,2; [ "$gpus" -ge 4 ] && counts=1,2,4
timeout 90 .venv-gpu/bin/python -m benchmarks.mhd --resolutions 128,256,512 --steps 2000 --min-steps 10 --repeats 3 --out "${OUT:-benchmarks/results/gpu}/mhd_gpu.json"
timeout 90 .venv-gpu/bin/python -m benchmarks.mhd --preset CR_Diff_Fiducial --resolutions 128,256,512 --steps 2000 --min-steps 10 --repeats 3 --out "${OUT:-benchmarks/results/gpu}/mhd_cr_gpu.json"
[ "$counts" != 1 ] && timeout 60 .venv-gpu/bin/python -m benchmarks.mhd --resolutions 512 --devices "$counts" --min-steps 10 --out "${OUT:-benchmarks/results/gpu}/mhd_scaling_gpu.json"
timeout 220 .venv-gpu/bin/python -m benchmarks.run --quick --isa-caps --out "${OUT:-benchmarks/results/gpu}"
