#!/usr/bin/env bash
# End-to-end tests of the fathom CLI as a user runs it: train, info, predict,
# eval, fine-tuning, and every kind of bad input with its exit status and
# message. Usage: cli_basic.sh FATHOM_BINARY TEST_DATA_DIR SCRATCH_DIR
. "$(dirname "$0")/lib/harness.bash" cli_basic "$@"

lev=$data/levitus_sample.csv
model=$tmp/lev.safetensors

# --- the happy path -------------------------------------------------------
expect 0 "model written to" -- "$fathom" train --data "$lev" --inputs lat,sin_lon,cos_lon,log_depth --targets temp \
    --layers 32x3 --act tanh --optimizer adam --lr 0.003 --batch 64 --epochs 15 --seed 3 --out "$model"
[ -s "$model" ] && ok || bad "no model file written"
grep -q "validating on [1-9]" "$tmp/out" && ok || bad "train did not report the validation size"
# The validation RMSE (deg C) must beat predicting the mean by far.
rmse=$(sed -n 's/.*temp *RMSE \([0-9.e+-]*\) .*mean: \([0-9.e+-]*\)).*/\1 \2/p' "$tmp/out")
awk -v r="$rmse" 'BEGIN { split(r, v, " "); exit !(v[1] > 0 && v[1] < 0.4 * v[2]) }' && ok \
    || bad "validation RMSE not well below the mean baseline: '$rmse'"
# Not a terminal: plain lines per epoch, no carriage returns.
[ "$(grep -c '^epoch ' "$tmp/err")" -eq 15 ] && ok || bad "expected 15 epoch lines on stderr"
grep -q $'\r' "$tmp/err" && bad "carriage return in non-terminal progress" || ok

expect 0 "tanh" -- "$fathom" info "$model"
grep -q "log_depth" "$tmp/out" && ok || bad "info does not list input names"

expect 0 "wrote 4000 predictions" -- "$fathom" predict --model "$model" --data "$lev" --out "$tmp/pred.csv"
[ "$(wc -l <"$tmp/pred.csv")" -eq 4001 ] && ok || bad "prediction CSV should have 4001 lines"
[ "$(head -1 "$tmp/pred.csv")" = "temp" ] && ok || bad "prediction CSV header should be the target name"
# Predictions are in deg C: their mean is near the data's (about 8.6).
awk -F, 'NR > 1 { s += $1; n++ } END { m = s / n; exit !(m > 6 && m < 11) }' "$tmp/pred.csv" && ok \
    || bad "predictions are not in original units"
expect 0 "wrote 4000" -- "$fathom" predict --model "$model" --data "$lev" --out "$tmp/pred.npy"
[ "$(head -c 6 "$tmp/pred.npy" | tail -c 5)" = "NUMPY" ] && ok || bad "NPY magic missing"

expect 0 "RMSE" -- "$fathom" eval --model "$model" --data "$lev"

# Fine-tuning starts from the model: its first epoch's loss is already low.
expect 0 "model written to" -- "$fathom" train --data "$lev" --targets temp --from "$model" --optimizer adam \
    --lr 0.001 --epochs 1 --out "$tmp/tuned.safetensors"
awk '/^epoch 1\/1/ { exit !($4 < 0.2) }' "$tmp/err" && ok || bad "fine-tuning did not start from the trained weights"

# Classification on Fashion-MNIST IDX files with labels from a second file.
fm=/usr/share/datasets/fashion-mnist
expect 0 "accuracy" -- "$fathom" train --data $fm/t10k-images-idx3-ubyte.gz --target-data $fm/t10k-labels-idx1-ubyte.gz \
    --loss cross_entropy --layers 64 --optimizer adam --lr 0.002 --epochs 2 --batch 128 --out "$tmp/fashion.safetensors"
