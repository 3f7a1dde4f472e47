#!/usr/bin/env bash
# Ocean temperature from position and depth: 4,000 cells of the Levitus
# climatology (tests/data/levitus_sample.csv, made from Debian's
# ferret-datasets by tests/data/make_levitus_sample.py). Prints the validation
# RMSE in deg C beside the predict-the-mean baseline. A few seconds.
# Usage: examples/levitus_temperature.sh [FATHOM_BINARY] [MODEL_OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
fathom=${1:-build/fathom}
model=${2:-levitus-temp.safetensors}
"$fathom" train --data tests/data/levitus_sample.csv --inputs lat,sin_lon,cos_lon,log_depth --targets temp \
    --layers 64x4 --act tanh --optimizer adam --lr 0.003 --batch 64 --epochs 60 --seed 1 --out "$model"
