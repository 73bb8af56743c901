#!/usr/bin/env bash
# GPU verification, for a machine with a CUDA GPU: the GPU tests (CUDA kernel vs the NumPy
# reference), `iadv bench --device 0` (small and paper sizes), then the tiny chain with --device 0.
#
#   bash experiments/gpu_check.sh            # after `make venv`; installs the gpu extra (CuPy)
#
# Settings (environment): PYTHON (default .venv/bin/python), IADV (default .venv/bin/iadv),
# SKIP_INSTALL=1 to use the CuPy already installed, DATA (prepared IMDB for the bench; default
# runs/data/imdb), OUT (logs and bench JSON; default /tmp/iadv_gpu_check), WORK (runs of the tiny
# chain and bench tables; default /tmp/iadv_gpu_work), STEPS (timed steps per bench entry).
# Each part has its own time limit and a failure does not stop the next part; the exit status
# is the number of failed parts.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
IADV=${IADV:-$PWD/.venv/bin/iadv}
DATA=${DATA:-runs/data/imdb}
OUT=${OUT:-/tmp/iadv_gpu_check}
WORK=${WORK:-/tmp/iadv_gpu_work}
STEPS=${STEPS:-5}
export CHAINER_CUDNN=${CHAINER_CUDNN:-0}   # cuDNN may be absent; the code must work without it
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$WORK"
failed=0
part() {  # part NAME SECONDS COMMAND...: run with a limit, log to $OUT/NAME.log
  local name=$1 limit=$2; shift 2
  echo "== $name (limit ${limit} s)"
  local start=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$OUT/$name.log"
  echo "== $name: exit $rc after $((SECONDS - start)) s"
  [ $rc -eq 0 ] || failed=$((failed + 1))
}
if [ -z "${SKIP_INSTALL:-}" ]; then
  "$PYTHON" -m pip install --quiet --no-build-isolation -e ".[gpu]" || exit 1
fi
part environment 60 "$PYTHON" -c "
import numpy, cupy, chainer
from chainer.backends import cuda
print('numpy', numpy.__version__, 'cupy', cupy.__version__, 'chainer', chainer.__version__)
print('gpu', cupy.cuda.runtime.getDeviceProperties(0)['name'].decode(), 'chainer cuda available', cuda.available,
      'cudnn', cuda.cudnn_enabled)"
part gpu_tests 90 "$PYTHON" -m pytest -q -m gpu -p no:cacheprovider tests
part bench_kernels 150 "$IADV" bench --device 0 --sections matmul topk neighbors --sizes small paper \
  --out "$WORK/bench_kernels" --timeout 100
cp "$WORK/bench_kernels/bench.json" "$OUT/bench_kernels.json" 2>/dev/null
part bench_training 240 "$IADV" bench --device 0 --sections classifier lm --sizes small paper --data "$DATA" \
  --steps "$STEPS" --out "$WORK/bench_training" --timeout 100
cp "$WORK/bench_training/bench.json" "$OUT/bench_training.json" 2>/dev/null
part tiny_chain 200 env PRESET=tiny DEVICE=0 IADV="$IADV" PYTHON="$PYTHON" RUNS="$WORK/runs" DATA="$WORK/data" \
  RAW="$WORK/raw" SAMPLE=20 INDICES=0 bash experiments/reproduce_small.sh
echo "failed parts: $failed"
exit $failed