acc=$(sed -n 's/.*accuracy \([0-9.]*\).*/\1/p' "$tmp/out" | tail -1)
awk -v a="$acc" 'BEGIN { exit !(a > 0.7) }' && ok || bad "Fashion-MNIST accuracy '$acc' not above 0.7"
expect 0 "wrote 10000" -- "$fathom" predict --model "$tmp/fashion.safetensors" --data $fm/t10k-images-idx3-ubyte.gz \
    --out "$tmp/fashion.csv"
[ "$(head -1 "$tmp/fashion.csv" | cut -d, -f1-2)" = "class,p_0" ] && ok || bad "classification CSV header"
# Fine-tuning keeps the model's loss: another --loss is refused, the default's
# name (mse) included, and nothing is written.
for l in mse huber; do
    expect 2 "differs from the model's loss" -- "$fathom" train --data $fm/t10k-images-idx3-ubyte.gz \
        --target-data $fm/t10k-labels-idx1-ubyte.gz --from "$tmp/fashion.safetensors" --loss $l --epochs 1 \
        --out "$tmp/refused.safetensors"
    [ ! -e "$tmp/refused.safetensors" ] && ok || bad "a refused fine-tuning (--loss $l) wrote a model"
done

# --- bad command lines: exit 2 ---------------------------------------------
expect 2 "unknown command" -- "$fathom" frobnicate
expect 2 "--data is required" -- "$fathom" train --targets temp
expect 2 "unknown option" -- "$fathom" train --data "$lev" --bogus
expect 2 "--layers" -- "$fathom" train --data "$lev" --targets temp --layers 0,5 --out "$tmp/x.safetensors"
expect 2 "--layers" -- "$fathom" train --data "$lev" --targets temp --layers 64x --out "$tmp/x.safetensors"
expect 2 "--lr" -- "$fathom" train --data "$lev" --targets temp --lr -1
expect 2 "--lr" -- "$fathom" train --data "$lev" --targets temp --lr nan
expect 2 "--epochs" -- "$fathom" train --data "$lev" --targets temp --epochs 1e3
expect 2 "unknown activation" -- "$fathom" train --data "$lev" --targets temp --act relu7 --out "$tmp/x.safetensors"
expect 2 "unknown initialiser" -- "$fathom" train --data "$lev" --targets temp --init gauss --out "$tmp/x.safetensors"
expect 2 "cross_entropy needs a softmax" -- "$fathom" train --data "$lev" --targets temp --loss cross_entropy \
    --output-act linear --out "$tmp/x.safetensors"
expect 2 "needs the cross_entropy loss" -- "$fathom" train --data "$lev" --targets temp --act-at 3=softmax \
    --out "$tmp/x.safetensors"
expect 2 "needs the cross_entropy loss" -- "$fathom" lr-find --data "$lev" --targets temp --output-act softmax
expect 2 "salinity" -- "$fathom" train --data "$lev" --targets salinity --out "$tmp/x.safetensors"
expect 2 "--out" -- "$fathom" predict --model "$model" --data "$lev" --out "$tmp/pred.txt"
[ -e "$tmp/x.safetensors" ] && bad "a failed run left a model file" || ok

# --- files that are missing or malformed -------------------------------------
expect 3 "nope.csv" -- "$fathom" train --data "$tmp/nope.csv" --targets temp
printf 'lat,temp\n1,2\n3,abc\n' >"$tmp/badvalue.csv"
expect 4 "badvalue.csv:3" -- "$fathom" train --data "$tmp/badvalue.csv" --targets temp
printf 'lat,temp\n1,2\n3,\n4,5\n5,6\n' >"$tmp/missing.csv"
expect 0 "skipped 1" -- "$fathom" train --data "$tmp/missing.csv" --targets temp --skip-bad-rows --epochs 1 \
    --val-split 0 --out "$tmp/m.safetensors"
