#!/usr/bin/env bash
# The CLI on geophysical data: NetCDF grids (Levitus from Debian's
# ferret-datasets) in, the held-out split selector, a network trained with an
# input encoding, predictions written back as NetCDF on the same grid, the
# baselines, synthetic SEG-Y and every kind of bad grid or trace file with its
# exit status, its message and nothing written.
# Usage: cli_geo.sh FATHOM_BINARY TEST_DATA_DIR SCRATCH_DIR
. "$(dirname "$0")/lib/harness.bash" cli_geo "$@"

lev=/usr/share/ferret-vis/data/levitus_climatology.cdf
if [ ! -r "$lev" ]; then
    echo "ferret-datasets is not installed (scripts/install-deps.sh installs it)" >&2
    exit 1
fi
enc=lat:div:90,lon:sincos,depth:log1p
model=$tmp/lev.safetensors

# --- a neural field on 2 % of the cells, evaluated on another 2 % ---------
expect 0 "model written to" -- "$fathom" train --data "$lev#random:0.02:test" --inputs "$enc" --targets TEMP \
    --layers 64x3 --act silu --optimizer adam --lr 0.003 --batch 128 --epochs 8 --val-split 0.1 --quiet --out "$model"
grep -q "training 4 -> " "$tmp/out" && ok || bad "the encoding should give 4 inputs"
expect 0 "RMSE" -- "$fathom" eval --model "$model" --data "$lev#random10:test" --inputs "$enc"
rmse=$(sed -n 's/.*TEMP *RMSE \([0-9.e+-]*\) .*mean: \([0-9.e+-]*\)).*/\1 \2/p' "$tmp/out")
awk -v r="$rmse" 'BEGIN { split(r, v, " "); exit !(v[1] > 0 && v[1] < 0.3 * v[2]) }' && ok \
    || bad "held-out RMSE not well below the mean baseline: '$rmse'"
grep -q "71486 samples" "$tmp/out" && ok || bad "random10 should hold out 71,486 Levitus cells"

# --- predictions on the same grid ---------------------------------------------
expect 0 "wrote 79407 predictions" -- "$fathom" predict --model "$model" --data "$lev#lonband:test" --inputs "$enc" \
    --out "$tmp/pred.nc"
head -c 3 "$tmp/pred.nc" | grep -q CDF && ok || bad "prediction file is not NetCDF"
ls "$tmp" | grep -q '\.tmp\.' && bad "temporary file left behind" || ok
# The prediction file is itself a grid fathom reads: the residuals exist only
# on the held-out cells, and are small.
expect 0 "" -- "$fathom" baseline --data "$tmp/pred.nc" --targets TEMP_residual --split random:0.5
sed -n 's/.*: \([0-9]*\) training rows, \([0-9]*\) test rows/\1 \2/p' "$tmp/out" |
    awk '{ exit !($1 + $2 == 79407) }' && ok || bad "residuals should cover exactly the 79,407 held-out cells"
awk '$1 == "mean" { exit !($4 < 3) }' "$tmp/out" && ok || bad "residuals should be small"
expect 0 "wrote 14" -- "$fathom" predict --model "$model" --data "$lev#random:0.02:test" --inputs "$enc" --out "$tmp/p.csv"

# --- baselines ------------------------------------------------------------------
expect 0 "knn5" -- "$fathom" baseline --data "$lev" --targets TEMP --inputs "$enc" --knn-space lat,lon,depth --split lonband
awk '$1 == "mean" { exit !($4 > 8.5 && $4 < 8.6) }' "$tmp/out" && ok || bad "lonband mean baseline should be 8.57"

# --- bad grids ------------------------------------------------------------------
expect 2 "the variables are" -- "$fathom" train --data "$lev" --inputs lat,lon --targets TEMPX --out "$tmp/x.safetensors"
grep -q "SALT" "$tmp/err" && ok || bad "a missing variable should list SALT"
expect 4 "dimensions" -- "$fathom" train --data "$lev" --inputs lat,ZAXLEVITRedges --targets TEMP --out "$tmp/x.safetensors"
printf 'lat,lon\n1,2\n' >"$tmp/text.nc"
expect 4 "not a NetCDF file" -- "$fathom" train --data "$tmp/text.nc" --inputs lat --targets TEMP --out "$tmp/x.safetensors"
head -c 2000000 "$lev" >"$tmp/cut.cdf"
expect 4 "truncated" -- "$fathom" train --data "$tmp/cut.cdf" --inputs lat --targets TEMP --out "$tmp/x.safetensors"
grep -q "cut.cdf" "$tmp/err" && ok || bad "the message should name the file"
expect 2 "SPLIT:train" -- "$fathom" eval --model "$model" --data "$lev#lonband:all"
expect 2 "NetCDF --data" -- "$fathom" predict --model "$model" --data "$tmp/p.csv" --out "$tmp/x.nc"
[ -e "$tmp/x.safetensors" ] || [ -e "$tmp/x.nc" ] && bad "a failed command wrote a file" || ok

# --- SEG-Y ----------------------------------------------------------------------
expect 0 "wrote 20 traces" -- "$fathom" synth-seismic --traces 20 --samples 100 --out "$tmp/s.sgy" \
    --reflectivity "$tmp/r.sgy" --seed 2
expect 0 "model written to" -- "$fathom" train --data "$tmp/s.sgy" --inputs window:15 --target-data "$tmp/r.sgy" \
    --layers 32x2 --optimizer adam --epochs 2 --quiet --out "$tmp/seis.safetensors"
expect 0 "wrote 2000 predictions" -- "$fathom" predict --model "$tmp/seis.safetensors" --data "$tmp/s.sgy" \
    --inputs window:15 --out "$tmp/pred.sgy"
size=$(wc -c <"$tmp/pred.sgy")
[ "$size" -eq $((3600 + 20 * (240 + 400))) ] && ok || bad "predicted SEG-Y has $size bytes"
head -c $((3600 + 20 * 640 - 7)) "$tmp/s.sgy" >"$tmp/cut.sgy"
expect 4 "inconsistent trace lengths" -- "$fathom" train --data "$tmp/cut.sgy" --target-data "$tmp/r.sgy" \
    --out "$tmp/y.safetensors"
printf 'not seismic' >"$tmp/tiny.sgy"
expect 4 "not a SEG-Y file" -- "$fathom" train --data "$tmp/tiny.sgy" --target-data "$tmp/r.sgy" --out "$tmp/y.safetensors"
[ -e "$tmp/y.safetensors" ] && bad "a failed command wrote a model" || ok

finish
