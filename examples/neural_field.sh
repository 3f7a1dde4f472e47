#!/usr/bin/env bash
# Neural fields of real grids against the classic baselines, on both splits of
# geobaselines.py ("random10": 10 % of the cells by hash; "lonband": the
# longitude bands 0-10, 100-110, 200-210, 300-310 E held out). For each split:
# `fathom baseline` (mean, linear least squares, 1-NN and 5-NN on the unit
# sphere), then `fathom train` on the training cells only and `fathom eval` on
# the held-out cells; the table at the end is the test RMSE of each.
#
# Usage: examples/neural_field.sh levitus|etopo20 [FATHOM_BINARY] [OUT_DIR]
#   levitus  TEMP (deg C) of the Levitus climatology from (lat, lon, depth),
#            718,725 ocean cells (about 4 minutes on 2 cores)
#   etopo20  ROSE (m) of ETOPO20 from (lat, lon), 583,200 cells, the duplicated
#            wrap-around column dropped; two networks on random Fourier features
#            of two scales (about 4 minutes)
# The trained models and a NetCDF file of each model's predictions and
# residuals on the held-out cells (for ncview, Panoply or xarray) stay in OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
case=${1:?usage: examples/neural_field.sh levitus|etopo20 [FATHOM_BINARY] [OUT_DIR]}
fathom=${2:-build/fathom}
out=${3:-neural-field-$case}
data_dir=${FERRET_DATA:-/usr/share/ferret-vis/data}
mkdir -p "$out"
case $case in
levitus)
    file=$data_dir/levitus_climatology.cdf var=TEMP unit="deg C"
    # depth: log1p(depth)/log1p(5000) in [0, 1], as in geobaselines.py
    linear_inputs=lat:div:90,lon:sincos,depth:log1p:div:8.517
    knn_space=lat,lon,depth
    # one line per network: label | encoding | activation
    nets=("network, 3x256 silu|$linear_inputs|silu")
    ;;
etopo20)
    file=$data_dir/etopo20.cdf var=ROSE unit=m
    linear_inputs=lat:div:90,lon:sincos
    knn_space=lat,lon
    # Fourier features of (lat/90, sin lon, cos lon): scale 1 varies smoothly
    # enough to bridge the 10-degree bands; scale 6 resolves 1/3-degree relief.
    nets=("network, Fourier scale 1, silu|$linear_inputs,fourier:128:1:1|silu"
          "network, Fourier scale 6, relu|$linear_inputs,fourier:128:6:1|relu")
    ;;
*) echo "unknown case $case (levitus or etopo20)" >&2; exit 2 ;;
esac
train_opts=(--layers 256x3 --optimizer adam --lr 0.002 --batch 256 --epochs 6 --schedule cosine --val-split 0 --seed 1)
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
declare -A result
for split in random10 lonband; do
    echo "== $var, split $split"
    base=$("$fathom" baseline --data "$file" --targets "$var" --inputs "$linear_inputs" --knn-space "$knn_space" \
        --split "$split")
    echo "$base"
    for m in mean linear knn1 knn5; do
        result[$split,$m]=$(awk -v m="$m" '$1 == m {print $4}' <<<"$base")
    done
    for n in "${!nets[@]}"; do
        IFS='|' read -r label encoding act <<<"${nets[$n]}"
        model=$out/$split-$n.safetensors
        start=$SECONDS
        "$fathom" train --data "$file#$split:train" --inputs "$encoding" --targets "$var" --act "$act" \
            "${train_opts[@]}" --quiet --out "$model"
        result[$split,time$n]=$((SECONDS - start))
        # --inputs is given so that this also works with models saved before
        # fathom train stored the encoding; with it stored it may be left out.
        ev=$("$fathom" eval --model "$model" --data "$file#$split:test" --inputs "$encoding")
        echo "$ev"
        result[$split,net$n]=$(awk -v v="$var" '$1 == v {printf "%.4g", $3}' <<<"$ev")
        "$fathom" predict --model "$model" --data "$file#$split:test" --inputs "$encoding" \
            --out "$out/$split-$n-test-predictions.nc"
    done
done
echo
echo "test RMSE ($unit) of $var, $(basename "$file"):"
row() { printf '| %-34s | %10s | %10s |\n' "$@"; }
row "" random10 lonband
row "predict the training mean" "${result[random10,mean]}" "${result[lonband,mean]}"
row "linear least squares" "${result[random10,linear]}" "${result[lonband,linear]}"
row "1-NN on the sphere" "${result[random10,knn1]}" "${result[lonband,knn1]}"
row "5-NN on the sphere (1/d weights)" "${result[random10,knn5]}" "${result[lonband,knn5]}"
for n in "${!nets[@]}"; do
    IFS='|' read -r label encoding act <<<"${nets[$n]}"
    row "$label" "${result[random10,net$n]}" "${result[lonband,net$n]}"
    row "  (training seconds)" "${result[random10,time$n]}" "${result[lonband,time$n]}"
done
