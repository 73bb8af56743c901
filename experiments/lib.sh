# Shared by the experiment scripts: settings and a resumable "stage" helper.
# PRESET=small|paper|tiny  RUNS=runs/$PRESET  DATA=prepared dataset  IMDB=source of the data
# (RAW=where the tiny preset writes its synthetic corpus)
# DEVICE=-1 (CPU) or 0 (GPU; the paper preset's default)  IADV=iadv executable  KINDS="paper control virtual"
# (the run rows trained)  PRETRAIN_FLAGS="..." extra `iadv pretrain` flags
# SEEDS="0 1 2" classifier seeds (the LM is trained once)  JOBS=2 classifier runs at once on a CPU
# (each with OMP_NUM_THREADS = cores / JOBS; at the small sizes two one-thread runs do more work
# than one two-thread run)  TRAIN_FLAGS="..." extra `iadv train` flags for every classifier
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

# One script per run set: an exclusive lock on $RUNS for the script's lifetime, taken before its first
# write (the logs); the OS releases it when the script exits, kill -9 included. Scripts started by a
# script (train_one.sh, run_grid.sh, ...) share their parent's lock; each iadv command also locks the
# directory it writes. A second script on the same $RUNS stops with one line naming the holder, exit 2.
hold_runs_lock() {
  command -v flock > /dev/null || return 0   # util-linux; without it only the iadv commands lock
  local dir file
  dir=$(cd "$RUNS" && pwd)
  [ "${IADV_SCRIPT_LOCK:-}" = "$dir" ] && return 0
  file=$dir/.iadv-script-lock
  exec 9<> "$file"
  if ! flock -n 9; then
    echo "$(basename "$0"): error: $RUNS is in use by $(head -c 300 "$file" 2> /dev/null || echo "another script")" \
         "(a second script would mix its runs and logs into it); wait for it to finish, or set RUNS" >&2
    exit 2
  fi
  echo "PID $$ ($0${*:+ $*}), since $(date -Iseconds)" > "$file"
  export IADV_SCRIPT_LOCK=$dir
}
hold_runs_lock "$@"

# finished MARKER: MARKER exists and, if it is a .json file, parses (iadv writes results atomically;
# this also catches a file truncated by something else, e.g. a full disk or a copy).
finished() {
  [ -e "$1" ] || return 1
  case $1 in
    *.json) "$PYTHON" -c 'import json, sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null \
              || { echo "[redo] $1 does not parse; running its stage again" >&2; return 1; } ;;
  esac
}

# reusable MARKER COMMAND...: MARKER is finished and, for an `iadv train` or `iadv pretrain` COMMAND, its --out
# holds a finished run of exactly COMMAND's settings (`--check-done`): a --test run, a shortened run or one of
# other settings is never taken for the stage's result (COMMAND then resumes it, or refuses with the differences).
reusable() {
  local marker=$1 why
  shift
  finished "$marker" || return 1
  case ${2:-} in
    train|pretrain)
      why=$("$@" --check-done 2>&1) && return 0
      echo "[redo] ${why##*$'\n'}" ;;
    *) return 0 ;;
  esac
  return 1
}

