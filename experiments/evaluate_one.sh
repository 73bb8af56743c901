#!/usr/bin/env bash
# Table 1 of one seed's adversarial classifiers (used by evaluate_seeds in lib.sh):  bash experiments/evaluate_one.sh SEED
source "$(dirname "$0")/lib.sh"
evaluate_seed "$1"
