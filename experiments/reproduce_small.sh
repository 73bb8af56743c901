#!/usr/bin/env bash
# The whole chain: prepare, LM, five classifiers, Table 1, Table 3, figures. Resumable: rerun to continue.
#   bash experiments/reproduce_small.sh                 # real IMDB on a CPU (about 90 minutes on 2 cores)
#   PRESET=paper DEVICE=0 bash experiments/reproduce_small.sh   # paper hyperparameters on a GPU
#   PRESET=tiny bash experiments/reproduce_small.sh     # synthetic corpus, offline, minutes
source "$(dirname "$0")/lib.sh"
echo "preset $PRESET, runs in $RUNS, data $DATA"
prepare_data
pretrain_lm
train_classifier baseline baseline
train_classifier pretrained baseline pretrained
for method in advt iadvt spgd; do train_classifier "$method" "$method" pretrained; done
stage table1 "$RUNS/eval/results.json" "$IADV" evaluate --runs "$RUNS" --data "$DATA" --sample "${SAMPLE:-200}" \
  --no-progress "${DEVICE_FLAG[@]}"
read -r -a indices <<< "${INDICES:-0 1 2}"
read -r -a pair <<< "${PAIR:-great movie}"
stage figures "$RUNS/figures/figure1.png" "$PYTHON" figures/make_figures.py --runs "$RUNS" --out "$RUNS/figures" \
  --indices "${indices[@]}" --pair "${pair[@]}" --device "${DEVICE:--1}"
cat "$RUNS/eval/table3.md" "$RUNS/eval/table1.md"
echo "stage times: $LOGS/times.txt"
