#!/usr/bin/env bash
# The whole chain: prepare, LM (once), the classifiers of Table 3 for every seed, Tables 1 and 4 per seed,
# Tables 3, 1 and 4 as mean +- sd over seeds with their significance, figures (first seed), the HTML report
# ($RUNS/report/index.html). Resumable: rerun to continue.
#   bash experiments/reproduce_small.sh                 # real IMDB on a CPU, seeds 0 1 2
#   SEEDS=0 bash experiments/reproduce_small.sh         # one seed
#   PRESET=paper DEVICE=0 bash experiments/reproduce_small.sh   # paper hyperparameters on a GPU
#   PRESET=tiny bash experiments/reproduce_small.sh     # synthetic corpus, offline, minutes
source "$(dirname "$0")/lib.sh"
echo "preset $PRESET, seeds $SEEDS, runs in $RUNS, data $DATA"
prepare_data
pretrain_lm
train_kinds "${KINDS_ARRAY[@]}"
evaluate_seeds
read -r -a seeds <<< "$SEEDS"
read -r -a indices <<< "${INDICES:-0 1 2}"
read -r -a pair <<< "${PAIR:-great movie}"
stage figures "$RUNS/figures/figure1.png" "$PYTHON" figures/make_figures.py --runs "$RUNS/seed${seeds[0]}" \
  --lm "$RUNS/lm/lm.npz" --out "$RUNS/figures" --indices "${indices[@]}" --pair "${pair[@]}" --device "${DEVICE:--1}"
cat "$RUNS/eval/table3.md" "$RUNS/eval/table1.md" "$RUNS/eval/table4.md"
echo "which differences are significant: $RUNS/eval/significance.md (Table 3) and the end of $RUNS/eval/table4.md"
echo "stage times: $LOGS/times.txt"
write_report
