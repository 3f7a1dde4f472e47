#!/usr/bin/env bash
# Side-by-side training benchmark: fathom (bench/bench_train.c) against PyTorch
# (bench/torch_train.py) on a 784-512-512-512-512-10 SELU network, alternating
# the two, REPS repetitions each, at 1 and 2 threads and batch 128 and 32.
# Prints a table of medians, min-max and the ratio fathom/torch (samples/s).
#
#   bench/run.sh                 # from the repository root; ~3 minutes on 2 cores
#   REPS=3 bench/run.sh          # fewer repetitions
#
# Environment:
#   REPS=5              repetitions per implementation and configuration
#   BENCH_CORETYPE=SkylakeX
#                       OPENBLAS_CORETYPE given to both peers. OpenBLAS 0.3.21
#                       does not recognise this CPU and falls back to its
#                       Prescott (SSE3) kernels; "default" leaves it unset.
#   BENCH_TRAIN=PATH    a prebuilt bench_train (otherwise built in build-bench/)
#   RESULTS=PATH        where the JSON lines go (default build-bench/bench-results.jsonl)
#   PYTHON=/usr/bin/python3   the Python that has torch
#
# Both peers get the same thread count T for everything: fathom calls
# openblas_set_num_threads(T); PyTorch gets OPENBLAS_NUM_THREADS=T,
# torch.set_num_threads(T) and OMP_WAIT_POLICY=PASSIVE (its best setting here;
# the run also measures it once without). This is a benchmark: nothing here
# asserts a time.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-5}
CORETYPE=${BENCH_CORETYPE:-SkylakeX}
PYTHON=${PYTHON:-/usr/bin/python3}
BUILD=build-bench
RESULTS=${RESULTS:-$BUILD/bench-results.jsonl}
WIDTHS=784,512,512,512,512,10

if [ -z "${BENCH_TRAIN:-}" ]; then
    log=$BUILD/bench-build.log
    mkdir -p "$BUILD"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFATHOM_TESTS=OFF >"$log" 2>&1 ||
        { cat "$log" >&2; exit 1; }
    cmake --build "$BUILD" -j2 --target bench_train >>"$log" 2>&1 || { cat "$log" >&2; exit 1; }
    BENCH_TRAIN=$BUILD/bench/bench_train
fi

if [ "$CORETYPE" = default ]; then
    unset OPENBLAS_CORETYPE
else
    export OPENBLAS_CORETYPE=$CORETYPE
fi
unset OMP_WAIT_POLICY OPENBLAS_NUM_THREADS OMP_NUM_THREADS
mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"

steps_for() { # about one second of work per timed repetition
    if [ "$1" -ge 128 ]; then echo 100; else echo 300; fi
}
fathom() { "$BENCH_TRAIN" --widths "$WIDTHS" "$@" | tee -a "$RESULTS" >/dev/null; }
torch() { "$PYTHON" bench/torch_train.py --widths "$WIDTHS" "$@" | tee -a "$RESULTS" >/dev/null; }

echo "bench_train: $BENCH_TRAIN; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>}; $REPS reps" >&2
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
start=$SECONDS
for threads in 1 2; do
    for batch in 128 32; do
        steps=$(steps_for "$batch")
        echo "threads $threads, batch $batch ($steps steps)..." >&2
        fathom --sgemm --batch "$batch" --threads "$threads" --steps 30
        for rep in $(seq 1 "$REPS"); do
            # Alternate which peer goes first so a drifting load hits both.
            if [ $((rep % 2)) -eq 1 ]; then
                fathom --batch "$batch" --threads "$threads" --steps "$steps"
                torch --batch "$batch" --threads "$threads" --steps "$steps"
            else
                torch --batch "$batch" --threads "$threads" --steps "$steps"
                fathom --batch "$batch" --threads "$threads" --steps "$steps"
            fi
        done
    done
done

# Settings measured once each, to justify the choices above.
echo "PyTorch without OMP_WAIT_POLICY=PASSIVE (2 threads)..." >&2
torch --batch 128 --threads 2 --steps 50 --omp-active
if [ "$CORETYPE" != default ]; then
    echo "both with OpenBLAS's own CPU detection (1 thread)..." >&2
    (
        unset OPENBLAS_CORETYPE
        fathom --batch 128 --threads 1 --steps 30
        torch --batch 128 --threads 1 --steps 30
        fathom --sgemm --batch 128 --threads 1 --steps 10
    )
fi
echo "done in $((SECONDS - start)) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg); JSON lines in $RESULTS" >&2

"$PYTHON" bench/summarize.py "$RESULTS"
