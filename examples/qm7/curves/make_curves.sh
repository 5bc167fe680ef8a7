#!/usr/bin/env bash
# Trains each update rule on fold 0 for the same budget and draws the test-MAE curves.
# usage: examples/qm7/curves/make_curves.sh QM7_BINARY QM7_MAT [STEPS]
# The committed curves come from STEPS=200000 with the binary built by the release preset;
# the rules ran two at a time on a 2-core machine, so their times are those of a shared machine.
set -euo pipefail
qm7=$(realpath "$1")
data=$(realpath "$2")
steps=${3:-200000}
cd "$(dirname "$0")"

for rule in paper autodiff-scaled autodiff no-prebias; do
    /usr/bin/time -v "$qm7" --data "$data" --fold 0 --steps "$steps" --seed 1234 \
        --eval-every 5000 --rule "$rule" --csv "$rule.csv" 2>&1 \
        | tr '\r' '\n' | grep -v '^step [0-9]*/' > "$rule.log"
done
cd .. && gnuplot curves.gp
