#!/usr/bin/env bash
# Side-by-side benchmark of fathom against PyTorch and FANN (issue 5's cases),
# all in one run: the peers alternate on each case, REPS repetitions each, at
# 1 and 2 threads (FANN is single-threaded: it runs in the 1-thread pass and
# its figures stand in both). Prints one table of medians, min-max, the ratios
# fathom/peer, the fraction of the sgemm bound and the issue's targets.
#
#   bench/run.sh              # from the repository root; ~5 minutes on 2 cores
#   REPS=5 bench/run.sh       # more repetitions
#   QUICK=1 bench/run.sh      # smoke run: REPS=1, tiny steps, ~1 minute; checks
#                             # that everything runs, its figures mean nothing
#
# Cases (docs/benchmarks.md says more):
#   train   784-512x4-10 SELU, cross-entropy, batch 128 and 32 (samples/s)
#   train   8-64-64-1 tanh, linear output, MSE, batch 16 (per-step overhead)
#   infer   784-512x4-10 at batch 1 (median microseconds per call) and 1024 (samples/s)
#   memory  peak resident memory of each training process (batch 128)
#   probe   fm_probe of 64 tanh layers x 512 on 1024 N(0, 1) samples, cold
#           (create + first pass, what `fathom probe` costs) and warm; and of
#           the 784-512x4-10 network (warm)
#   diagnose  fm_train with statistics every step against none (fathom only)
#   sgemm   the bare GEMMs of a training step and of a forward pass: the bound
#
# Environment:
#   REPS=3              repetitions per implementation and case
#   MIN_SECONDS=1       each timed repetition lasts at least this long
#   QUICK=1             the smoke run above
#   BENCH_CORETYPE=auto OPENBLAS_CORETYPE given to fathom and PyTorch. "auto":
#                       what the fathom CLI chooses (bench_train --blas-kernels):
#                       where OpenBLAS 0.3.21 does not recognise the CPU and
#                       falls back to its Prescott (SSE3) kernels, SkylakeX with
#                       AVX-512 or Haswell with AVX2, else OpenBLAS's own choice;
#                       "default" leaves it unset; any other value is passed on
#                       (a set the CPU lacks stops at its first GEMM).
#   BENCH_TRAIN=PATH    a prebuilt bench_train (otherwise built in build-bench/)
#   FANN_TRAIN=PATH     a prebuilt fann_train ("none": skip FANN)
#   RESULTS=PATH        where the JSON lines go (default build-bench/bench-results.jsonl)
#   PYTHON=/usr/bin/python3   the Python that has torch
#
# fathom and PyTorch get the same thread count T for everything: fathom calls
# openblas_set_num_threads(T); PyTorch gets OPENBLAS_NUM_THREADS=T,
# torch.set_num_threads(T), one inter-op thread and OMP_WAIT_POLICY=PASSIVE
# (its best setting here; the run also measures it once without). This is a
# benchmark: nothing here asserts a time.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    REPS=${REPS:-1}
    MIN_SECONDS=${MIN_SECONDS:-0.05}
else
    REPS=${REPS:-3}
    MIN_SECONDS=${MIN_SECONDS:-1}
fi
CORETYPE=${BENCH_CORETYPE:-auto}
PYTHON=${PYTHON:-/usr/bin/python3}
BUILD=build-bench
RESULTS=${RESULTS:-$BUILD/bench-results.jsonl}
BIG=784,512x4,10
SMALL=8,64,64,1
DEEP=512,512x64
# The deep probe holds ~0.5 GB per process; the smoke run probes fewer samples.
if [ "$QUICK" = 1 ]; then PROBE_SAMPLES=128; else PROBE_SAMPLES=1024; fi
# The sgemm bound: each measurement gets this many seconds.
SGEMM_SECONDS=$(awk -v s="$MIN_SECONDS" 'BEGIN { print (s < 1 ? s : 0.4) }')
DIAG_SECONDS=$(awk -v s="$MIN_SECONDS" 'BEGIN { print s / 2 }')

# The PyTorch peer: checked before anything is built, so that a missing
# torch is said in one line rather than as a traceback minutes later.
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    echo "bench/run.sh: $PYTHON cannot import torch: install Debian's python3-torch" \
        "(apt-get install python3-torch) or set PYTHON to a Python that has it" >&2
    exit 2
