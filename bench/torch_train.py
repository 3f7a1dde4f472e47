#!/usr/bin/python3
"""PyTorch twin of bench/bench_train.c: the same cases, one JSON line each.

Modes (as bench_train's):
  train (default)  nn.Linear layers with the --act activation between them
                   (LeCun-normal weights, zero biases), a last nn.Linear whose
                   logits go to nn.CrossEntropyLoss (or nn.MSELoss with --loss
                   mse), the same random float32 data in memory, a shuffled
                   batch gathered each step, plain SGD lr 0.01;
  --infer          model.eval() and torch.no_grad() (or torch.inference_mode()
                   with --grad-mode inference_mode): softmax(model(x)) for a
                   classifier, as fathom's forward computes the softmax too;
                   each call timed; median microseconds per call and samples/s;
  --probe          fathom's probe done with PyTorch: build the network (every
                   layer with --act, as `fathom probe`), then forward N(0, 1)
                   inputs keeping each layer's z, backward from an N(0, 1)
                   output gradient, and the measured per-layer statistics
                   (variance of weights, z, a and dL/dz, mean of z and a,
                   saturated and inactive shares, weight-gradient norms). The
                   mean-field theory columns, scalar recursions, are left out.
Every line carries the process's peak resident memory (resource.getrusage).
The clock is CLOCK_MONOTONIC, as in bench_train. Run it with Debian's
/usr/bin/python3 (torch 1.13).

PyTorch's settings (its best on this machine; see docs/benchmarks.md):
  - OPENBLAS_NUM_THREADS = --threads, set before torch is imported (this torch
    calls the system OpenBLAS for GEMMs and does not size its thread pool);
  - torch.set_num_threads(--threads) for its own OpenMP element-wise kernels,
    one inter-op thread;
  - OMP_WAIT_POLICY=PASSIVE unless --omp-active is given (set before import;
    with spinning OpenMP threads the OpenBLAS threads lose their cores);
  - optimizer.zero_grad(set_to_none=True); model.eval() and no_grad for inference.
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time


def parse_widths(text):
    """'784,512x4,10' -> [784, 512, 512, 512, 512, 10]."""
    widths = []
    for item in text.split(","):
        width, _, count = item.partition("x")
        widths += [int(width)] * (int(count) if count else 1)
    return widths


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", default="784,512x4,10", help="n_in,...,n_out; WxK for K layers of width W")
    p.add_argument("--act", default="selu", choices=["selu", "tanh", "relu", "elu", "sigmoid", "gelu", "silu"])
    p.add_argument("--loss", default="cross_entropy", choices=["cross_entropy", "ce", "mse"])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=100, help="timed steps (calls, probes) per repetition, at least")
    p.add_argument("--min-seconds", type=float, default=0.0, help="and at least this long")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--samples", type=int, default=8192)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--infer", action="store_true")
    p.add_argument("--probe", action="store_true")
    p.add_argument("--grad-mode", default="no_grad", choices=["no_grad", "inference_mode"],
                   help="the context of --infer")
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


def peak_rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


clock = lambda: time.clock_gettime(time.CLOCK_MONOTONIC)


class Bench:
    def __init__(self, args, torch, nn):
        self.args, self.torch, self.nn = args, torch, nn
        self.widths = parse_widths(args.widths)
        self.classifier = args.loss != "mse"
        self.act_cls = {"selu": nn.SELU, "tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "sigmoid": nn.Sigmoid,
                        "gelu": nn.GELU, "silu": nn.SiLU}[args.act]

    def head(self, mode):
        a = self.args
        return {"impl": "torch", "mode": mode, "widths": self.widths, "act": a.act,
                "loss": "mse" if not self.classifier else "cross_entropy", "batch": a.batch, "threads": a.threads}

    def tail(self, record):
        record.update({"peak_rss_mb": peak_rss_mb(), "torch": self.torch.__version__,
                       "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""), "openblas_core": openblas_core()})
        print(json.dumps(record), flush=True)

    def linears(self, act_on_last=False):
        """nn.Linear layers (LeCun normal, zero bias) with the activation between them."""
        nn, w = self.nn, self.widths
        layers = []
        for i in range(len(w) - 1):
            lin = nn.Linear(w[i], w[i + 1])
            with self.torch.no_grad():
                lin.weight.normal_(0.0, (1.0 / w[i]) ** 0.5)
                lin.bias.zero_()
            layers.append(lin)
            if i < len(w) - 2 or act_on_last:
                layers.append(self.act_cls())
        return layers

    def data(self):
        """Inputs U(-1, 1); class labels, or the same smooth function as bench_train."""
        torch, n, w = self.torch, self.args.samples, self.widths
        x = torch.rand(n, w[0], dtype=torch.float32) * 2 - 1
        if self.classifier:
            y = torch.randint(0, w[-1], (n,), dtype=torch.int64)
        else:
            cols = torch.arange(w[-1])
            y = torch.sin(3 * x[:, cols % w[0]]) * x[:, (cols + 1) % w[0]]
        return x, y

    def train(self):
        torch, nn, a = self.torch, self.nn, self.args
        model = nn.Sequential(*self.linears())
        model.train()
        loss_fn = nn.CrossEntropyLoss() if self.classifier else nn.MSELoss()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x, y = self.data()
        n, b, w = a.samples, a.batch, self.widths
        order = torch.randperm(n)
        pos = n  # forces a shuffle on the first batch
        flops = sum(2.0 * b * w[i] * w[i + 1] * (2 if i == 0 else 3) for i in range(len(w) - 1))
        for rep in range(-1, a.reps):
            k = a.warmup if rep < 0 else a.steps
            min_s = 0.0 if rep < 0 else a.min_seconds
            t_gather = t_fwd = t_bwd = t_opt = 0.0
            t_start = t_end = clock()
            s = 0
            while s < k or t_end - t_start < min_s:
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
                t_end = t4
                s += 1
            if rep < 0:
                continue
            elapsed = t_end - t_start
            r = self.head("train")
            r.update({"steps": s, "rep": rep, "seconds": round(elapsed, 6),
                      "samples_per_s": round(b * s / elapsed, 1), "step_ms": round(1e3 * elapsed / s, 5),
                      "gflops": round(flops * s / elapsed * 1e-9, 3), "ms_gather": round(1e3 * t_gather / s, 5),
                      "ms_forward_loss": round(1e3 * t_fwd / s, 5), "ms_backward": round(1e3 * t_bwd / s, 5),
                      "ms_optim": round(1e3 * t_opt / s, 5), "loss_value": round(loss.item(), 5),
                      "data_mb": round((x.numel() * 4 + y.numel() * y.element_size()) / 1048576.0, 1)})
            self.tail(r)

    def infer(self):
        torch, nn, a = self.torch, self.nn, self.args
        model = nn.Sequential(*self.linears())
        model.eval()
        x, _ = self.data()
        n, b = a.samples, a.batch
        context = torch.inference_mode if a.grad_mode == "inference_mode" else torch.no_grad
        # Consecutive calls read different samples, as a server's would; the
        # slice is taken outside the timed call (fathom's is a pointer).
        batches = [x[p:p + b] for p in range(0, n - b + 1, b)]
        i = 0
        with context():
            for rep in range(-1, a.reps):
                k = a.warmup if rep < 0 else a.steps
                min_s = 0.0 if rep < 0 else a.min_seconds
                times = []
                t_start = t_end = clock()
                while len(times) < k or t_end - t_start < min_s:
                    bx = batches[i]
                    i = (i + 1) % len(batches)
                    t0 = clock()
                    out = model(bx)
                    if self.classifier:
                        out = torch.softmax(out, dim=1)
                    t_end = clock()
                    times.append(t_end - t0)
                if rep < 0:
                    continue
                elapsed = t_end - t_start
                q = statistics.quantiles(times, n=10) if len(times) > 1 else times * 9
                r = self.head("infer")
                r.update({"calls": len(times), "rep": rep, "seconds": round(elapsed, 6),
                          "samples_per_s": round(b * len(times) / elapsed, 1),
                          "us_per_call": round(1e6 * statistics.median(times), 3),
                          "us_per_call_mean": round(1e6 * elapsed / len(times), 3),
                          "us_per_call_p10": round(1e6 * q[0], 3), "us_per_call_p90": round(1e6 * q[-1], 3),
                          "grad_mode": a.grad_mode})
                self.tail(r)

    def probe_once(self, linears, act, x, grad_out):
        """Forward keeping z, backward from grad_out, measured statistics per layer."""
        torch = self.torch
        for lin in linears:
            lin.weight.grad = None
            lin.bias.grad = None
        zs, acts = [], []
        h = x
        for lin in linears:
            z = lin(h)
            z.retain_grad()
            h = act(z)
            zs.append(z)
            acts.append(h)
        zs[-1].backward(grad_out)
        stats = []
        with torch.no_grad():
            for lin, z, h in zip(linears, zs, acts):
                s = {"var_w": lin.weight.var(unbiased=False), "mean_z": z.mean(), "var_z": z.var(unbiased=False),
                     "mean_a": h.mean(), "var_a": h.var(unbiased=False), "var_delta": z.grad.var(unbiased=False),
                     "grad_w_norm": lin.weight.grad.norm()}
                if self.args.act == "tanh":  # |1 - tanh^2| < 1% of its maximum
                    s["saturated"] = (h.abs() > 0.99 ** 0.5).float().mean()
                elif self.args.act in ("selu", "elu"):  # (lambda) alpha e^z < 1% of the maximum slope
                    alpha = 1.6732632423543772 if self.args.act == "selu" else 1.0
                    s["saturated"] = (z < math.log(0.01 / alpha)).float().mean()
                    s["inactive"] = (z < 0).all(dim=0).float().mean()
                stats.append(s)
            return [{k: float(v) for k, v in s.items()} for s in stats]

    def probe(self):
        torch, a = self.torch, self.args
        w = self.widths
        x = torch.randn(a.batch, w[0])
        grad_out = torch.randn(a.batch, w[-1])
        t0 = clock()
        layers = self.linears(act_on_last=True)
        linears = [m for m in layers if isinstance(m, self.nn.Linear)]
        act = self.act_cls()
        t1 = clock()
        stats = self.probe_once(linears, act, x, grad_out)
        t2 = clock()
        warm = []
        for _ in range(a.reps):
            ts = clock()
            stats = self.probe_once(linears, act, x, grad_out)
            warm.append(clock() - ts)
        r = self.head("probe")
        r.update({"create_s": round(t1 - t0, 6), "first_probe_s": round(t2 - t1, 6), "cold_s": round(t2 - t0, 6),
                  "probe_s": round(statistics.median(warm), 6), "probe_s_min": round(min(warm), 6),
                  "probe_s_max": round(max(warm), 6), "warm_reps": a.reps,
                  "var_z_first": stats[0]["var_z"], "var_z_last": stats[-1]["var_z"]})
        self.tail(r)


def main():
    args = parse_args()
    widths = parse_widths(args.widths)
    if len(widths) < 2 or args.batch <= 0 or args.steps <= 0 or args.reps <= 0 or (
            not args.probe and args.samples < args.batch):
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
    bench = Bench(args, torch, nn)
    if args.probe:
        bench.probe()
    elif args.infer:
        bench.infer()
    else:
        bench.train()


if __name__ == "__main__":
    main()
