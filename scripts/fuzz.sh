#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang (ASan + UBSan) in
# build-fuzz/ and runs each for FUZZ_SECONDS (default 45) from its committed
# seed corpus. Exits non-zero on any finding (crash, sanitizer report, leak,
# timeout, or a memory blow-up), leaving the input in build-fuzz/artifacts/NAME/.
# A finding becomes a regression test: copy the input to
# tests/fuzz/regressions/NAME/ (fuzz_replay_NAME runs it in every ctest).
#   FUZZ_SECONDS=60 scripts/fuzz.sh [NAME...]
# FUZZ_SEED=N makes a run reproducible: libFuzzer draws its mutations from
# seed N, starts from the committed corpus alone (the work corpus of an
# earlier run is discarded), does not reload its corpus folder on a timer, and
# runs without address-space randomisation (setarch -R: pointer comparisons
# feed libFuzzer's mutations), and the harnesses write their inputs to a path
# relative to the checkout (FATHOM_FUZZ_SCRATCH); so the same sources explore
# the same inputs in the same order, and a longer run covers a shorter one's.
# CI runs a fixed seed, so its verdict is one a session reproduces before
# submitting; without FUZZ_SEED each run explores from a new seed and keeps
# what earlier runs found (the way to hunt for new findings).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-45}
jobs=$(nproc 2>/dev/null || echo 2)
build=build-fuzz
seed=${FUZZ_SEED:-0}
for setting in "FUZZ_SECONDS=$seconds" "FUZZ_SEED=$seed"; do
    if ! [[ ${setting#*=} =~ ^[0-9]{1,9}$ ]]; then
        echo "scripts/fuzz.sh: $setting must be a whole number of at most 9 digits" >&2
        exit 2
    fi
done
seed=$((10#$seed))
if [ $((10#$seconds)) -eq 0 ]; then
    echo "scripts/fuzz.sh: FUZZ_SECONDS=0 would fuzz without end (libFuzzer's -max_total_time=0)" >&2
    exit 2
fi

CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFATHOM_FUZZ=ON -DFATHOM_TESTS=OFF >/dev/null
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
    harnesses=(model_load csv npy idx spec netcdf segy)
fi
targets=()
for name in "${harnesses[@]}"; do targets+=(--target "fuzz_$name"); done
cmake --build "$build" -j"$jobs" "${targets[@]}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OPENBLAS_NUM_THREADS=1
label=random
norandom=()
if [ "$seed" -ne 0 ]; then
    label=$seed
    if setarch "$(uname -m)" -R true 2>/dev/null; then
        norandom=(setarch "$(uname -m)" -R)
    else
        echo "scripts/fuzz.sh: setarch -R is refused here: seed $seed will not explore the same inputs twice" >&2
    fi
fi
mkdir -p "$build/scratch"
status=0
for name in "${harnesses[@]}"; do
    work="$build/corpus/$name"
    artifacts="$build/artifacts/$name/"
    if [ "$seed" -ne 0 ]; then
        rm -rf "$work"
    fi
    mkdir -p "$work" "$artifacts"
    cp -n tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null || true
    [ -d tests/fuzz/regressions/"$name" ] && cp -n tests/fuzz/regressions/"$name"/* "$work"/ 2>/dev/null || true
    echo "fuzzing $name for ${seconds}s (seed $label)"
    if ! FATHOM_FUZZ_SCRATCH="$build/scratch/$name-input" "${norandom[@]}" "$build/tests/fuzz/fuzz_$name" "$work" \
        -seed="$seed" -reload=$((seed == 0 ? 1 : 0)) -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=1024 -artifact_prefix="$artifacts" -print_final_stats=1 >"$build/fuzz_$name.log" 2>&1; then
        echo "FINDING in $name: see $build/fuzz_$name.log and $artifacts" >&2
        grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$build/fuzz_$name.log" | head -20 >&2 || true
        status=1
    else
        grep -E "stat::number_of_executed_units|stat::new_units_added" "$build/fuzz_$name.log" | tr '\n' ' '
        echo
    fi
done
exit $status