fi

if [ -z "${BENCH_TRAIN:-}" ]; then
    log=$BUILD/bench-build.log
    mkdir -p "$BUILD"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFATHOM_TESTS=OFF >"$log" 2>&1 ||
        { cat "$log" >&2; exit 1; }
    cmake --build "$BUILD" -j2 --target bench_train >>"$log" 2>&1 || { cat "$log" >&2; exit 1; }
    BENCH_TRAIN=$BUILD/bench/bench_train
    if [ -z "${FANN_TRAIN:-}" ]; then
        targets=$(cmake --build "$BUILD" --target help)
        if grep -q fann_train <<<"$targets"; then
            cmake --build "$BUILD" -j2 --target fann_train >>"$log" 2>&1 || { cat "$log" >&2; exit 1; }
            FANN_TRAIN=$BUILD/bench/fann_train
        else
            echo "FANN not found (Debian: libfann-dev): its column stays empty" >&2
            FANN_TRAIN=none
        fi
    fi
fi
FANN_TRAIN=${FANN_TRAIN:-none}

if [ "$CORETYPE" = auto ]; then
    CORETYPE=$(env -u OPENBLAS_CORETYPE "$BENCH_TRAIN" --blas-kernels) || {
        echo "bench/run.sh: $BENCH_TRAIN cannot say which OpenBLAS kernels to use (--blas-kernels);" \
            "rebuild it, or set BENCH_CORETYPE" >&2
        exit 2
    }
fi
if [ "$CORETYPE" = default ]; then
    unset OPENBLAS_CORETYPE
else
    export OPENBLAS_CORETYPE=$CORETYPE
fi
unset OMP_WAIT_POLICY OPENBLAS_NUM_THREADS OMP_NUM_THREADS
mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"

fathom() { "$BENCH_TRAIN" --min-seconds "$MIN_SECONDS" "$@" | tee -a "$RESULTS" >/dev/null; }
torch() { "$PYTHON" bench/torch_train.py --min-seconds "$MIN_SECONDS" "$@" | tee -a "$RESULTS" >/dev/null; }
fann() {
    [ "$FANN_TRAIN" = none ] && return 0
    "$FANN_TRAIN" --min-seconds "$MIN_SECONDS" "$@" | tee -a "$RESULTS" >/dev/null
}

