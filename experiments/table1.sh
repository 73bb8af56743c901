#!/usr/bin/env bash
# Table 1 over seeds: LM perplexity of AdvT / iAdvT / SPGD adversarial examples.  PRESET=small|paper|tiny SAMPLE=200
source "$(dirname "$0")/lib.sh"
prepare_data
pretrain_lm
train_kinds "${KINDS_ARRAY[@]}" --perturbed
evaluate_seeds
cat "$RUNS/eval/table1.md"