head -c 100 "$model" >"$tmp/truncated.safetensors"
expect 4 "truncated.safetensors" -- "$fathom" info "$tmp/truncated.safetensors"
expect 4 "" -- "$fathom" predict --model "$tmp/truncated.safetensors" --data "$lev" --out "$tmp/p.csv"
printf 'garbage' >"$tmp/garbage.safetensors"
expect 4 "garbage.safetensors" -- "$fathom" eval --model "$tmp/garbage.safetensors" --data "$lev"
# A prediction that cannot be written leaves no partial file behind.
expect 3 "" -- "$fathom" predict --model "$model" --data "$lev" --out "$tmp/no/such/dir/p.csv"
[ -e "$tmp/no/such/dir/p.csv" ] && bad "partial output" || ok

# --- training that diverges: exit 5; the last good weights are kept and load ------
expect 5 "diverged" -- "$fathom" train --data "$lev" --targets temp --inputs lat,log_depth --act relu --lr 1e4 \
    --epochs 3 --out "$tmp/diverged.safetensors"
grep -q "the initial weights written" "$tmp/out" && ok || bad "a diverged run did not keep the last good weights"
expect 0 "relu" -- "$fathom" info "$tmp/diverged.safetensors"
# A learning rate too large for momentum 0.9: the loss grows by orders of
# magnitude before anything overflows, and the growth itself stops training.
expect 5 "the loss (smoothed) grew" -- "$fathom" train --data "$lev" --targets temp \
    --inputs lat,log_depth,sin_lon,cos_lon --layers 32,32 --act tanh --lr 0.5 --momentum 0.9 --epochs 3 \
    --batch 32 --out "$tmp/exploded.safetensors" --log "$tmp/exploded.jsonl"
grep -q '"status":"diverged"' "$tmp/exploded.jsonl" && ok || bad "the run log does not record the divergence"

# --- diagnostics: a run log with per-layer statistics and a diagnosis -------------
expect 0 "Dead ReLU units" -- "$fathom" train --data "$lev" --targets temp --inputs lat,sin_lon,cos_lon,log_depth \
    --layers 32x6 --act relu --init normal:0.02 --epochs 2 --diagnose 20 --out "$tmp/diag.safetensors"
[ -s "$tmp/diag.jsonl" ] && ok || bad "--diagnose wrote no run log next to the model"
[ "$(grep -c '"type":"diagnose"' "$tmp/diag.jsonl")" -ge 10 ] && ok || bad "too few diagnose records"
grep -q '"update_ratio"' "$tmp/diag.jsonl" && ok || bad "no update-to-weight ratio in the run log"
[ "$(tail -1 "$tmp/diag.jsonl" | grep -c '"type":"end"')" -eq 1 ] && ok || bad "run log does not end with an end record"
expect 0 "No dead or saturated" -- "$fathom" train --data "$lev" --targets temp \
    --inputs lat,sin_lon,cos_lon,log_depth --layers 32x3 --act tanh --epochs 1 --diagnose 50 \
    --out "$tmp/healthy.safetensors"
expect 3 "no/such" -- "$fathom" train --data "$lev" --targets temp --epochs 1 --log "$tmp/no/such/log.jsonl" \
    --out "$tmp/x.safetensors"

# --- probe --------------------------------------------------------------------------
expect 0 "first at layer" -- "$fathom" probe --layers 128x40 --act linear --weight-var 1 --samples 256
expect 0 "" -- "$fathom" probe --layers 64x4 --act tanh --format csv --samples 128
[ "$(head -1 "$tmp/out" | cut -d, -f1-5)" = "layer,n_in,n_out,activation,var_w" ] && ok || bad "probe CSV header"
[ "$(wc -l <"$tmp/out")" -eq 5 ] && ok || bad "probe CSV should have one line per layer"
expect 0 "" -- "$fathom" probe --layers 64x3 --act selu --format json --samples 128
grep -q '"first_nonfinite_layer":[[:space:]]*null' "$tmp/out" && ok || bad "probe JSON lacks first_nonfinite_layer"
expect 0 "" -- "$fathom" probe --model "$model" --data "$lev" --samples 500
expect 0 "Backward pass from the mse loss against temp" -- "$fathom" probe --model "$model" --data "$lev" \
    --targets temp --samples 500
