#!/usr/bin/env bash
# Train a grid of classifiers, JOBS at a time, each line of SPEC being "NAME iadv-train-flags...":
#   bash experiments/run_grid.sh SPEC OUTDIR        -> OUTDIR/NAME/ (skipped when it holds a finished run of
#   exactly these settings: `iadv train --check-done`)
# Used for the eps sweep's controls (its grid is an `iadv tune` study) and the plateau study; every run's flags are
# kept in OUTDIR/NAME/args.json.
source "$(dirname "$0")/lib.sh"
spec=$1 out=$2
mkdir -p "$out"
grep -v '^\s*\(#\|$\)' "$spec" | while read -r name flags; do echo "$name $flags"; done |
  run_pool -c '
    name=$1; shift
    if [ -e "'"$out"'/$name/results.json" ]; then   # reused only if finished with exactly these settings
      why=$("'"$IADV"'" train -o "'"$out"'/$name" "$@" --check-done 2>&1) && { echo "[done] $name"; exit 0; }
      echo "[redo] ${why##*$'"'"'\n'"'"'}"
    fi
    mkdir -p "$(dirname "'"$out"'/$name")"
    echo "[run]  $name"
    start=$SECONDS
    "'"$IADV"'" train --no-progress -o "'"$out"'/$name" "$@" > "'"$out"'/$name.log" 2>&1 ||
      { echo "[fail] $name: see '"$out"'/$name.log"; exit 255; }
    echo "[time] $name $((SECONDS - start)) s"' _
