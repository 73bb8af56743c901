#!/usr/bin/env bash
# Figures 1-4 from the first seed's adversarial runs.  PRESET=small|paper|tiny INDICES="0 1 2" PAIR="great movie"
source "$(dirname "$0")/lib.sh"
prepare_data
pretrain_lm
read -r -a seeds <<< "$SEEDS"
SEEDS=${seeds[0]} train_kinds paper virtual --perturbed
read -r -a indices <<< "${INDICES:-0 1 2}"
read -r -a pair <<< "${PAIR:-great movie}"
stage figures "$RUNS/figures/figure1.png" "$PYTHON" figures/make_figures.py --runs "$RUNS/seed${seeds[0]}" \
  --lm "$RUNS/lm/lm.npz" --out "$RUNS/figures" --indices "${indices[@]}" --pair "${pair[@]}" --device "${DEVICE:--1}"
