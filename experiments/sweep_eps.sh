#!/usr/bin/env bash
# The epsilon sweep that chose the preset's eps_scale (dev accuracy only), as a grid study of `iadv tune`, plus controls:
#   PRESET=small SCALES="0.01 0.03 0.1 0.3" SWEEP_SEED=0 bash experiments/sweep_eps.sh
#   SWEEP_FAMILY=virtual STUDY=sweep_vat bash experiments/sweep_eps.sh   # the VAT family's sweep
# -> $RUNS/tune/$STUDY.db (the Optuna study: method x eps_scale, every point once, no pruning) and
#    $RUNS/tune/$STUDY/: trial-NNNN/ (one `iadv train` run per grid point), trials.md and Optuna's plots;
#    controls/{advt-eps0,pretrained,baseline}/ (AdvT with eps 0: the second dropout pass alone; the references);
#    sweep.md / sweep.json / sweep.png (the rule that picks the scale). Resumable: rerun to continue.
source "$(dirname "$0")/lib.sh"
STUDY=${STUDY:-sweep}
SCALES=${SCALES:-0.01 0.03 0.1 0.3}
SWEEP_SEED=${SWEEP_SEED:-0}
SWEEP_FAMILY=${SWEEP_FAMILY:-gradient}   # gradient: AdvT, iAdvT, SPGD (5 : 15 : 25); virtual: the VAT family
prepare_data
pretrain_lm
swept=$("$IADV" methods --names "--$SWEEP_FAMILY" | tr ' ' ',')
common=(--preset "$PRESET" --data "$DATA" --seed "$SWEEP_SEED" "${DEVICE_FLAG[@]}")
read -r -a extra <<< "${TRAIN_FLAGS:-}"
study_dir=$RUNS/tune/$STUDY
jobs=$JOBS; [ "${DEVICE:--1}" = -1 ] || jobs=1   # as run_pool: one run at a time on a GPU
"$IADV" tune --study "$STUDY" --runs "$RUNS" --sampler grid --jobs "$jobs" --space "method=$swept" \
  --space "eps_scale=$(echo $SCALES | tr ' ' ',')" --pretrained "$RUNS/lm/lm.npz" "${common[@]}" "${extra[@]}"
pre="--pretrained $RUNS/lm/lm.npz"
{
  echo "advt-eps0 --method advt --eps 0 $pre ${common[*]} ${TRAIN_FLAGS:-}"
  echo "pretrained --method baseline $pre ${common[*]} ${TRAIN_FLAGS:-}"
  echo "baseline --method baseline ${common[*]} ${TRAIN_FLAGS:-}"
} > "$study_dir/controls.txt"
bash "$ROOT/experiments/run_grid.sh" "$study_dir/controls.txt" "$study_dir/controls"
"$PYTHON" -m interpretable_adv.reports.sweep "$study_dir" --reference Pretrained "$study_dir/controls/pretrained" \
  --reference Baseline "$study_dir/controls/baseline" \
  --reference "AdvT eps 0" "$study_dir/controls/advt-eps0"
