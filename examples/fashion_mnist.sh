#!/usr/bin/env bash
# Fashion-MNIST (Debian's dataset-fashion-mnist): train a 784-256-128-10 ReLU
# network on the 60,000 training images, then evaluate it on the 10,000 test
# images it never saw. About 15 seconds on two cores.
# Usage: examples/fashion_mnist.sh [FATHOM_BINARY] [MODEL_OUT]
set -euo pipefail
fathom=${1:-build/fathom}
model=${2:-fashion-mnist.safetensors}
data=/usr/share/datasets/fashion-mnist
"$fathom" train --data $data/train-images-idx3-ubyte.gz --target-data $data/train-labels-idx1-ubyte.gz \
    --loss cross_entropy --layers 256,128 --act relu --init auto \
    --optimizer adam --lr 0.001 --batch 128 --epochs 8 --seed 1 --out "$model"
"$fathom" eval --model "$model" --data $data/t10k-images-idx3-ubyte.gz --target-data $data/t10k-labels-idx1-ubyte.gz
