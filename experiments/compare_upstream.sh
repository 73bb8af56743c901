#!/usr/bin/env bash
# Our run beside upstream iAdvT (Sato et al., aonotas/interpretable-adv): comparison.md, .json and .png.
#
#   bash experiments/compare_upstream.sh OUR_RUN UPSTREAM_LOG [UPSTREAM_LOG ...]
#       compare with existing upstream training logs (what upstream's train.py writes to its log file)
#   UPSTREAM_CHECKOUT=../interpretable-adv UPSTREAM_CMD="python -u train.py --gpu=0 ..." \
#       bash experiments/compare_upstream.sh OUR_RUN
#       run upstream first (in its checkout, with its own Python/Chainer 4 environment), keep its
#       output as OUT/upstream_train.log, then compare
#
# OUR_RUN is a run directory of `iadv train` (e.g. runs/upstream/iadvt after
# `iadv train --preset upstream`). OUT defaults to OUR_RUN/comparison. DATA (optional) is the
# prepared dataset whose train split gives upstream's tokens per epoch (default: our run's figure).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IADV=${IADV:-$ROOT/.venv/bin/iadv}
if [ $# -lt 1 ]; then
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
OUR_RUN=$1
shift
OUT=${OUT:-$OUR_RUN/comparison}
LOGS=("$@")
if [ -n "${UPSTREAM_CHECKOUT:-}" ]; then
  [ -n "${UPSTREAM_CMD:-}" ] || { echo "UPSTREAM_CHECKOUT needs UPSTREAM_CMD (upstream's command line)" >&2; exit 2; }
  [ -d "$UPSTREAM_CHECKOUT" ] || { echo "UPSTREAM_CHECKOUT=$UPSTREAM_CHECKOUT: no such directory" >&2; exit 2; }
  mkdir -p "$OUT"
  log=$(cd "$OUT" && pwd)/upstream_train.log
  echo "running upstream in $UPSTREAM_CHECKOUT: $UPSTREAM_CMD (log: $log)"
  (cd "$UPSTREAM_CHECKOUT" && bash -c "$UPSTREAM_CMD") 2>&1 | tee "$log" ||
    { echo "upstream command failed; its output is in $log" >&2; exit 1; }
  LOGS+=("$log")
fi
[ ${#LOGS[@]} -gt 0 ] || { echo "give upstream log files, or UPSTREAM_CHECKOUT and UPSTREAM_CMD" >&2; exit 2; }
DATA_FLAG=()
[ -n "${DATA:-}" ] && DATA_FLAG=(--data "$DATA")
"$IADV" compare-upstream --ours "$OUR_RUN" --upstream "${LOGS[@]}" --out "$OUT" "${DATA_FLAG[@]}"
