#!/usr/bin/env bash
# Table 3 over seeds: Baseline, Pretrained, +AdvT, +iAdvT, +SPGD test accuracy.  PRESET=small|paper|tiny SEEDS="0 1 2"
source "$(dirname "$0")/lib.sh"
prepare_data
pretrain_lm
train_kinds "${KINDS_ARRAY[@]}"
"$IADV" summarize --runs "$RUNS" --data "$DATA"