expect 2 "need --data" -- "$fathom" probe --layers 8x2 --targets temp
expect 2 "needs a softmax" -- "$fathom" probe --layers 8x2,1 --inputs 1 --act-at 3=linear --data "$lev" \
    --columns lat --targets temp --loss cross_entropy
expect 2 "--format" -- "$fathom" probe --layers 8x2 --format xml
expect 2 "--layers" -- "$fathom" probe --layers 8x0

# --- outputs that would destroy an input, or that cannot be written -------
# Each is refused before any work, and the files involved stay as they were.
cp "$lev" "$tmp/copy.csv"
expect 2 "--out $tmp/copy.csv is the same file as --data" -- "$fathom" train --data "$tmp/copy.csv" \
    --targets temp --epochs 1 --out "$tmp/copy.csv"
expect 2 "same file as --data" -- "$fathom" train --data "$tmp/copy.csv#random:0.1:train" --targets temp \
    --epochs 1 --out "$tmp/../cli_basic/copy.csv"
expect 2 "same file as --data" -- "$fathom" train --data "$tmp/copy.csv" --targets temp --epochs 1 \
    --diagnose 1 --log "$tmp/copy.csv" --out "$tmp/y.safetensors"
expect 2 "same file as --data" -- "$fathom" predict --model "$model" --data "$tmp/copy.csv" --out "$tmp/copy.csv"
expect 2 "same file as --data" -- "$fathom" lr-find --data "$tmp/copy.csv" --targets temp --out "$tmp/copy.csv"
cmp -s "$lev" "$tmp/copy.csv" && ok || bad "a refused output changed its input"
[ -e "$tmp/y.safetensors" ] && bad "a refused run wrote its model" || ok
expect 2 "--out and --log name the same file" -- "$fathom" train --data "$lev" --targets temp --epochs 1 \
    --diagnose 1 --out "$tmp/z.safetensors" --log "$tmp/z.safetensors"
cp "$model" "$tmp/model.csv" # a model file whose name passes predict's output check
expect 2 "same file as --model" -- "$fathom" predict --model "$tmp/model.csv" --data "$lev" --out "$tmp/model.csv"
# An unwritable output stops training before it starts, not after it ends.
expect 3 "directory $tmp/missing" -- "$fathom" train --data "$lev" --targets temp --epochs 1 \
    --out "$tmp/missing/m.safetensors"
grep -q "^epoch" "$tmp/err" && bad "train ran before finding --out unwritable" || ok
expect 3 "--report" -- "$fathom" train --data "$lev" --targets temp --epochs 1 --diagnose 5 \
    --out "$tmp/r.safetensors" --report "$tmp/missing/r.html"
mkdir -p "$tmp/adir.csv"
expect 2 "is a directory" -- "$fathom" predict --model "$model" --data "$lev" --out "$tmp/adir.csv"
# A directory given as data is named as one (not read as an absurd size).
mkdir -p "$tmp/dir.csv"
expect 3 "is a directory, not a data file" -- "$fathom" train --data "$tmp/dir.csv" --targets temp \
    --out "$tmp/d.safetensors"
expect 3 "is a directory, not a data file" -- "$fathom" eval --model "$model" --data "$tmp/dir.csv"
# A model used on data with another number of inputs: the real count is named.
expect 2 "1 input columns selected but the model takes 4 (it was trained on lat,sin_lon,cos_lon,log_depth)" -- \
    "$fathom" predict --model "$model" --data "$lev" --inputs lat --out "$tmp/p1.csv"
# Inputs given in another order than the model's are used by position: warned.
expect 0 "the inputs read are sin_lon,lat,cos_lon,log_depth but the model was trained on lat,sin_lon,cos_lon,log_depth" \
    -- "$fathom" predict --model "$model" --data "$lev" --inputs sin_lon,lat,cos_lon,log_depth --out "$tmp/p2.csv"
