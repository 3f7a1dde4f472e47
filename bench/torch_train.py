#!/usr/bin/python3
"""PyTorch twin of bench/bench_train.c: training throughput of a dense network.

The same network (nn.Linear + nn.SELU hidden layers, LeCun-normal weights, zero
biases, a last nn.Linear whose logits go to nn.CrossEntropyLoss), the same
random float32 data and labels in memory, a shuffled batch gathered each step,
plain SGD lr 0.01, and the same clock (CLOCK_MONOTONIC). Each repetition prints
one JSON line. Run it with Debian's /usr/bin/python3 (torch 1.13).

PyTorch's settings (its best on this machine; see docs/benchmarks.md):
  - OPENBLAS_NUM_THREADS = --threads, set before torch is imported (this torch
    calls the system OpenBLAS for GEMMs and does not size its thread pool);
  - torch.set_num_threads(--threads) for its own OpenMP element-wise kernels,
    one inter-op thread;
  - OMP_WAIT_POLICY=PASSIVE unless --omp-active is given (set before import;
    with spinning OpenMP threads the OpenBLAS threads lose their cores);
  - optimizer.zero_grad(set_to_none=True).
"""
import argparse
import json
import os
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", default="784,512,512,512,512,10")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--samples", type=int, default=8192)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--omp-active", action="store_true",
                   help="leave OMP_WAIT_POLICY unset (PyTorch's out-of-the-box behaviour)")
    return p.parse_args()


def openblas_core():
    """Kernel set of the OpenBLAS this process loaded (torch calls it for GEMMs)."""
    import ctypes
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "unknown"


def main():
    args = parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    if len(widths) < 2 or args.batch <= 0 or args.steps <= 0 or args.samples < args.batch:
        sys.exit("torch_train: bad arguments")
    # Must precede the import of torch: libgomp and OpenBLAS read them at load time.
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    if args.omp_active:
        os.environ.pop("OMP_WAIT_POLICY", None)
    else:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(args.seed)

    layers = []
    for i in range(len(widths) - 1):
        lin = nn.Linear(widths[i], widths[i + 1])
        with torch.no_grad():
            lin.weight.normal_(0.0, (1.0 / widths[i]) ** 0.5)  # LeCun normal
            lin.bias.zero_()
        layers.append(lin)
        if i < len(widths) - 2:
            layers.append(nn.SELU())
    model = nn.Sequential(*layers)
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    n, b = args.samples, args.batch
    x = torch.rand(n, widths[0], dtype=torch.float32) * 2 - 1
    y = torch.randint(0, widths[-1], (n,), dtype=torch.int64)
    order = torch.randperm(n)
    pos = n  # forces a shuffle on the first batch

    n_layers = len(widths) - 1
    flops = sum(2.0 * b * widths[i] * widths[i + 1] * (2 if i == 0 else 3) for i in range(n_layers))
    clock = lambda: time.clock_gettime(time.CLOCK_MONOTONIC)

    for rep in range(-1, args.reps):
        k = args.warmup if rep < 0 else args.steps
        t_gather = t_fwd = t_bwd = t_opt = 0.0
        t_start = clock()
        for _ in range(k):
            t0 = clock()
            if pos + b > n:
                order = torch.randperm(n)
                pos = 0
            idx = order[pos:pos + b]
            bx = x.index_select(0, idx)
            by = y.index_select(0, idx)
            pos += b
            t1 = clock()
            loss = loss_fn(model(bx), by)
            t2 = clock()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t3 = clock()
            opt.step()
            t4 = clock()
            t_gather += t1 - t0
            t_fwd += t2 - t1
            t_bwd += t3 - t2
            t_opt += t4 - t3
        elapsed = clock() - t_start
        if rep < 0:
            continue
        s = args.steps
        print(json.dumps({
            "impl": "torch", "widths": widths, "batch": b, "threads": args.threads, "steps": s, "rep": rep,
            "seconds": round(elapsed, 6), "samples_per_s": round(b * s / elapsed, 1),
            "step_ms": round(1e3 * elapsed / s, 4), "gflops": round(flops * s / elapsed * 1e-9, 3),
            "ms_gather": round(1e3 * t_gather / s, 4), "ms_forward_loss": round(1e3 * t_fwd / s, 4),
            "ms_backward": round(1e3 * t_bwd / s, 4), "ms_optim": round(1e3 * t_opt / s, 4),
            "loss": round(loss.item(), 5), "torch": torch.__version__,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
            "openblas_core": openblas_core(),
        }), flush=True)


if __name__ == "__main__":
    main()
