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
# SIGTERM at any moment of a prediction: the command ends, but never with a
# temporary file left or a partial output (a signal during the write waits
# for it: the output is then complete).
mkdir -p "$tmp/sig"
for delay in 0.02 0.05 0.08 0.1 0.12 0.15 0.2 0.3; do
    "$fathom" predict --model "$model" --data "$lev" --inputs "$enc" --out "$tmp/sig/p.nc" >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -TERM "$pid" 2>/dev/null
    wait "$pid"
    ls "$tmp/sig" | grep -q '\.tmp\.' && bad "SIGTERM after ${delay}s left a temporary file" || ok
    if [ -e "$tmp/sig/p.nc" ]; then # complete: fathom reads it back as a grid
        "$fathom" baseline --data "$tmp/sig/p.nc" --targets TEMP_prediction --split random:0.5 >/dev/null 2>&1 && ok \
            || bad "SIGTERM after ${delay}s left an unreadable $tmp/sig/p.nc"
    fi
    rm -f "$tmp/sig/"*
done
# The same, deterministically: FATHOM_TEST_SIGNAL_IN_WRITE (tests only) sends
# SIGTERM as the write begins. The command must finish the write, then end by
# the signal (status 128 + 15), leaving a complete file and no temporary one.
expect 0 "" -- "$fathom" predict --model "$model" --data "$lev#lonband:test" --inputs "$enc" --out "$tmp/pred_rows.csv"
for out in p.nc p.csv p.npy; do
    expect 143 "" -- env FATHOM_TEST_SIGNAL_IN_WRITE=1 "$fathom" predict --model "$model" --data "$lev#lonband:test" \
        --inputs "$enc" --out "$tmp/sig/$out"
    ls "$tmp/sig" | grep -q '\.tmp\.' && bad "SIGTERM in the write of $out left a temporary file" || ok
    [ -s "$tmp/sig/$out" ] && ok || bad "SIGTERM in the write of $out left no $out"
done
"$fathom" baseline --data "$tmp/sig/p.nc" --targets TEMP_prediction --split random:0.5 >/dev/null 2>&1 && ok \
    || bad "SIGTERM in the write left an unreadable p.nc"
cmp -s "$tmp/sig/p.csv" "$tmp/pred_rows.csv" && ok || bad "SIGTERM in the write left a partial or different p.csv"
rm -f "$tmp/sig/"*
expect 143 "" -- env FATHOM_TEST_SIGNAL_IN_WRITE=1 "$fathom" synth-seismic --traces 20 --samples 100 \
    --out "$tmp/sig/s.sgy" --reflectivity "$tmp/sig/r.sgy" --seed 2
[ "$(wc -c <"$tmp/sig/s.sgy")" -eq $((3600 + 20 * (240 + 400))) ] && [ -s "$tmp/sig/r.sgy" ] && ok \
    || bad "SIGTERM in the write of synth-seismic left incomplete sections"
ls "$tmp/sig" | grep -q '\.tmp\.' && bad "SIGTERM in synth-seismic left a temporary file" || ok
rm -f "$tmp/sig/"*

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
# The prediction's traces keep their input headers: a survey's coordinates
# (cdp_x 500000.00 m with scalar -100), inlines and textual header survive.
cp "$tmp/s.sgy" "$tmp/survey.sgy"
poke() { printf "$2" | dd of="$tmp/survey.sgy" bs=1 seek="$1" conv=notrunc status=none; }
poke 160 'C 3 SURVEY LINE 42'
for t in 0 7 19; do
    at=$((3600 + t * 640))
    poke $((at + 70)) '\377\234'                              # bytes 71-72, scalco -100
    poke $((at + 180)) '\002\372\360\200'                     # bytes 181-184, cdp_x 50000000
    poke $((at + 188)) "\\000\\000\\003\\$(printf %o $((232 + t)))" # bytes 189-192, iline 1000 + t
