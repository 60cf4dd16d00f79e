#!/usr/bin/env bash
# GPU benchmark: the MHD solver's zone-cycles/s up to 256^3, then mixed precision and XLA (the
# training defaults on a GPU), in under 10 minutes.
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
timeout 150 .venv-gpu/bin/python -m benchmarks.mhd --resolutions 64,128,256 --steps 200 --min-steps 20 --out "${OUT:-benchmarks/results/gpu}/mhd_gpu.json"
timeout 150 .venv-gpu/bin/python -m benchmarks.mhd --preset CR_Diff_Fiducial --resolutions 64,128,256 --steps 200 --min-steps 20 --out "${OUT:-benchmarks/results/gpu}/mhd_cr_gpu.json"
timeout 400 .venv-gpu/bin/python -m benchmarks.run --quick --isa-caps --out "${OUT:-benchmarks/results/gpu}"
