#!/usr/bin/env bash
# Table 4 of one seed's classifiers (used by attack_seeds in lib.sh):  bash experiments/attack_one.sh SEED
source "$(dirname "$0")/lib.sh"
attack_seed "$1"
