#!/usr/bin/env bash
# Data-parallel scaling of fathom train (docs/scaling.md):
#  1. samples/s of `fathom train` with 1 and 2 MPI processes on two networks:
#     784-512x4-10 SELU on Fashion-MNIST (12,000 training images: the
#     random:0.2 part), and 8-64-64-1 tanh on 50,000 synthetic rows;
#  2. the time of one MPI_Allreduce of each network's gradient block
#     (bench/mpi_allreduce.c) with 2 processes;
#  3. the paper model for K = 2..256 processes at 10 and 100 Gbit/s
#     (docs/scaling.md gives the formula and assumptions).
# Usage: bench/mpi_scaling.sh [BUILD_DIR]    (a build with MPI; default build)
# Environment: EPOCHS (default 2), BATCH (default 256). One BLAS thread per
# process, so that 2 processes use the 2 cores one process could.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
fathom=$build/fathom
epochs=${EPOCHS:-2}
batch=${BATCH:-256}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader OPENBLAS_NUM_THREADS=1

fmnist=/usr/share/datasets/fashion-mnist
# A small regression set: 8 inputs, a smooth target.
awk 'BEGIN { srand(1); print "x1,x2,x3,x4,x5,x6,x7,x8,y";
      for (r = 0; r < 50000; r++) { s = 0; line = "";
        for (i = 1; i <= 8; i++) { v = 2 * rand() - 1; s += sin(i * v); line = line v "," }
        print line s } }' >"$work/small.csv"

declare -A net_args net_params
net_args[selu]="--data $fmnist/train-images-idx3-ubyte.gz#random:0.2:test --target-data $fmnist/train-labels-idx1-ubyte.gz --loss cross_entropy --layers 512x4 --act selu --optimizer adam --val-split 0"
net_params[selu]=$((785 * 512 + 3 * 513 * 512 + 513 * 10))
net_args[small]="--data $work/small.csv --targets y --layers 64,64 --act tanh --optimizer adam --val-split 0"
net_params[small]=$((9 * 64 + 65 * 64 + 65))

# samples/s of the last epoch, as rank 0 prints it
rate() { grep -Eo '[0-9]+ samples/s' | tail -1 | cut -d' ' -f1; }

mpicc -O2 bench/mpi_allreduce.c -o "$work/mpi_allreduce"
printf '%-8s %10s %12s %12s %10s %14s\n' net params "1 rank/s" "2 ranks/s" speedup "allreduce us"
for net in small selu; do
    read -r -a a <<<"${net_args[$net]}"
    one=$("$fathom" train "${a[@]}" --batch "$batch" --epochs "$epochs" --out "$work/m.safetensors" 2>&1 | rate)
    two=$(mpirun --oversubscribe -np 2 "$fathom" train "${a[@]}" --batch "$batch" --epochs "$epochs" \
        --out "$work/m.safetensors" 2>&1 | rate)
    ar=$(mpirun --oversubscribe -np 2 "$work/mpi_allreduce" "${net_params[$net]}" 200 | awk '{ print $(NF-1) }')
    printf '%-8s %10d %12d %12d %10.2f %14s\n' "$net" "${net_params[$net]}" "$one" "$two" \
        "$(awk -v a="$one" -v b="$two" 'BEGIN { print b / a }')" "$ar"
    echo "$net ${net_params[$net]} $one $two $ar" >>"$work/measured.txt"
done

# The paper model: per step, compute 6 P B / (K R) seconds (R the GEMM rate
# measured with 1 process: 6 P flops per sample, forward 2 P and backward 4 P)
# against a ring allreduce of 4 P bytes: 2 (K-1)/K 4P / bandwidth + 2 (K-1) alpha.
echo
echo "predicted efficiency t_compute / (t_compute + t_allreduce), global batch $batch, no overlap"
awk -v batch="$batch" '
{ name[NR] = $1; P[NR] = $2; R[NR] = 6 * $2 * $3 }
END {
    split("10 100", gbit, " "); split("5e-6 1e-6", alpha, " ")
    for (n = 1; n <= NR; n++) {
        printf "%s (P = %d, R = %.3g GFLOP/s per rank)\n", name[n], P[n], R[n] / 1e9
        printf "   K"; for (g = 1; g <= 2; g++) printf "  %3d Gbit/s", gbit[g]; printf "\n"
        for (K = 2; K <= 256; K *= 2) {
            printf "%4d", K
            for (g = 1; g <= 2; g++) {
                tc = 6 * P[n] * batch / (K * R[n])
                ta = 2 * (K - 1) / K * 4 * P[n] / (gbit[g] * 1e9 / 8) + 2 * (K - 1) * alpha[g]
                printf "  %10.3f", tc / (tc + ta)
            }
            printf "\n"
        }
    }
}' "$work/measured.txt"
