#!/usr/bin/env bash
# Data-parallel training gives the weights of one process:
#  - 2 processes (mpirun -np 2) with global batch B against 1 process with
#    batch B, for plain SGD, SGD with momentum and Adam, shuffling on, with a
#    validation split, diagnostics and a cross-entropy run: the same weights
#    within a relative 1e-5 (see below);
#  - mpirun -np 1 against plain `fathom train`: bit for bit.
# Tolerance: the runs differ only in the order of float32 sums — the gradient
# block is summed over two halves of the batch instead of one (and the
# standardisation's double sums in two parts, which can move a float mean by
# an ulp). Each step's update then differs by a few ulps (~1e-7 relative);
# over the ~170 steps here on a smooth loss the difference stays near 1e-7
# (measured: below 2e-7), and 1e-5 leaves room while still catching any real
# error: a lost or double-counted row, a wrong share scale, or ranks drifting
# apart all change the weights by 1e-3 or more.
# Usage: equivalence.sh FATHOM MODEL_DIFF MPIRUN TEST_DATA_DIR SCRATCH_DIR
NAME=equivalence
. "$(dirname "$0")/lib/harness.bash" "$@"

lev=$data/levitus_sample.csv
base=(--data "$lev" --inputs lat,sin_lon,cos_lon,log_depth --targets temp --layers 32x3 --act tanh
      --batch 64 --epochs 3 --seed 5 --quiet)
tol=1e-5

# Plain SGD takes the update fused into the backward pass in one process
# (fm_net_backward_sgd) but the summed gradient under mpirun: the two paths
# must agree too.
for run in "sgd_plain:sgd --lr 0.05" "sgd:sgd --momentum 0.9 --lr 0.02" "adam:adam --lr 0.003"; do
    name=${run%%:*}
    read -r -a o <<<"--optimizer ${run#*:}"
    expect 0 "model written to" -- "$fathom" train "${base[@]}" "${o[@]}" --out "$tmp/$name-1.safetensors"
    expect 0 "2 processes" -- run_mpi 2 train "${base[@]}" "${o[@]}" --out "$tmp/$name-2.safetensors"
    same "$tmp/$name-1.safetensors" "$tmp/$name-2.safetensors" "$tol" "$name, 2 processes against 1"
done

# Validation, early stopping and diagnostics reduced over processes: the run
# log (written by rank 0 alone) reports the same statistics as one process's.
diag=(--optimizer adam --lr 0.003 --patience 2 --diagnose 25 --act relu)
expect 0 "diagnosis" -- "$fathom" train "${base[@]}" "${diag[@]}" --out "$tmp/diag-1.safetensors"
expect 0 "diagnosis" -- run_mpi 2 train "${base[@]}" "${diag[@]}" --out "$tmp/diag-2.safetensors"
same "$tmp/diag-1.safetensors" "$tmp/diag-2.safetensors" "$tol" "adam with diagnostics, 2 processes against 1"
if [ -s "$tmp/diag-1.jsonl" ] && [ -s "$tmp/diag-2.jsonl" ]; then
    n1=$(grep -c '"layers"' "$tmp/diag-1.jsonl")
    n2=$(grep -c '"layers"' "$tmp/diag-2.jsonl")
    [ "$n1" -eq "$n2" ] && [ "$n1" -gt 0 ] && ok || bad "diagnostic records: $n1 with 1 process, $n2 with 2"
else
    bad "no run log written"
fi

# Classification (IDX-like labels in a CSV column): accuracy and classes over processes.
awk -F, 'NR == 1 { print "lat,sin_lon,cos_lon,log_depth,warm"; next }
         { print $1 "," $4 "," $5 "," $6 "," ($7 > 10 ? 1 : 0) }' "$lev" >"$tmp/warm.csv"
cls=(--data "$tmp/warm.csv" --targets warm --loss cross_entropy --layers 16x2 --optimizer adam --lr 0.01
     --batch 50 --epochs 2 --seed 2 --quiet)
expect 0 "accuracy" -- "$fathom" train "${cls[@]}" --out "$tmp/cls-1.safetensors"
expect 0 "accuracy" -- run_mpi 2 train "${cls[@]}" --out "$tmp/cls-2.safetensors"
same "$tmp/cls-1.safetensors" "$tmp/cls-2.safetensors" "$tol" "cross-entropy, 2 processes against 1"

# Three processes (more than this machine's cores: oversubscribed) and a batch
# that does not split evenly.
expect 0 "3 processes" -- run_mpi 3 train "${base[@]}" --optimizer sgd --momentum 0.9 --lr 0.02 --batch 37 \
    --out "$tmp/sgd-3.safetensors"
expect 0 "model written to" -- "$fathom" train "${base[@]}" --optimizer sgd --momentum 0.9 --lr 0.02 --batch 37 \
    --out "$tmp/sgd37-1.safetensors"
same "$tmp/sgd37-1.safetensors" "$tmp/sgd-3.safetensors" "$tol" "sgd, batch 37, 3 processes against 1"

# Fine-tuning (--from): every process loads the same model and reads its
# block of the data by the model's column names; the tuned weights match one
# process's. The base model is the Adam run above; a second data set (the
# warmer half of the sample) stands in for new data.
awk -F, 'NR == 1 || $7 > 8' "$lev" >"$tmp/warmer.csv"
tune=(--from "$tmp/adam-1.safetensors" --data "$tmp/warmer.csv" --optimizer sgd --momentum 0.9 --lr 0.01
      --batch 64 --epochs 2 --seed 7 --quiet)
expect 0 "model written to" -- "$fathom" train "${tune[@]}" --out "$tmp/tune-1.safetensors"
expect 0 "2 processes" -- run_mpi 2 train "${tune[@]}" --out "$tmp/tune-2.safetensors"
same "$tmp/tune-1.safetensors" "$tmp/tune-2.safetensors" "$tol" "fine-tuning with --from, 2 processes against 1"
# and it moved the weights (the same comparison with the base model must fail)
if "$model_diff" "$tmp/adam-1.safetensors" "$tmp/tune-2.safetensors" "$tol" >/dev/null 2>&1; then
    bad "fine-tuning under mpirun left the base model's weights as they were"
else
    ok
fi

# One process under mpirun takes the one-process path: bit for bit.
expect 0 "model written to" -- run_mpi 1 train "${base[@]}" --optimizer adam --lr 0.003 --out "$tmp/adam-k1.safetensors"
same "$tmp/adam-1.safetensors" "$tmp/adam-k1.safetensors" 0 "adam, mpirun -np 1 against plain"

finish
