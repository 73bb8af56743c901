#!/usr/bin/env bash
# GPU verification, for a machine with a CUDA GPU (e.g. the lent device): installs the gpu extra,
# runs the GPU tests (kernel vs NumPy reference), then a tiny chain with --device 0.
# Usage: bash experiments/gpu_check.sh   (after `make venv`)
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pip install --quiet --no-build-isolation -e ".[gpu]"
export CHAINER_CUDNN=${CHAINER_CUDNN:-0}   # cuDNN may be absent; the code must work without it
.venv/bin/python -c "import cupy; print('cupy', cupy.__version__, 'devices', cupy.cuda.runtime.getDeviceCount())"
.venv/bin/python -m pytest -q -m gpu tests/test_kernels.py
OUT=${OUT:-/tmp/iadv_gpu_check}
rm -rf "$OUT"
PRESET=tiny DEVICE=0 RUNS="$OUT/runs" DATA="$OUT/data" RAW="$OUT/raw" SAMPLE=20 INDICES=0 \
  bash experiments/reproduce_small.sh
.venv/bin/python experiments/bench_neighbors.py --vocab 87008 --dim 256 -k 15 || true
