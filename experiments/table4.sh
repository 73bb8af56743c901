#!/usr/bin/env bash
# Table 4 (every classifier of every seed under one common word-substitution attack) and the summary with its
# significance, for runs that are already trained (`make reproduce-small` writes them; this trains nothing).
#   bash experiments/table4.sh                          # runs/small, seeds 0 1 2, 200 test reviews
#   ATTACK_FLAGS="--no-lm-filter" SAMPLE=500 bash experiments/table4.sh
source "$(dirname "$0")/lib.sh"
echo "preset $PRESET, seeds $SEEDS, runs in $RUNS, data $DATA"
attack_seeds
cat "$RUNS/eval/table4.md"
write_report
