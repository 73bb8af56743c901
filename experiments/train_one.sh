#!/usr/bin/env bash
# One Table 3 row at one seed (used by train_rows in lib.sh):  bash experiments/train_one.sh ROW SEED
source "$(dirname "$0")/lib.sh"
train_classifier "$1" "$2"
