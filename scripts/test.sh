#!/usr/bin/env bash
# Builds fathom and runs the whole test suite on each build:
#   build/       release build (-O2), the configuration users run
#   build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer, debug
# then builds without MPI (build-nompi/, FATHOM_MPI=OFF) and runs its suite,
# since everything but mpirun must work where no MPI is installed.
# Exits non-zero if any test fails in any of them.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFATHOM_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs"

cmake -S . -B build-nompi -DCMAKE_BUILD_TYPE=Release -DFATHOM_MPI=OFF >/dev/null
cmake --build build-nompi -j"$jobs"
ctest --test-dir build-nompi --output-on-failure -j"$jobs"
