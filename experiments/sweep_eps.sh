#!/usr/bin/env bash
# The epsilon sweep that chose the preset's eps_scale (dev accuracy only), plus controls:
#   PRESET=small SCALES="0.01 0.03 0.1 0.3" SWEEP_SEED=0 bash experiments/sweep_eps.sh
#   SWEEP_FAMILY=virtual SWEEP=runs/small/sweep_vat bash experiments/sweep_eps.sh   # the VAT family's sweep
# -> $RUNS/sweep/{advt,iadvt,spgd}-xSCALE/, advt-eps0/ (AdvT with eps 0: the second dropout pass alone),
#    pretrained/ and baseline/ (references), sweep.md / sweep.json / sweep.png. Resumable.
source "$(dirname "$0")/lib.sh"
SWEEP=${SWEEP:-$RUNS/sweep}
SCALES=${SCALES:-0.01 0.03 0.1 0.3}
SWEEP_SEED=${SWEEP_SEED:-0}
prepare_data
pretrain_lm
mkdir -p "$SWEEP"
SWEEP_FAMILY=${SWEEP_FAMILY:-gradient}   # gradient: AdvT, iAdvT, SPGD (5 : 15 : 25); virtual: the VAT family
swept=$("$IADV" methods --names "--$SWEEP_FAMILY")
common="--preset $PRESET --data $DATA --seed $SWEEP_SEED ${DEVICE_FLAG[*]} ${TRAIN_FLAGS:-}"
pre="--pretrained $RUNS/lm/lm.npz"
{
  for scale in $SCALES; do
    for method in $swept; do echo "$method-x$scale --method $method --eps-scale $scale $pre $common"; done
  done
  echo "advt-eps0 --method advt --eps 0 $pre $common"
  echo "pretrained --method baseline $pre $common"
  echo "baseline --method baseline $common"
} > "$SWEEP/spec.txt"
bash "$ROOT/experiments/run_grid.sh" "$SWEEP/spec.txt" "$SWEEP"
"$PYTHON" -m interpretable_adv.reports.sweep "$SWEEP" --reference Pretrained "$SWEEP/pretrained" \
  --reference Baseline "$SWEEP/baseline" \
  --reference "AdvT eps 0" "$SWEEP/advt-eps0"
