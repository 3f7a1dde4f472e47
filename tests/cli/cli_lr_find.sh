#!/usr/bin/env bash
# End-to-end tests of fathom lr-find, the learning-rate range test: the table,
# the suggestion, the CSV of every step, starting from a saved model, a
# classification, and bad command lines with their exit status.
# Usage: cli_lr_find.sh FATHOM_BINARY TEST_DATA_DIR SCRATCH_DIR
. "$(dirname "$0")/lib/harness.bash" cli_lr_find "$@"

lev=$data/levitus_sample.csv
cols="--inputs lat,sin_lon,cos_lon,log_depth --targets temp"

# --- the happy path: SGD on a small tanh net, every step to a CSV ---------------
expect 0 "suggested learning rate" -- "$fathom" lr-find --data "$lev" $cols --layers 32,32 --act tanh \
    --out "$tmp/lr.csv"
cp "$tmp/out" "$tmp/sgd.out"
# Plain SGD on standardised data with a small tanh net: the loss falls fastest
# somewhere between 1e-4 and 1 (it blows up near 1).
lr=$(sed -n 's/^suggested learning rate: \([0-9.e+-]*\) .*/\1/p' "$tmp/sgd.out")
awk -v r="$lr" 'BEGIN { exit !(r >= 1e-4 && r <= 1) }' && ok || bad "suggested rate '$lr' not in [1e-4, 1]"
grep -q "<- steepest descent (suggested)" "$tmp/sgd.out" && ok || bad "the table does not mark the suggestion"
grep -q "<- minimum" "$tmp/sgd.out" && ok || bad "the table does not mark the minimum"
grep -q "that rate / 10" "$tmp/sgd.out" && ok || bad "no min-loss rate / 10"
# lr 10 is far too large: the test stops before its 200 steps.
grep -q "^stopped after [0-9]* steps" "$tmp/sgd.out" && ok || bad "the range test did not stop early"
rows=$(grep -cE '^ +[0-9]+ +[0-9.]+e[-+][0-9]+ ' "$tmp/sgd.out")
[ "$rows" -ge 18 ] && [ "$rows" -le 22 ] && ok || bad "expected about 20 table rows, got $rows"
# The CSV: a header, one row per step taken, lr exponential from 1e-6 by the
# constant factor (1e7)^(1/199).
[ "$(head -1 "$tmp/lr.csv")" = "step,lr,loss,smoothed_loss" ] && ok || bad "CSV header: $(head -1 "$tmp/lr.csv")"
steps=$(sed -n 's/^stopped after \([0-9]*\) steps.*/\1/p' "$tmp/sgd.out")
[ "$(($(wc -l <"$tmp/lr.csv") - 1))" = "$steps" ] && ok || bad "CSV rows differ from the $steps steps taken"
awk -F, 'NR == 2 { if ($1 != 1 || $2 != 1e-06) exit 1 }
         NR > 2 { r = $2 / prev; want = exp(log(1e7) / 199); if (r / want - 1 > 1e-6 || 1 - r / want > 1e-6) exit 1 }
         NR > 1 { prev = $2 }' "$tmp/lr.csv" && ok || bad "CSV learning rates are not exponential"
# The smoothed loss of the first step is the first loss (bias correction).
awk -F, 'NR == 2 { exit !($3 == $4) }' "$tmp/lr.csv" && ok || bad "first smoothed loss differs from the loss"

# The suggested rate trains: a few epochs at it beat predicting the mean.
expect 0 "model written" -- "$fathom" train --data "$lev" $cols --layers 32,32 --act tanh --lr "$lr" --epochs 5 \
    --out "$tmp/at_suggestion.safetensors"
rmse=$(sed -n 's/.*temp *RMSE \([0-9.e+-]*\) .*mean: \([0-9.e+-]*\)).*/\1 \2/p' "$tmp/out")
awk -v r="$rmse" 'BEGIN { split(r, v, " "); exit !(v[1] > 0 && v[1] < 0.6 * v[2]) }' && ok \
    || bad "training at the suggested rate did not beat the mean well: '$rmse'"

# A narrower range and fewer steps; Adam with momentum-free settings; the same seed gives the same run.
expect 0 "suggested learning rate" -- "$fathom" lr-find --data "$lev" $cols --layers 16 --steps 50 --lr-min 1e-4 \
    --lr-max 1 --optimizer adam --out "$tmp/short.csv" --seed 4
