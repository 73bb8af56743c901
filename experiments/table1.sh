#!/usr/bin/env bash
# Table 1: LM perplexity of AdvT / iAdvT / SPGD adversarial examples.  PRESET=small|paper|tiny SAMPLE=200
source "$(dirname "$0")/lib.sh"
prepare_data
pretrain_lm
for method in advt iadvt spgd; do train_classifier "$method" "$method" pretrained; done
stage table1 "$RUNS/eval/results.json" "$IADV" evaluate --runs "$RUNS" --data "$DATA" --sample "${SAMPLE:-200}" \
  --no-progress "${DEVICE_FLAG[@]}"
cat "$RUNS/eval/table1.md"