# One case: REPS rounds of every peer on the same arguments, the order
# reversed every other round so that a drifting load hits all of them.
# Arguments after "--fann" are FANN's (it takes part in the 1-thread pass
# only); after "--bound", those of the case's sgemm bound, measured once per
# round next to fathom, so that the bound sees the same load.
case_run() { # threads label args... [--fann fann-args...] [--bound sgemm-args...]
    local threads=$1 label=$2
    shift 2
    local args=() fann_args=() bound_args=() section=args
    for a in "$@"; do
        case "$a" in
        --fann) section=fann ;;
        --bound) section=bound ;;
        *) case $section in
            args) args+=("$a") ;;
            fann) fann_args+=("$a") ;;
            bound) bound_args+=("$a") ;;
            esac ;;
        esac
    done
    [ "$threads" -eq 1 ] || fann_args=()
    echo "  $label" >&2
    for rep in $(seq 1 "$REPS"); do
        if [ $((rep % 2)) -eq 1 ]; then
            [ ${#bound_args[@]} -eq 0 ] || fathom --sgemm "${bound_args[@]}" --threads "$threads" \
                --min-seconds "$SGEMM_SECONDS"
            fathom "${args[@]}" --threads "$threads"
            torch "${args[@]}" --threads "$threads"
            [ ${#fann_args[@]} -eq 0 ] || fann "${fann_args[@]}"
        else
            [ ${#fann_args[@]} -eq 0 ] || fann "${fann_args[@]}"
            torch "${args[@]}" --threads "$threads"
            fathom "${args[@]}" --threads "$threads"
            [ ${#bound_args[@]} -eq 0 ] || fathom --sgemm "${bound_args[@]}" --threads "$threads" \
                --min-seconds "$SGEMM_SECONDS"
        fi
    done
}

echo "bench_train: $BENCH_TRAIN; fann_train: $FANN_TRAIN; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>};" \
    "$REPS reps of at least $MIN_SECONDS s" >&2
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
start=$SECONDS
big=(--widths "$BIG" --act selu --loss cross_entropy)
small=(--widths "$SMALL" --act tanh --loss mse)
for threads in 1 2; do
    echo "threads $threads:" >&2
    case_run "$threads" "train $BIG selu, batch 128" "${big[@]}" --batch 128 --steps 5 --warmup 5 \
        --fann "${big[@]}" --batch 128 --steps 1 --warmup 1 --bound "${big[@]}" --batch 128 --shapes
    case_run "$threads" "train $BIG selu, batch 32" "${big[@]}" --batch 32 --steps 10 --warmup 10 \
        --fann "${big[@]}" --batch 32 --steps 1 --warmup 1 --bound "${big[@]}" --batch 32 --shapes
    case_run "$threads" "train $SMALL tanh mse, batch 16" "${small[@]}" --batch 16 --steps 100 --warmup 300 \
        --fann "${small[@]}" --batch 16 --steps 100 --warmup 300 --bound "${small[@]}" --batch 16
    case_run "$threads" "infer $BIG, batch 1" "${big[@]}" --infer --batch 1 --steps 100 --warmup 100 \
        --fann "${big[@]}" --infer --batch 1 --steps 100 --warmup 10 --bound "${big[@]}" --batch 1
    case_run "$threads" "infer $BIG, batch 1024" "${big[@]}" --infer --batch 1024 --steps 2 --warmup 1 \
        --fann "${big[@]}" --infer --batch 1024 --steps 1 --warmup 0 --bound "${big[@]}" --batch 1024
    # The probes: one process each (the cold figure is its first probe).
    case_run "$threads" "probe $DEEP tanh, $PROBE_SAMPLES samples" --probe --widths "$DEEP" --act tanh \
        --batch "$PROBE_SAMPLES" --reps 1
    case_run "$threads" "probe $BIG selu, 1024 samples" --probe "${big[@]}" --batch 1024 --reps 3
    echo "  diagnose every step (fathom only)" >&2
    # Calls of fm_train of --steps steps for half of MIN_SECONDS each, without
    # diagnostics, with the library's statistics only, and with the CLI's log.
    fathom --diagnose "${big[@]}" --batch 128 --threads "$threads" --steps 100 --warmup 5 --reps "$REPS" \
        --min-seconds "$DIAG_SECONDS"
    fathom --diagnose "${small[@]}" --batch 16 --threads "$threads" --steps 500 --warmup 100 --reps "$REPS" \
        --min-seconds "$DIAG_SECONDS"
done

# Settings measured once each, to justify the choices above.
echo "once-only setting checks..." >&2
torch "${big[@]}" --batch 128 --threads 2 --steps 20 --omp-active
torch "${big[@]}" --infer --batch 1 --threads 1 --steps 100 --warmup 100 --grad-mode inference_mode
# fathom's backward pass with a separate optimiser step, against the fused one
# of the main table (what fm_train does for plain SGD).
fathom "${big[@]}" --batch 128 --threads 2 --steps 5 --warmup 5 --separate-step
fathom "${big[@]}" --batch 32 --threads 2 --steps 10 --warmup 10 --separate-step
fann "${big[@]}" --batch 128 --steps 1 --warmup 1 --mode batch
fann "${small[@]}" --batch 16 --steps 100 --warmup 300 --mode batch
if [ "$CORETYPE" != default ]; then
    (
        unset OPENBLAS_CORETYPE
        fathom "${big[@]}" --batch 128 --threads 1 --steps 5
        torch "${big[@]}" --batch 128 --threads 1 --steps 5
        fathom --sgemm "${big[@]}" --batch 128 --threads 1 --min-seconds "$SGEMM_SECONDS"
    )
fi
echo "done in $((SECONDS - start)) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg); JSON lines in $RESULTS" >&2

[ "$QUICK" != 1 ] || echo "QUICK=1: a smoke run of tiny steps; its figures and met/missed mean nothing."
"$PYTHON" bench/summarize.py "$RESULTS"
