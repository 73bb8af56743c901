#!/usr/bin/env bash
# Table 3: Baseline, Pretrained, +AdvT, +iAdvT, +SPGD test accuracy.  PRESET=small|paper|tiny
source "$(dirname "$0")/lib.sh"
prepare_data
pretrain_lm
train_classifier baseline baseline
train_classifier pretrained baseline pretrained
for method in advt iadvt spgd; do train_classifier "$method" "$method" pretrained; done
"$IADV" evaluate --runs "$RUNS" --data "$DATA" --table3-only