# stage NAME MARKER COMMAND...: run COMMAND unless the stage is done (`reusable`: a finished stage is not redone;
# an interrupted one resumes from its snapshots). Output goes to $LOGS/NAME.log and the screen.
stage() {
  local name=$1 marker=$2
  shift 2
  if reusable "$marker" "$@"; then
    echo "[done] $name ($marker)"
    return 0
  fi
  echo "[run]  $name -> $LOGS/$name.log"
  local start=$SECONDS
  local codes   # the command's own exit status (under pipefail, `|| true` would hide it behind true's)
  if "$@" 2>&1 | tee "$LOGS/$name.log" | grep -E --line-buffered "^\[|error|^\|"; then codes=("${PIPESTATUS[@]}")
  else codes=("${PIPESTATUS[@]}"); fi
  [ "${codes[0]}" -eq 0 ] || { echo "stage $name failed; see $LOGS/$name.log" >&2; exit 1; }
  finished "$marker" || { echo "stage $name did not write $marker; see $LOGS/$name.log" >&2; exit 1; }
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

read -r -a PRETRAIN_FLAGS_ARRAY <<< "${PRETRAIN_FLAGS:-}"
pretrain_lm() {
  stage lm "$RUNS/lm/results.json" "$IADV" pretrain --preset "$PRESET" --data "$DATA" -o "$RUNS/lm" \
    --no-progress "${DEVICE_FLAG[@]}" "${PRETRAIN_FLAGS_ARRAY[@]}"
}

# The class-conditional LM p_l(x|y) of the paper's equation 9 (beyond the paper): the pretrained LM
# fine-tuned on the labelled training reviews with a label embedding (rows advt_lm, spgd_lm use it).
pretrain_conditional_lm() {
  stage clm "$RUNS/clm/results.json" "$IADV" pretrain --preset "$PRESET" --data "$DATA" -o "$RUNS/clm" \
    --conditional --init "$RUNS/lm/lm.npz" --no-progress "${DEVICE_FLAG[@]}"
}

# lm_weight_of ROW: beta of an LM-term row: chosen on dev by experiments/lm_term.sh ($RUNS/lm_weight/ROW.beta),
# else $LM_WEIGHT, else 1 (equation 9 as written).
lm_weight_of() {
  local file=$RUNS/lm_weight/$1.beta
  if [ -s "$file" ]; then cat "$file"; else echo "${LM_WEIGHT:-1}"; fi
}

SEEDS=${SEEDS:-0 1 2}
JOBS=${JOBS:-2}
# Which run rows the reproduction scripts train (`iadv methods --rows KIND...`): the paper's Table 3, the control
# and the VAT family by default; KINDS=paper for the paper's rows alone (e.g. on a GPU budget).
read -r -a KINDS_ARRAY <<< "${KINDS:-paper control virtual}"
read -r -a TRAIN_FLAGS_ARRAY <<< "${TRAIN_FLAGS:-}"

train_classifier() {  # train_classifier ROW SEED: one row at one seed -> $RUNS/seed$SEED/$ROW
  local row=$1 seed=$2 pretrained=() lm_term=() spec method from_lm with_lm
  spec=$("$IADV" methods --row "$row")   # the row's `iadv train --method`, whether it starts from the LM, eq. 9
  read -r method from_lm with_lm <<< "$spec"
  [ "$from_lm" = 1 ] && pretrained=(--pretrained "$RUNS/lm/lm.npz")
  [ "$with_lm" = 1 ] && lm_term=(--lm-term "$RUNS/clm/lm.npz" --lm-weight "$(lm_weight_of "$row")")
  stage "seed$seed-$row" "$RUNS/seed$seed/$row/results.json" "$IADV" train --preset "$PRESET" --data "$DATA" \
    --method "$method" "${pretrained[@]}" "${lm_term[@]}" --seed "$seed" -o "$RUNS/seed$seed/$row" \
    --no-progress "${DEVICE_FLAG[@]}" "${TRAIN_FLAGS_ARRAY[@]}"
}

# run_pool SCRIPT: run `bash SCRIPT ARGS...` for every line of stdin (ARGS = the line's words), $JOBS at a
# time on a CPU (each with OMP_NUM_THREADS = cores / JOBS), one at a time on a GPU. Fails if any run fails.
run_pool() {
  local jobs=$JOBS threads
  [ "${DEVICE:--1}" = -1 ] || jobs=1
  threads=$(( $(nproc) / jobs )); [ "$threads" -ge 1 ] || threads=1
  OMP_NUM_THREADS=$threads xargs -P "$jobs" -L 1 bash "$@" || { echo "some runs failed; see $LOGS/" >&2; exit 1; }
}

# train_rows ROW...: every ROW at every seed in $SEEDS (longest runs first: pass them first).
train_rows() {
  for row in "$@"; do for seed in $SEEDS; do echo "$row $seed"; done; done | run_pool "$ROOT/experiments/train_one.sh"
}

# train_kinds KIND... [--perturbed]: train_rows of every run row of these kinds (paper, lm, control, virtual) in the methods
# registry (`iadv methods --rows`; --perturbed: only rows whose method perturbs, Table 1's).
train_kinds() {
  local names
  names=$("$IADV" methods --rows "$@")
  read -r -a names <<< "$names"
  train_rows "${names[@]}"
}

# evaluate_seeds: Table 1 for every seed's adversarial classifiers (same sample, shared LM) and Table 4 (every
# classifier under one common attack, the same sample), then the seed-aggregated Tables 3, 1 and 4 with their
# significance in $RUNS/eval.
evaluate_seeds() {
  for seed in $SEEDS; do echo "$seed"; done | run_pool "$ROOT/experiments/evaluate_one.sh"
  attack_seeds
}

# attack_seeds: Table 4 of every seed (`iadv attack`, ATTACK_FLAGS="..." extra flags), then `iadv summarize`.
attack_seeds() {
  for seed in $SEEDS; do echo "$seed"; done | run_pool "$ROOT/experiments/attack_one.sh"
  "$IADV" summarize --runs "$RUNS" --data "$DATA" --no-progress "${DEVICE_FLAG[@]}" > "$LOGS/summarize.log"
}

read -r -a ATTACK_FLAGS_ARRAY <<< "${ATTACK_FLAGS:-}"
attack_seed() {  # attack_seed SEED: Table 4 of one seed in $RUNS/seed$SEED/attack
  stage "seed$1-table4" "$RUNS/seed$1/attack/results.json" "$IADV" attack --runs "$RUNS/seed$1" \
    --lm "$RUNS/lm/lm.npz" --data "$DATA" --sample "${SAMPLE:-200}" --no-progress "${DEVICE_FLAG[@]}" \
    "${ATTACK_FLAGS_ARRAY[@]}"
}

evaluate_seed() {  # evaluate_seed SEED: Table 1 (and the seed's Table 3) in $RUNS/seed$SEED/eval
  stage "seed$1-table1" "$RUNS/seed$1/eval/results.json" "$IADV" evaluate --runs "$RUNS/seed$1" \
    --lm "$RUNS/lm/lm.npz" --data "$DATA" --sample "${SAMPLE:-200}" --no-progress "${DEVICE_FLAG[@]}"
}

# write_report: the run set's self-contained HTML page (`iadv report`: tables, plots, every Table 1 review) in
# $RUNS/report/index.html, rewritten every time (a few seconds), its path printed.
write_report() {
  "$IADV" report --runs "$RUNS" --data "$DATA" -o "$RUNS/report" > "$LOGS/report.log" 2>&1 \
    || { cat "$LOGS/report.log" >&2; echo "iadv report failed; see $LOGS/report.log" >&2; exit 1; }
  echo "report: $RUNS/report/index.html (open it in a browser)"
}