[ "$(($(wc -l <"$tmp/short.csv") - 1))" -le 50 ] && ok || bad "more rows than --steps"
awk -F, 'NR == 2 { exit !($2 == 0.0001) }' "$tmp/short.csv" && ok || bad "first rate is not --lr-min"
expect 0 "" -- "$fathom" lr-find --data "$lev" $cols --layers 16 --steps 50 --lr-min 1e-4 --lr-max 1 \
    --optimizer adam --out "$tmp/short2.csv" --seed 4
cmp -s "$tmp/short.csv" "$tmp/short2.csv" && ok || bad "the same seed gave a different range test"
# SIGTERM as the write begins (FATHOM_TEST_SIGNAL_IN_WRITE, tests only): the
# CSV is written whole, then the command ends by the signal (128 + 15).
expect 143 "" -- env FATHOM_TEST_SIGNAL_IN_WRITE=1 "$fathom" lr-find --data "$lev" $cols --layers 16 --steps 50 \
    --lr-min 1e-4 --lr-max 1 --optimizer adam --out "$tmp/short_sig.csv" --seed 4
cmp -s "$tmp/short.csv" "$tmp/short_sig.csv" && ok || bad "SIGTERM in the write left a partial range test"
ls "$tmp" | grep -q 'short_sig.csv.tmp' && bad "SIGTERM in the write left a temporary file" || ok
# A range that never blows up takes every step and says so.
expect 0 "all 30 steps taken" -- "$fathom" lr-find --data "$lev" $cols --layers 16 --steps 30 --lr-min 1e-7 \
    --lr-max 1e-6

# Starting from a saved model, with its standardisation and loss.
expect 0 "model written" -- "$fathom" train --data "$lev" $cols --layers 16,16 --act tanh --epochs 1 \
    --out "$tmp/m.safetensors"
expect 0 "suggested learning rate" -- "$fathom" lr-find --data "$lev" --from "$tmp/m.safetensors" --steps 60
grep -q "range test of 4 -> 16 tanh -> 16 tanh -> 1 linear" "$tmp/out" && ok || bad "--from did not use the model"

# Classification: cross-entropy with a softmax output on Fashion-MNIST.
fm=/usr/share/datasets/fashion-mnist
expect 0 "suggested learning rate" -- "$fathom" lr-find --data $fm/t10k-images-idx3-ubyte.gz \
    --target-data $fm/t10k-labels-idx1-ubyte.gz --loss cross_entropy --layers 32 --steps 60 --batch 64
grep -q "32 relu -> 10 softmax" "$tmp/out" && ok || bad "classification network not as expected"

# --- help and bad command lines ------------------------------------------------
expect 0 "range test" -- "$fathom" lr-find --help
expect 0 "lr-find" -- "$fathom" --help
expect 2 "--data is required" -- "$fathom" lr-find --targets temp
expect 2 "--lr-min" -- "$fathom" lr-find --data "$lev" $cols --lr-min 1 --lr-max 0.1
expect 2 "--lr-min" -- "$fathom" lr-find --data "$lev" $cols --lr-min 0.5 --lr-max 0.5
expect 2 "--lr-min" -- "$fathom" lr-find --data "$lev" $cols --lr-min 0
expect 2 "--lr-min" -- "$fathom" lr-find --data "$lev" $cols --lr-min -1
expect 2 "--lr-max" -- "$fathom" lr-find --data "$lev" $cols --lr-max nan
expect 2 "--steps" -- "$fathom" lr-find --data "$lev" $cols --steps 5
expect 2 "--steps" -- "$fathom" lr-find --data "$lev" $cols --steps many
expect 2 "--out" -- "$fathom" lr-find --data "$lev" $cols --out "$tmp/lr.txt"
expect 2 "unknown option" -- "$fathom" lr-find --data "$lev" $cols --bogus
expect 2 "--from takes the architecture" -- "$fathom" lr-find --data "$lev" --from "$tmp/m.safetensors" --layers 8
expect 2 "unknown optimiser" -- "$fathom" lr-find --data "$lev" $cols --optimizer rmsprop
expect 2 "unknown activation" -- "$fathom" lr-find --data "$lev" $cols --act relu7
expect 2 "salinity" -- "$fathom" lr-find --data "$lev" --targets salinity
expect 3 "nope.csv" -- "$fathom" lr-find --data "$tmp/nope.csv" --targets temp
expect 3 "" -- "$fathom" lr-find --data "$lev" $cols --steps 20 --out "$tmp/no/such/dir/lr.csv"

finish