expect 0 "" -- "$fathom" predict --model "$model" --data "$lev" --inputs lat,sin_lon,cos_lon,log_depth --out "$tmp/p3.csv"
grep -q "warning" "$tmp/err" && bad "inputs in the model's order were warned about" || ok
# probe: targets that do not fit the network's outputs are refused (they were
# read past their end); bad rows left out are said.
expect 2 "1 target column (--targets temp) for a network with 3 outputs" -- "$fathom" probe --samples 16 \
    --layers 4,3 --data "$lev" --columns lat,sin_lon,cos_lon,log_depth --targets temp
printf 'x1,x2,y\n1,2,3\n4,5\n7,8,9\n' >"$tmp/ragged.csv"
expect 0 "1 row with missing or non-numeric values left out" -- "$fathom" probe --samples 16 --layers 3x2 \
    --data "$tmp/ragged.csv"

# --- data that reads but could not be used -------------------------------
printf 'x\xff1,x2,y\n1,2,3\n4,5,6\n' >"$tmp/latin1.csv"
expect 4 "the name of column 1 is not text" -- "$fathom" train --data "$tmp/latin1.csv" --targets y \
    --out "$tmp/n.safetensors"
head -c 4000 "$fathom" >"$tmp/binary.csv" # an ELF header: 0x7f, NUL bytes
expect 4 "is this a CSV file?" -- "$fathom" train --data "$tmp/binary.csv" --targets y --out "$tmp/n.safetensors"
printf 'x1,x2,y\n1\0002,2,3\n4,5,6\n' >"$tmp/nul.csv"
expect 4 'nul.csv:2: column "x1": "1" holds a NUL byte' -- "$fathom" train --data "$tmp/nul.csv" --targets y \
    --out "$tmp/n.safetensors"
printf 'x1,,y\n1,2,3\n4,5,6\n7,8,9\n' >"$tmp/unnamed.csv"
expect 4 "column 2 has an empty name" -- "$fathom" train --data "$tmp/unnamed.csv" --targets y \
    --out "$tmp/n.safetensors"
printf '"a,b",x2,y\n1,2,3\n4,5,6\n7,8,9\n' >"$tmp/comma.csv"
expect 4 "could not select it again by name" -- "$fathom" train --data "$tmp/comma.csv" --targets y \
    --out "$tmp/n.safetensors"
[ -e "$tmp/n.safetensors" ] && bad "a refused data file produced a model" || ok
awk 'BEGIN { print "x,label"; for (i = 0; i < 20; i++) print i "," (i % 3 + 0.5) }' >"$tmp/halves.csv"
expect 4 'halves.csv: column "label": class label 0.5' -- "$fathom" train --data "$tmp/halves.csv" \
    --targets label --loss cross_entropy --out "$tmp/n.safetensors"
awk 'BEGIN { print "x,label"; for (i = 0; i < 20; i++) print i "," (i == 3 ? 2000000000 : 1) }' >"$tmp/huge.csv"
expect 4 "would need more than" -- "$fathom" train --data "$tmp/huge.csv" --targets label --loss cross_entropy \
    --out "$tmp/n.safetensors"
expect 2 "beyond float32 weights" -- "$fathom" train --data "$lev" --targets temp --init normal:1e300 \
    --out "$tmp/n.safetensors"
expect 2 "must be a number in [1e-30, 1e6]" -- "$fathom" train --data "$lev" --targets temp --lr 1e10

# Labels a classifier cannot take are the data's fault, named there (exit 4).
awk 'BEGIN { print "x,label"; for (i = 0; i < 40; i++) print i / 40 "," (i % 2) }' >"$tmp/two.csv"
expect 0 "model written to" -- "$fathom" train --data "$tmp/two.csv" --targets label --loss cross_entropy \
    --layers 4 --epochs 1 --out "$tmp/two.safetensors"
awk 'BEGIN { print "x,label"; for (i = 0; i < 40; i++) print i / 40 "," (i % 3) }' >"$tmp/three.csv"
expect 4 'three.csv: column "label": class label 2, but the network has 2 classes' -- "$fathom" eval \
    --model "$tmp/two.safetensors" --data "$tmp/three.csv"
