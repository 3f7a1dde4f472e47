#!/usr/bin/env bash
# Installs the Debian 12 packages fathom needs to build, test and run its examples.
set -euo pipefail
packages=(
    build-essential cmake pkg-config
    libopenblas-dev libcjson-dev zlib1g-dev   # the library: BLAS, JSON, gzip
    libnetcdf-dev libsegyio-dev               # geophysical data: NetCDF grids, SEG-Y seismic
    libcmocka-dev                             # unit tests
    libfann-dev                               # benchmark peer (bench/fann_train.c)
    libopenmpi-dev openmpi-bin                # data-parallel training under mpirun, and its tests
    libxml2-utils                             # xmllint: the report test checks every SVG
    clang libclang-rt-14-dev                  # libFuzzer harnesses
    valgrind cppcheck clang-tidy              # memcheck and static analysis in the test suite
    chromium                                  # renders the HTML report in a test
    dataset-fashion-mnist ferret-datasets     # real data: tests, the demo and the examples
)
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
