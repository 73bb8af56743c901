#!/usr/bin/env bash
# A short trial of the whole chain at the paper's sizes before the days-long run (`make paper-trial`): the LM and
# every row of KINDS for TRIAL_UPDATES updates each (seed 0), Table 1 on SAMPLE reviews, then
# experiments/trial_report.py: the estimated hours of the full run per stage and for 1, 3 and 5 seeds, from this
# machine's measured throughput, and the plateau check (exit 1 when Pretrained did not leave chance).
#   DEVICE=0 bash experiments/paper_trial.sh                        # -> runs/paper-trial/
#   TRAIN_FLAGS="--lr-warmup 1000" DEVICE=0 bash experiments/paper_trial.sh   # the small preset's warm-up
# Settings: PRESET (paper), DEVICE (the preset's: GPU 0), TRIAL_UPDATES (300), KINDS, SAMPLE (50), TRIAL_MIN_DEV
# (0.6: Pretrained's best dev accuracy that counts as off the plateau) and TRIAL_MAX_SHARE (0.9: its largest
# one-class share of dev), RUNS (runs/$PRESET-trial). Resumable.
export PRESET=${PRESET:-paper}
export RUNS=${RUNS:-runs/$PRESET-trial}
export SEEDS=0
TRIAL_UPDATES=${TRIAL_UPDATES:-300}
source "$(dirname "$0")/lib.sh"
batchsize=$("$IADV" train --preset "$PRESET" --show-config | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["batchsize"])')
export PRETRAIN_FLAGS="--max-iterations $TRIAL_UPDATES ${PRETRAIN_FLAGS:-}"
read -r -a PRETRAIN_FLAGS_ARRAY <<< "$PRETRAIN_FLAGS"
# One epoch of TRIAL_UPDATES batches: the classifier's only way to stop early (it has no --max-iterations).
export TRAIN_FLAGS="--epoch 1 --max-train-examples $((TRIAL_UPDATES * batchsize)) ${TRAIN_FLAGS:-}"   # train_one.sh
read -r -a TRAIN_FLAGS_ARRAY <<< "$TRAIN_FLAGS"
echo "trial: preset $PRESET, $TRIAL_UPDATES updates per stage, rows of ${KINDS_ARRAY[*]}, runs in $RUNS"
prepare_data
pretrain_lm
train_kinds "${KINDS_ARRAY[@]}"
SAMPLE=${SAMPLE:-50} evaluate_seeds
cat "$RUNS/eval/table3.md"
"$PYTHON" "$ROOT/experiments/trial_report.py" --runs "$RUNS" --min-dev "${TRIAL_MIN_DEV:-0.6}" \
  --max-share "${TRIAL_MAX_SHARE:-0.9}" | tee "$RUNS/trial.md"
