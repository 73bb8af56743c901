# Shared by the experiment scripts: settings and a resumable "stage" helper.
# PRESET=small|paper|tiny  RUNS=runs/$PRESET  DATA=prepared dataset  IMDB=source of the data
# (RAW=where the tiny preset writes its synthetic corpus)
# DEVICE=-1 (CPU) or 0 (GPU; the paper preset's default)  IADV=iadv executable
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PRESET=${PRESET:-small}
RUNS=${RUNS:-runs/$PRESET}
IADV=${IADV:-$ROOT/.venv/bin/iadv}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
if [ "$PRESET" = tiny ]; then
  DATA=${DATA:-runs/data/synthetic}
  RAW=${RAW:-runs/data/synthetic_raw}
else
  DATA=${DATA:-runs/data/imdb}
  IMDB=${IMDB:-$ROOT/../shared/data/imdb}
fi
DEVICE_FLAG=()
[ -n "${DEVICE:-}" ] && DEVICE_FLAG=(--device "$DEVICE")
LOGS=$RUNS/logs
mkdir -p "$LOGS"

# stage NAME MARKER COMMAND...: run COMMAND unless MARKER exists (a finished stage is not redone;
# an interrupted one resumes from its snapshots). Output goes to $LOGS/NAME.log and the screen.
stage() {
  local name=$1 marker=$2
  shift 2
  if [ -e "$marker" ]; then
    echo "[done] $name ($marker)"
    return 0
  fi
  echo "[run]  $name -> $LOGS/$name.log"
  local start=$SECONDS
  "$@" 2>&1 | tee "$LOGS/$name.log" | grep -E --line-buffered "^\[|error|^\|" || true
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "stage $name failed; see $LOGS/$name.log" >&2; exit 1; }
  [ -e "$marker" ] || { echo "stage $name did not write $marker; see $LOGS/$name.log" >&2; exit 1; }
  echo "[time] $name $((SECONDS - start)) s" | tee -a "$LOGS/times.txt"
}

prepare_data() {
  if [ "$PRESET" = tiny ]; then
    stage synthetic "$RAW/aclImdb" "$IADV" synthetic --out "$RAW"
    stage prepare "$DATA/stats.json" "$IADV" prepare "$RAW" --out "$DATA" --quiet
  else
    stage prepare "$DATA/stats.json" "$IADV" prepare "$IMDB" --out "$DATA" --quiet
  fi
}

pretrain_lm() {
  stage lm "$RUNS/lm/results.json" "$IADV" pretrain --preset "$PRESET" --data "$DATA" -o "$RUNS/lm" \
    --no-progress "${DEVICE_FLAG[@]}"
}

train_classifier() {  # train_classifier NAME METHOD [PRETRAINED]
  local name=$1 method=$2 pretrained=()
  [ "${3:-}" = pretrained ] && pretrained=(--pretrained "$RUNS/lm/lm.npz")
  stage "$name" "$RUNS/$name/results.json" "$IADV" train --preset "$PRESET" --data "$DATA" --method "$method" \
    "${pretrained[@]}" -o "$RUNS/$name" --no-progress "${DEVICE_FLAG[@]}"
}
