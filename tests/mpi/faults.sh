#!/usr/bin/env bash
# A process that fails stops every process, quickly (never a hang), with a
# message naming its rank and the cause; the last checkpoint stays intact.
#  - a malformed field in the rows only rank 1 reads;
#  - rank 0 failing to read (simulated);
#  - rank 1 out of memory at its second checkpoint (simulated): the checkpoint
#    rank 0 wrote before still loads and resumes;
#  - more processes than rows, and a rank left without training rows;
#  - processes on machines that do not share the output folder (only rank 0
#    writes, so only rank 0 needs it; where rank 0 lacks it, all stop);
#  - rank 0 failing to write the run log at the end: every process exits 3.
# Usage: faults.sh FATHOM MODEL_DIFF MPIRUN TEST_DATA_DIR SCRATCH_DIR
NAME=faults
. "$(dirname "$0")/lib/harness.bash" "$@"

lev=$data/levitus_sample.csv
cols=(--inputs lat,sin_lon,cos_lon,log_depth --targets temp)
args=(--layers 16x2 --batch 64 --epochs 2 --quiet)

# Line 3500 of 4001 is in rank 1's half.
awk -F, -v OFS=, 'NR == 3500 { $7 = "warm" } { print }' "$lev" >"$tmp/bad.csv"
start=$(date +%s)
expect nonzero "rank 1: " -- run_mpi 2 train --data "$tmp/bad.csv" "${cols[@]}" "${args[@]}" --out "$tmp/m.safetensors"
grep -qF "bad.csv:3500" "$tmp/err" && ok || bad "the message does not name line 3500: $(head -c 300 "$tmp/err")"
[ $(($(date +%s) - start)) -lt 60 ] && ok || bad "the failing run took more than a minute"
[ ! -e "$tmp/m.safetensors" ] && ok || bad "a model was written by a failed run"
# The same file in one process names the same line.
expect 4 "bad.csv:3500" -- "$fathom" train --data "$tmp/bad.csv" "${cols[@]}" "${args[@]}" --out "$tmp/m.safetensors"

expect nonzero "rank 0: " -- env FATHOM_TEST_FAIL_RANK=0:read "$mpirun" --oversubscribe -np 2 "$fathom" train \
    --data "$lev" "${cols[@]}" "${args[@]}" --out "$tmp/m.safetensors"

# Checkpoints every 20 steps; rank 1 fails at its second checkpoint call (step 40).
ck=(--data "$lev" "${cols[@]}" "${args[@]}" --checkpoint-every 20 --checkpoint "$tmp/run.ckpt")
expect nonzero "rank 1: checkpoint at step 40 failed: out of memory" -- env FATHOM_TEST_FAIL_RANK=1:checkpoint:2 \
    timeout 120 "$mpirun" --oversubscribe -np 2 "$fathom" train "${ck[@]}" --out "$tmp/m.safetensors"
grep -q "exit code:[[:space:]]*6\|Exit code:[[:space:]]*6" "$tmp/err" && ok ||
    bad "mpirun did not report exit status 6 (out of memory): $(tail -c 400 "$tmp/err")"
expect 0 "parameters" -- "$fathom" info "$tmp/run.ckpt"
expect 0 "model written to" -- "$fathom" train "${ck[@]}" --resume "$tmp/run.ckpt" --out "$tmp/resumed.safetensors"

# A bad option is said once, by rank 0, not by every process.
expect nonzero "--threads" -- run_mpi 2 train --data "$lev" "${cols[@]}" --threads 0 --out "$tmp/m.safetensors"
[ "$(grep -c 'must be an integer in 1..1024' "$tmp/err")" -eq 1 ] && ok ||
    bad "the option error was not printed exactly once: $(head -c 300 "$tmp/err")"

# More processes than rows.
head -3 "$lev" >"$tmp/two-rows.csv"
expect nonzero "fewer than the 3 processes" -- run_mpi 3 train --data "$tmp/two-rows.csv" "${cols[@]}" \
    --val-split 0 --out "$tmp/m.safetensors"
# Enough rows to share, but the validation split leaves one process none.
head -4 "$lev" >"$tmp/three-rows.csv"
expect nonzero "holds none of the" -- run_mpi 3 train --data "$tmp/three-rows.csv" "${cols[@]}" --val-split 0.5 \
    --seed 1 --out "$tmp/m.safetensors"

# Each rank in a folder of its own stands in for machines whose disks are not
# shared: --out's folder exists only where rank 0 runs, which is all it needs
# (the other processes once stopped on it alone while rank 0 waited forever in
# the next collective). Where rank 0 lacks it, every process stops at once.
mkdir -p "$tmp/node0/out" "$tmp/node1"
printf '#!/bin/sh\ncd "%s/node$OMPI_COMM_WORLD_RANK" && exec "$@"\n' "$tmp" >"$tmp/per_rank_dir.sh"
chmod +x "$tmp/per_rank_dir.sh"
expect 0 "model written to out/m.safetensors" -- run_mpi_via 2 "$tmp/per_rank_dir.sh" train --data "$lev" \
    "${cols[@]}" "${args[@]}" --out out/m.safetensors
[ -s "$tmp/node0/out/m.safetensors" ] && ok || bad "rank 0 did not write the model in its folder"
rm -r "$tmp/node0/out"
mkdir "$tmp/node1/out"
expect nonzero "rank 0: cannot write --out out/m.safetensors" -- run_mpi_via 2 "$tmp/per_rank_dir.sh" train \
    --data "$lev" "${cols[@]}" "${args[@]}" --out out/m.safetensors
[ ! -e "$tmp/node1/out/m.safetensors" ] && ok || bad "a process other than rank 0 wrote a model"

# The run log fails on rank 0 after the model is written (simulated): the
# command failed (exit 3, a file not writable), and every process says so.
printf '#!/bin/sh\n"$@"\ns=$?\necho $s >"%s/exit.$OMPI_COMM_WORLD_RANK"\nexit $s\n' "$tmp" >"$tmp/record_exit.sh"
chmod +x "$tmp/record_exit.sh"
rm -f "$tmp"/exit.*
export FATHOM_TEST_FAIL_RANK=0:log
expect nonzero "rank 0: cannot write $tmp/log.jsonl (simulated" -- run_mpi_via 2 "$tmp/record_exit.sh" train \
    --data "$lev" "${cols[@]}" "${args[@]}" --diagnose 50 --log "$tmp/log.jsonl" --out "$tmp/m.safetensors"
unset FATHOM_TEST_FAIL_RANK
[ "$(cat "$tmp/exit.0" "$tmp/exit.1" 2>/dev/null | tr '\n' ' ')" = "3 3 " ] && ok ||
    bad "exit statuses of ranks 0 and 1: $(cat "$tmp"/exit.* 2>/dev/null | tr '\n' ' ') (want 3 3)"

finish