expect 4 'halves.csv: column "label": class label 0.5' -- "$fathom" eval --model "$tmp/two.safetensors" \
    --data "$tmp/halves.csv"
awk 'BEGIN { print "x,p"; for (i = 0; i < 20; i++) print i "," (i == 4 ? 2 : 0.5) }' >"$tmp/bce.csv"
expect 4 'bce.csv: column "p": bce target 2 (row 5 of the rows read) is outside [0, 1]' -- "$fathom" train \
    --data "$tmp/bce.csv" --targets p --loss bce --val-split 0 --out "$tmp/n.safetensors"
expect 4 'three.csv: column "label": class label 2, but the network has 2 classes' -- "$fathom" probe \
    --model "$tmp/two.safetensors" --data "$tmp/three.csv" --targets label --samples 16
expect 3 "cannot open checkpoint $tmp/none.ckpt" -- "$fathom" train --data "$lev" --targets temp \
    --resume "$tmp/none.ckpt" --out "$tmp/n.safetensors"
expect 2 "the data file name is empty" -- "$fathom" train --data "" --targets y --out "$tmp/n.safetensors"

# Outputs that are not regular files would be replaced by the rename that
# finishes every write: refused, and left as they are.
mkfifo "$tmp/fifo.safetensors"
expect 3 "it is a FIFO, not a regular file" -- "$fathom" train --data "$lev" --targets temp --epochs 1 \
    --out "$tmp/fifo.safetensors"
[ -p "$tmp/fifo.safetensors" ] && ok || bad "the FIFO output was replaced"
ln -sf "$tmp/elsewhere.csv" "$tmp/link.csv"
expect 3 "it is a symbolic link" -- "$fathom" predict --model "$model" --data "$lev" --out "$tmp/link.csv"
[ -L "$tmp/link.csv" ] && ok || bad "the symbolic link output was replaced"
expect 2 "--out: the output file name is empty" -- "$fathom" train --data "$lev" --targets temp --out ""
expect 2 "--report: the output file name is empty" -- "$fathom" train --data "$lev" --targets temp --diagnose 5 \
    --report "" --out "$tmp/n.safetensors"
# A full standard output is a failed command (exit 3), not a silent success.
"$fathom" info "$model" >/dev/full 2>"$tmp/err"
[ $? -eq 3 ] && grep -q "cannot write to standard output" "$tmp/err" && ok || bad "info to /dev/full did not fail"
expect 2 "SEG-Y output needs SEG-Y --data" -- "$fathom" predict --model "$model" --data "$lev" --out "$tmp/p.sgy"
# baseline on a table: rows are the cells (it crashed on the missing grid index).
expect 0 "test RMSE" -- "$fathom" baseline --data "$lev" --targets temp --inputs lat,sin_lon,cos_lon,log_depth \
    --knn-space lat,sin_lon --split random:0.2
# A model's loss parameters are its own: --loss with --from or --resume must match them.
expect 0 "model written to" -- "$fathom" train --data "$lev" --targets temp --layers 8 --epochs 2 --loss huber:2 \
    --seed 1 --checkpoint-every 20 --checkpoint "$tmp/h.ckpt" --out "$tmp/h.safetensors"
expect 2 "--loss huber:0.5 differs from the model's loss huber:2" -- "$fathom" train --data "$lev" --targets temp \
    --epochs 1 --loss huber:0.5 --from "$tmp/h.safetensors" --out "$tmp/n.safetensors"
expect 2 "the checkpoint's run has seed 1, this one 2" -- "$fathom" train --data "$lev" --targets temp --layers 8 \
    --epochs 2 --loss huber:2 --seed 2 --resume "$tmp/h.ckpt" --out "$tmp/n.safetensors"
expect 4 'bce.csv: column "p": bce target 2' -- "$fathom" lr-find --data "$tmp/bce.csv" --targets p --loss bce \
    --layers 4 --steps 20

finish
