#!/usr/bin/env bash
# Seismic inversion on synthetic data: `fathom synth-seismic` makes two
# independent sections (a new random earth model for every trace) by the convolutional model (random layered impedance ->
# reflectivity -> 30 Hz Ricker wavelet -> 5 % noise), one to train on and one
# to test on, as SEG-Y. A network then maps each 41-sample window of the trace
# (82 ms) to the reflectivity at its centre: a learned deconvolution. Prints
# the test RMSE beside predicting the mean, and writes the predicted
# reflectivity of the test section as SEG-Y. About a minute on 2 cores.
# Usage: examples/seismic_inversion.sh [FATHOM_BINARY] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
fathom=${1:-build/fathom}
out=${2:-seismic-inversion}
mkdir -p "$out"
"$fathom" synth-seismic --traces 300 --samples 400 --block 1 --seed 1 --out "$out/train.sgy" \
    --reflectivity "$out/train-refl.sgy" --impedance "$out/train-imp.sgy"
"$fathom" synth-seismic --traces 100 --samples 400 --block 1 --seed 2 --out "$out/test.sgy" \
    --reflectivity "$out/test-refl.sgy" --impedance "$out/test-imp.sgy"
"$fathom" train --data "$out/train.sgy" --inputs window:41 --target-data "$out/train-refl.sgy" \
    --layers 128x3 --act silu --optimizer adam --lr 0.001 --batch 128 --epochs 15 --schedule cosine \
    --seed 1 --quiet --out "$out/inversion.safetensors"
"$fathom" eval --model "$out/inversion.safetensors" --data "$out/test.sgy" --inputs window:41 \
    --target-data "$out/test-refl.sgy"
"$fathom" predict --model "$out/inversion.safetensors" --data "$out/test.sgy" --inputs window:41 \
    --out "$out/test-refl-predicted.sgy"
