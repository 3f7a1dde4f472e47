#!/usr/bin/env python3
"""Check that a fathom model file loads into PyTorch with plain json + numpy.

Run by hand, not in CI (it needs torch):

    python3 tests/reference/check_model_load.py MODEL.safetensors X.npy Y.npy

X.npy holds raw inputs [rows][n_in]; Y.npy the outputs fathom predicted for
them (standardisation applied and undone as `fathom predict` does). Exits 1 when
the PyTorch outputs differ by more than the tolerance. load_fathom and
activation below are the snippet of docs/formats.md, kept identical.
"""
import json
import struct
import sys

import numpy as np
import torch
from torch import nn

# --- begin docs/formats.md snippet ---
SELU_ALPHA, SELU_LAMBDA = 1.6732632423543772, 1.0507009873554805


class SELU(nn.Module):
    """SELU with a non-default alpha or lambda (nn.SELU has them fixed)."""

    def __init__(self, alpha, lam):
        super().__init__()
        self.alpha, self.lam = alpha, lam

    def forward(self, z):
        return self.lam * torch.where(z > 0, z, self.alpha * torch.expm1(z))


def activation(spec):
    """torch module for a fathom activation text such as "leaky_relu:0.2"."""
    name, _, params = spec.partition(":")
    p = [float(v) for v in params.split(",")] if params else []
    if name == "selu" and p:
        return SELU(p[0], p[1] if len(p) > 1 else SELU_LAMBDA)
    modules = {"linear": nn.Identity, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU,
               "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "selu": nn.SELU, "gelu": nn.GELU,
               "silu": nn.SiLU, "softplus": nn.Softplus, "softmax": lambda: nn.Softmax(dim=-1)}
    return modules[name](*p)


def load_fathom(path):
    """(nn.Sequential, dict of tensors by file name, model metadata dict)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__")
    assert meta["format"] == "fathom" and meta["format_version"] == "1"
    tensors = {name: torch.from_numpy(np.frombuffer(data, "<f4", int(np.prod(t["shape"])),
                                                    t["data_offsets"][0]).reshape(t["shape"]).copy())
               for name, t in header.items()}
    model = json.loads(meta["model"])
    layers, n_in = [], model["n_in"]
    for i, layer in enumerate(model["layers"]):
        linear = nn.Linear(n_in, layer["n_out"])
        with torch.no_grad():
            linear.weight.copy_(tensors[f"layers.{i}.weight"])
            linear.bias.copy_(tensors[f"layers.{i}.bias"])
        layers += [linear, activation(layer["activation"])]
        n_in = layer["n_out"]
    return nn.Sequential(*layers).eval(), tensors, model
# --- end docs/formats.md snippet ---


def predict(path, x):
    """Raw outputs for raw inputs, and the target standardiser (or None)."""
    net, t, _ = load_fathom(path)
    x = torch.from_numpy(x.astype(np.float32))
    if "input.mean" in t:
        x = (x - t["input.mean"]) / t["input.std"]
    with torch.no_grad():
        y = net(x)
    target = None
    if "target.mean" in t:
        y = y * t["target.std"] + t["target.mean"]
        target = (t["target.mean"].numpy().astype(np.float64), t["target.std"].numpy().astype(np.float64))
    return y.numpy(), target


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    model_path, x_path, y_path = argv[1:]
    expected = np.load(y_path).astype(np.float64)
    got, target = predict(model_path, np.load(x_path))
    got = got.astype(np.float64)
    if got.shape != expected.shape:
        print(f"FAIL {model_path}: shape {got.shape}, expected {expected.shape}")
        return 1
    if target is not None:  # compare in the network's (standardised) output units
        mean, std = target
        got, expected = (got - mean) / std, (expected - mean) / std
    # float32 through a deep net, BLAS vs torch summation order: relative 1e-4.
    err = np.max(np.abs(got - expected) / np.maximum(np.abs(expected), 1.0))
    status = "ok" if err < 1e-4 else "FAIL"
    print(f"{status} {model_path}: max relative difference {err:.3g} over {expected.size} outputs")
    return 0 if status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
