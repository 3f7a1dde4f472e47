#!/usr/bin/env bash
# Checkpoints, interruption and exact resume through the CLI:
#  - SIGINT and SIGTERM during training: exit status 7, a checkpoint that
#    `fathom info` reads, and `--resume` then finishes the run with a model file
#    byte-identical to an uninterrupted run's;
#  - a resume with other options is refused, naming the difference;
#  - SIGKILL at random moments, 20 times, while checkpoints are written every
#    few steps: the checkpoint and the model file always load, and resuming the
#    last checkpoint still ends bit-identical to the uninterrupted run;
#  - an absurdly large network is refused with a memory estimate.
# Usage: cli_checkpoint.sh FATHOM_BINARY TEST_DATA_DIR SCRATCH_DIR
. "$(dirname "$0")/lib/harness.bash" cli_checkpoint "$@"

lev=$data/levitus_sample.csv
args=(--data "$lev" --inputs lat,sin_lon,cos_lon,log_depth --targets temp --layers 32x3 --act tanh
      --optimizer adam --lr 0.003 --batch 16 --epochs 15 --seed 3 --dropout 0.1 --patience 12 --quiet)

expect 0 "model written to" -- "$fathom" train "${args[@]}" --out "$tmp/ref.safetensors"

# wait_for FILE PID: until FILE exists (or PID ends); 1 if PID ended first.
wait_for() {
    local i
    for i in $(seq 1 3000); do
        [ -e "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.01
    done
    return 1
}

# --- SIGINT and SIGTERM: status 7, checkpoint, exact resume -----------------
for sig in INT TERM; do
    out=$tmp/$sig.safetensors
    ckpt=$tmp/$sig.ckpt # the default: the model's name with .ckpt
    "$fathom" train "${args[@]}" --out "$out" --checkpoint-every 40 >"$tmp/out" 2>"$tmp/err" &
    pid=$!
    if ! wait_for "$ckpt" "$pid"; then
        bad "SIG$sig: training ended before its first checkpoint; the test needs a longer run"
        wait "$pid"
        continue
    fi
    kill -"$sig" "$pid"
    wait "$pid"
    status=$?
    [ "$status" -eq 7 ] && ok || bad "SIG$sig: exit status $status, expected 7; stderr: $(head -c 300 "$tmp/err")"
    grep -qF -- "--resume $ckpt" "$tmp/err" && ok || bad "SIG$sig: no resume hint: $(head -c 300 "$tmp/err")"
    [ -s "$out" ] && ok || bad "SIG$sig: no model written on interruption"
    expect 0 "parameters" -- "$fathom" info "$ckpt"
    cp "$ckpt" "$tmp/saved.ckpt"
    expect 0 "model written to" -- "$fathom" train "${args[@]}" --out "$out" --resume "$ckpt"
    cmp -s "$tmp/ref.safetensors" "$out" && ok || bad "SIG$sig: resumed model differs from the uninterrupted run's"
done

# --- a resume must be the same run -----------------------------------------
ck=$tmp/saved.ckpt
with() { # the arguments with one option's value replaced
    local opt=$1 value=$2 i
    local -a copy=("${args[@]}")
    for i in "${!copy[@]}"; do
        [ "${copy[$i]}" = "$opt" ] && copy[$((i + 1))]=$value
    done
    printf '%s\n' "${copy[@]}"
}
mapfile -t a1 < <(with --epochs 16)
expect 2 "15 epochs, this one 16" -- "$fathom" train "${a1[@]}" --out "$tmp/m.safetensors" --resume "$ck"
mapfile -t a1 < <(with --lr 0.004)
expect 2 "learning rate" -- "$fathom" train "${a1[@]}" --out "$tmp/m.safetensors" --resume "$ck"
mapfile -t a1 < <(with --act relu)
expect 2 "activation" -- "$fathom" train "${a1[@]}" --out "$tmp/m.safetensors" --resume "$ck"
mapfile -t a1 < <(with --seed 4)
expect 2 "cannot resume" -- "$fathom" train "${a1[@]}" --out "$tmp/m.safetensors" --resume "$ck"
expect 2 "not both" -- "$fathom" train "${args[@]}" --out "$tmp/m.safetensors" --resume "$ck" --from "$ck"
expect 4 "not a checkpoint" -- "$fathom" train "${args[@]}" --out "$tmp/m.safetensors" --resume "$tmp/ref.safetensors"
expect 3 "cannot open" -- "$fathom" train "${args[@]}" --out "$tmp/m.safetensors" --resume "$tmp/missing.ckpt"

# --- SIGKILL at random moments ---------------------------------------------
kout=$tmp/kill.safetensors
kck=$tmp/kill.ckpt
cp "$tmp/ref.safetensors" "$kout"
cp "$tmp/saved.ckpt" "$kck"
RANDOM=7
for i in $(seq 1 20); do
    "$fathom" train "${args[@]}" --out "$kout" --checkpoint "$kck" --checkpoint-every 3 >/dev/null 2>&1 &
    pid=$!
    sleep "0.$((RANDOM % 60 + 5))"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    "$fathom" info "$kout" >/dev/null 2>"$tmp/err" && ok || bad "kill $i: model file does not load: $(cat "$tmp/err")"
    "$fathom" info "$kck" >/dev/null 2>"$tmp/err" && ok || bad "kill $i: checkpoint does not load: $(cat "$tmp/err")"
done
rm -f "$tmp"/*.tmp.*
expect 0 "model written to" -- "$fathom" train "${args[@]}" --out "$kout" --checkpoint "$kck" --resume "$kck"
cmp -s "$tmp/ref.safetensors" "$kout" && ok || bad "resuming after SIGKILL did not reproduce the uninterrupted run"

# --- limits ----------------------------------------------------------------
expect 2 "GiB" -- "$fathom" train --data "$lev" --targets temp --layers 1000000x1000 --out "$tmp/huge.safetensors"
[ -e "$tmp/huge.safetensors" ] && bad "a refused network left a model file" || ok
expect 2 "--batch" -- "$fathom" train --data "$lev" --targets temp --batch 0 --out "$tmp/b.safetensors"
expect 2 "--checkpoint-every" -- "$fathom" train --data "$lev" --targets temp --checkpoint-every 0 --out "$tmp/b.safetensors"

finish
