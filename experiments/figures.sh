#!/usr/bin/env bash
# Figures 1-4 from the adversarial runs.  PRESET=small|paper|tiny INDICES="0 1 2" PAIR="great movie"
source "$(dirname "$0")/lib.sh"
prepare_data
pretrain_lm
for method in advt iadvt spgd; do train_classifier "$method" "$method" pretrained; done
read -r -a indices <<< "${INDICES:-0 1 2}"
read -r -a pair <<< "${PAIR:-great movie}"
stage figures "$RUNS/figures/figure1.png" "$PYTHON" figures/make_figures.py --runs "$RUNS" --out "$RUNS/figures" \
  --indices "${indices[@]}" --pair "${pair[@]}" --device "${DEVICE:--1}"
