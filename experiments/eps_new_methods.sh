#!/usr/bin/env bash
# eps of the methods that came after the paper's sweep, chosen with `iadv tune` on dev (after sweep_eps.sh's LM):
#   1. the random-perturbation control: a grid over eps_scale at seed 0 (study rp_eps): does noise of some norm
#      do what the adversarial direction does?
#   2. SPGD-VAT, whose own best scale in the VAT family's sweep (0.1) differs from the preset's (0.03): both scales
#      at seeds 0-2 (study spgd_vat_eps), so the choice rests on a mean over seeds, not on one seed.
#   PRESET=small RP_SCALES="0.01 0.03 0.1 0.3" VAT_SCALES="0.03 0.1" VAT_SEEDS="0 1 2" bash experiments/eps_new_methods.sh
# -> $RUNS/tune/{rp_eps,spgd_vat_eps}/ (trials, trials.md with the mean over seeds, Optuna's plots). Resumable.
source "$(dirname "$0")/lib.sh"
RP_SCALES=${RP_SCALES:-0.01 0.03 0.1 0.3}
VAT_SCALES=${VAT_SCALES:-0.03 0.1}
VAT_SEEDS=${VAT_SEEDS:-0 1 2}
prepare_data
pretrain_lm
jobs=$JOBS; [ "${DEVICE:--1}" = -1 ] || jobs=1
common=(--runs "$RUNS" --preset "$PRESET" --data "$DATA" --pretrained "$RUNS/lm/lm.npz" --sampler grid --jobs "$jobs"
        "${DEVICE_FLAG[@]}")
list() { echo $* | tr ' ' ','; }
"$IADV" tune --study rp_eps --method rp --seed 0 --space "eps_scale=$(list $RP_SCALES)" "${common[@]}"
"$IADV" tune --study spgd_vat_eps --method spgd_vat --space "eps_scale=$(list $VAT_SCALES)" \
  --space "seed=$(list $VAT_SEEDS)" "${common[@]}"