done
expect 0 "wrote 2000 predictions" -- "$fathom" predict --model "$tmp/seis.safetensors" --data "$tmp/survey.sgy" \
    --inputs window:15 --out "$tmp/survey_pred.sgy"
cmp -s <(head -c 3200 "$tmp/survey.sgy") <(head -c 3200 "$tmp/survey_pred.sgy") && ok \
    || bad "the prediction lost the input's textual header"
for t in 0 7 19; do
    at=$((3600 + t * 640))
    cmp -s <(tail -c +$((at + 1)) "$tmp/survey.sgy" | head -c 240) \
        <(tail -c +$((at + 1)) "$tmp/survey_pred.sgy" | head -c 240) && ok \
        || bad "trace $t of the prediction lost its header: $(od -An -tx1 -j $((at + 180)) -N 12 "$tmp/survey_pred.sgy")"
done
[ "$(od -An -tx1 -j $((3600 + 7 * 640 + 188)) -N 4 "$tmp/survey_pred.sgy" | tr -d ' ')" = 000003ef ] && ok \
    || bad "trace 7 of the prediction should keep iline 1007"
# No sample interval in any header (bytes 3217-3218 and 117-118 all 0): the
# times are unknown, so "time" is refused instead of taking 4 ms; windows
# alone still predict, and the prediction keeps the interval unknown
cp "$tmp/s.sgy" "$tmp/survey.sgy"
poke 3216 '\000\000'
for t in $(seq 0 19); do poke $((3600 + t * 640 + 116)) '\000\000'; done
expect 4 "sample interval" -- "$fathom" train --data "$tmp/survey.sgy" --inputs window:3,time --target-data "$tmp/r.sgy" \
    --layers 8 --epochs 1 --quiet --out "$tmp/y.safetensors"
expect 0 "wrote 2000 predictions" -- "$fathom" predict --model "$tmp/seis.safetensors" --data "$tmp/survey.sgy" \
    --inputs window:15 --out "$tmp/survey_pred.sgy"
[ "$(od -An -tx1 -j 3216 -N 2 "$tmp/survey_pred.sgy" | tr -d ' ')" = 0000 ] && ok \
    || bad "a prediction from a file without an interval should not invent one"
# format code 5 stored little-endian (05 00) reads as 1280: named as byte-swapped
cp "$tmp/s.sgy" "$tmp/survey.sgy"
poke 3224 '\005\000'
expect 4 "looks little-endian" -- "$fathom" train --data "$tmp/survey.sgy" --target-data "$tmp/r.sgy" \
    --out "$tmp/y.safetensors"
head -c $((3600 + 20 * 640 - 7)) "$tmp/s.sgy" >"$tmp/cut.sgy"
expect 4 "inconsistent trace lengths" -- "$fathom" train --data "$tmp/cut.sgy" --target-data "$tmp/r.sgy" \
    --out "$tmp/y.safetensors"
printf 'not seismic' >"$tmp/tiny.sgy"
expect 4 "not a SEG-Y file" -- "$fathom" train --data "$tmp/tiny.sgy" --target-data "$tmp/r.sgy" --out "$tmp/y.safetensors"
# targets of another geometry with the same row count (10 x 60 = 12 x 50):
# refused, naming both files and both geometries, by train and by eval
expect 0 "" -- "$fathom" synth-seismic --traces 10 --samples 60 --out "$tmp/s60.sgy" --reflectivity "$tmp/r60.sgy"
expect 0 "" -- "$fathom" synth-seismic --traces 12 --samples 50 --out "$tmp/s12.sgy" --reflectivity "$tmp/r12.sgy"
expect 4 "s60.sgy has 10 traces x 60 samples but $tmp/r12.sgy has 12 traces x 50 samples" -- "$fathom" train \
    --data "$tmp/s60.sgy" --target-data "$tmp/r12.sgy" --layers 8 --epochs 1 --quiet --val-split 0 \
    --out "$tmp/y.safetensors"
