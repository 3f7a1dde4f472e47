#!/usr/bin/env bash
# Checkpoints do not depend on the number of processes that wrote them: a
# checkpoint of a 2-process run resumes in 1 process and one of a 1-process
# run resumes in 2, and both end with the weights of the uninterrupted runs
# (within the float tolerance of equivalence.sh: the processes sum in
# another order). Checkpoints are written every 100 steps of 171 (57 batches
# an epoch, 3 epochs), so the last one lies mid-epoch 2, shuffle order and
# optimiser moments included.
# Usage: resume.sh FATHOM MODEL_DIFF MPIRUN TEST_DATA_DIR SCRATCH_DIR
NAME=resume
. "$(dirname "$0")/lib/harness.bash" "$@"

lev=$data/levitus_sample.csv
args=(--data "$lev" --inputs lat,sin_lon,cos_lon,log_depth --targets temp --layers 32x3 --act tanh
      --batch 64 --epochs 3 --seed 5 --optimizer adam --lr 0.003 --patience 3 --checkpoint-every 100 --quiet)
tol=1e-5

expect 0 "model written to" -- "$fathom" train "${args[@]}" --out "$tmp/one.safetensors"
expect 0 "model written to" -- run_mpi 2 train "${args[@]}" --out "$tmp/two.safetensors"
expect 0 "parameters 2305" -- "$fathom" info "$tmp/one.ckpt"
expect 0 "parameters 2305" -- "$fathom" info "$tmp/two.ckpt"
cp "$tmp/one.ckpt" "$tmp/from-one.ckpt"
cp "$tmp/two.ckpt" "$tmp/from-two.ckpt"

# 2 processes -> 1 process
expect 0 "model written to" -- "$fathom" train "${args[@]}" --resume "$tmp/from-two.ckpt" --out "$tmp/two-then-one.safetensors"
same "$tmp/two.safetensors" "$tmp/two-then-one.safetensors" "$tol" "2-process checkpoint resumed in 1 process"
# 1 process -> 2 processes
expect 0 "model written to" -- run_mpi 2 train "${args[@]}" --resume "$tmp/from-one.ckpt" --out "$tmp/one-then-two.safetensors"
same "$tmp/one.safetensors" "$tmp/one-then-two.safetensors" "$tol" "1-process checkpoint resumed in 2 processes"
# Other data is still refused, whatever the number of processes.
expect nonzero "cannot resume" -- run_mpi 2 train "${args[@]}" --seed 6 --resume "$tmp/one.ckpt" --out "$tmp/x.safetensors"

finish
