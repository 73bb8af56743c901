#!/usr/bin/env bash
# Train a grid of classifiers, JOBS at a time, each line of SPEC being "NAME iadv-train-flags...":
#   bash experiments/run_grid.sh SPEC OUTDIR        -> OUTDIR/NAME/ (skipped when results.json exists)
# Used for the eps sweep and the plateau study; every run's flags are kept in OUTDIR/NAME/args.json.
source "$(dirname "$0")/lib.sh"
spec=$1 out=$2
mkdir -p "$out"
grep -v '^\s*\(#\|$\)' "$spec" | while read -r name flags; do echo "$name $flags"; done |
  run_pool -c '
    name=$1; shift
    [ -e "'"$out"'/$name/results.json" ] && { echo "[done] $name"; exit 0; }
    mkdir -p "$(dirname "'"$out"'/$name")"
    echo "[run]  $name"
    start=$SECONDS
    "'"$IADV"'" train --no-progress -o "'"$out"'/$name" "$@" > "'"$out"'/$name.log" 2>&1 ||
      { echo "[fail] $name: see '"$out"'/$name.log"; exit 255; }
    echo "[time] $name $((SECONDS - start)) s"' _
