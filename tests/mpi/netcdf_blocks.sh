#!/usr/bin/env bash
# NetCDF grids under mpirun: each process reads only its block of the grid
# (a contiguous range of the outermost dimension, src/io/netcdf.c), and the
# blocks concatenate to the rows of one process reading everything, so K
# processes train to one process's weights within equivalence.sh's tolerance
# (1e-5 relative; the runs differ only in the order of float sums). Grids of
# Debian's ferret-datasets, each with fill values and a modulo longitude axis:
#  - Levitus (depth outermost, 20 levels: blocks of very different row
#    counts, since the deep ocean holds fewer cells), encoded inputs, a
#    validation split, 2 processes; with SALT as an input on the grid and a
#    held-out longitude band, 3 processes;
#  - ETOPO20 (latitude outermost, 2-D, the wrap-around column repeated),
#    2 processes;
#  - COADS (an unlimited time axis outermost, months as an input),
#    3 processes;
#  - a selection that leaves one block without rows stops every process with
#    the rank and the block named.
# The "#random:F:test" selectors keep a few thousand cells of each grid, so
# that the runs stay short; every process still reads its whole block.
# Usage: netcdf_blocks.sh FATHOM MODEL_DIFF MPIRUN TEST_DATA_DIR SCRATCH_DIR
NAME=netcdf_blocks
. "$(dirname "$0")/lib/harness.bash" "$@"

ferret=/usr/share/ferret-vis/data
if [ ! -r "$ferret/levitus_climatology.cdf" ]; then
    echo "ferret-datasets is not installed (scripts/install-deps.sh installs it)" >&2
    exit 1
fi
tol=1e-5

# equal K WHAT ARGS...: one process and K processes train to the same weights.
equal() {
    local k=$1 what=$2
    shift 2
    expect 0 "model written to" -- "$fathom" train "$@" --out "$tmp/$what-1.safetensors"
    expect 0 "$k processes" -- run_mpi "$k" train "$@" --out "$tmp/$what-$k.safetensors"
    same "$tmp/$what-1.safetensors" "$tmp/$what-$k.safetensors" "$tol" "$what, $k processes against 1"
}

net=(--layers 32x3 --act tanh --batch 64 --epochs 2 --seed 5 --quiet)
lev=$ferret/levitus_climatology.cdf
equal 2 levitus --data "$lev#random:0.01:test" --inputs lat:div:90,lon:sincos,depth:log1p --targets TEMP \
    --val-split 0.1 --optimizer adam --lr 0.003 "${net[@]}"
equal 3 levitus-salt --data "$lev#random:0.01:test" --inputs lat:div:90,lon:sincos,depth:log1p,SALT --targets TEMP \
    --split lonband --optimizer sgd --momentum 0.9 --lr 0.02 --batch 37 "${net[@]}"
equal 2 etopo --data "$ferret/etopo20.cdf#random:0.01:test" --inputs lat:div:90,lon:sincos --targets ROSE \
    --val-split 0.1 --optimizer adam --lr 0.003 "${net[@]}"
equal 3 coads --data "$ferret/coads_climatology.cdf#random:0.02:test" --inputs month:sincos:12,lat:div:90,lon:sincos \
    --targets SST --val-split 0.1 --optimizer adam --lr 0.003 "${net[@]}"

# About 4 cells of Levitus, none in the 7 upper levels that rank 0 of 3 reads.
expect nonzero "rank 0: " -- run_mpi 3 train --data "$lev#random:0.000003:test" --inputs lat,lon,depth --targets TEMP \
    --val-split 0 "${net[@]}" --out "$tmp/empty.safetensors"
grep -qF "no rows in the block of process 0 of 3" "$tmp/err" && ok ||
    bad "the message does not name the empty block: $(head -c 400 "$tmp/err")"
[ ! -e "$tmp/empty.safetensors" ] && ok || bad "a model was written by a failed run"

finish
