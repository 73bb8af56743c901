#!/usr/bin/env bash
# Equation 9 (beyond the paper): AdvT and SPGD with the class-conditional LM term, next to the paper's rows.
#   bash experiments/lm_term.sh                        # small preset, seeds 0 1 2 (after reproduce_small.sh)
#   LM_WEIGHTS="1 0.01" SWEEP_SEED=0 SEEDS="0 1 2" PRESET=small bash experiments/lm_term.sh
# 1. the class-conditional LM p_l(x|y): the pretrained LM fine-tuned on the labelled training reviews ($RUNS/clm);
# 2. beta (--lm-weight) per method chosen on dev accuracy at one seed: $RUNS/lm_weight/{advt,spgd}-bBETA,
#    lm_weight.md (test accuracy only reported);
# 3. rows advt_lm and spgd_lm at every seed with the chosen beta ($RUNS/seedN/{advt,spgd}_lm; the sweep's run of
#    the chosen beta is that seed's row: same flags, copied);
# 4. Table 1 of every seed again (all adversarial rows, same sample), Tables 3 and 1 over seeds, and a heatmap
#    of one test review with every method (plain SPGD beside SPGD + LM). Resumable: rerun to continue.
source "$(dirname "$0")/lib.sh"
LM_WEIGHTS=${LM_WEIGHTS:-1 0.01}
SWEEP_SEED=${SWEEP_SEED:-0}
BETAS=$RUNS/lm_weight
prepare_data
pretrain_lm
pretrain_conditional_lm
mkdir -p "$BETAS"
lm_rows=$("$IADV" methods --rows lm)   # the registry's LM-term rows (advt_lm, spgd_lm)
read -r -a lm_rows <<< "$lm_rows"
method_of() { local spec; spec=$("$IADV" methods --row "$1"); echo "${spec%% *}"; }
common="--preset $PRESET --data $DATA --seed $SWEEP_SEED --pretrained $RUNS/lm/lm.npz --lm-term $RUNS/clm/lm.npz"
common="$common ${DEVICE_FLAG[*]} ${TRAIN_FLAGS:-}"
for beta in $LM_WEIGHTS; do
  for row in "${lm_rows[@]}"; do
    method=$(method_of "$row")
    echo "$method-b$beta --method $method --lm-weight $beta $common"
  done
done > "$BETAS/spec.txt"
bash "$ROOT/experiments/run_grid.sh" "$BETAS/spec.txt" "$BETAS"
"$PYTHON" "$ROOT/experiments/choose_lm_weight.py" "$BETAS"
for row in "${lm_rows[@]}"; do
  chosen="$BETAS/$(method_of "$row")-b$(cat "$BETAS/$row.beta")"
  target="$RUNS/seed$SWEEP_SEED/$row"
  case " $SEEDS " in *" $SWEEP_SEED "*) [ -e "$target/results.json" ] || { rm -rf "$target"; cp -r "$chosen" "$target"; } ;; esac
done
train_rows "${lm_rows[@]}"
# Table 1 of a seed is recomputed when it lacks the new rows (the paper's rows come out the same: fixed sample).
for seed in $SEEDS; do
  result="$RUNS/seed$seed/eval/results.json"
  if [ -e "$result" ] && ! "$PYTHON" -c 'import json, sys; t = json.load(open(sys.argv[1]))["table1"]
sys.exit(0 if all(row in t for row in sys.argv[2:]) else 1)' "$result" "${lm_rows[@]}"; then
    mv "$result" "$result.before_lm_term"
  fi
done
evaluate_seeds
read -r -a seeds <<< "$SEEDS"
stage heatmap_lm "$RUNS/figures/heatmap_lm_term.png" "$IADV" interpret --runs "$RUNS/seed${seeds[0]}" \
  --lm "$RUNS/lm/lm.npz" --data "$DATA" --index "${INDEX:-0}" --color never --figure "$RUNS/figures/heatmap_lm_term.png" \
  "${DEVICE_FLAG[@]}"
cat "$BETAS/lm_weight.md" "$RUNS/eval/table3.md" "$RUNS/eval/table1.md"
write_report