expect 4 "12 traces x 50 samples" -- "$fathom" eval --model "$tmp/seis.safetensors" --data "$tmp/s60.sgy" \
    --inputs window:15 --target-data "$tmp/r12.sgy"
[ -e "$tmp/y.safetensors" ] && bad "a failed command wrote a model" || ok

# 40000 samples per trace: SEG-Y counts are unsigned 16-bit, more than a signed one holds
expect 0 "wrote 2 traces of 40000 samples" -- "$fathom" synth-seismic --traces 2 --samples 40000 --out "$tmp/long.sgy" \
    --reflectivity "$tmp/long_r.sgy"
expect 0 "model written to" -- "$fathom" train --data "$tmp/long.sgy" --target-data "$tmp/long_r.sgy" --layers 8 \
    --optimizer adam --lr 0.001 --epochs 1 --quiet --out "$tmp/long.safetensors"
sed -n 's/.* on \([0-9]*\) rows, validating on \([0-9]*\).*/\1 \2/p' "$tmp/out" | awk '{ exit !($1 + $2 == 80000) }' \
    && ok || bad "2 traces of 40000 samples should give 80,000 rows"
expect 2 "8..65535" -- "$fathom" synth-seismic --samples 65536 --out "$tmp/n.sgy"

# --- synth-seismic writes all its outputs or none -----------------------------
printf 'old section\n' >"$tmp/keep.sgy"
cp "$tmp/keep.sgy" "$tmp/keep.orig"
mkdir "$tmp/dir"
expect 2 "is a directory" -- "$fathom" synth-seismic --traces 4 --samples 20 --out "$tmp/keep.sgy" --impedance "$tmp/dir/"
cmp -s "$tmp/keep.sgy" "$tmp/keep.orig" && ok || bad "--impedance a directory replaced --out"
expect 3 "$tmp/missing" -- "$fathom" synth-seismic --traces 4 --samples 20 --out "$tmp/keep.sgy" \
    --reflectivity "$tmp/missing/r.sgy"
cmp -s "$tmp/keep.sgy" "$tmp/keep.orig" && ok || bad "--reflectivity in a missing directory replaced --out"
expect 3 "" -- "$fathom" synth-seismic --traces 4 --samples 20 --out "$tmp/new.sgy" --reflectivity /nonexist/r.sgy
[ -e "$tmp/new.sgy" ] && bad "--reflectivity in a missing directory left a new --out" || ok
# A name that passes the checks but whose temporary file cannot be created (a
# 251-byte name plus ".tmp.PID" is longer than a file name may be): the
# failure comes after --out is written, and --out must still be as it was.
long=$(printf 'r%.0s' $(seq 247)).sgy
expect 3 "cannot" -- "$fathom" synth-seismic --traces 4 --samples 20 --out "$tmp/keep.sgy" --reflectivity "$tmp/$long"
cmp -s "$tmp/keep.sgy" "$tmp/keep.orig" && ok || bad "a failed --reflectivity write replaced --out"
expect 2 "the same file" -- "$fathom" synth-seismic --traces 4 --samples 20 --out "$tmp/same.sgy" \
    --impedance "$tmp/./same.sgy"
expect 2 "the same file" -- "$fathom" synth-seismic --traces 4 --samples 20 --out "$tmp/same.sgy" \
    --impedance "$tmp/other.sgy" --reflectivity "$tmp/dir/../same.sgy"
[ -e "$tmp/same.sgy" ] || [ -e "$tmp/other.sgy" ] && bad "outputs on one file were written" || ok
expect 2 "the same file" -- "$fathom" synth-seismic --traces 4 --samples 20 --out "$tmp/keep.sgy" \
    --reflectivity "$tmp/keep.sgy"
cmp -s "$tmp/keep.sgy" "$tmp/keep.orig" && ok || bad "outputs on one file replaced it"
ls "$tmp" | grep -q '\.tmp\.' && bad "temporary file left behind" || ok

finish
