#!/usr/bin/python3
"""PyTorch twin of fathom: writes the reference fixtures of tests/test_reference.c.

Run with Debian's interpreter (it has python3-torch and python3-numpy):

    /usr/bin/python3 tests/reference/make_fixtures.py

It rewrites tests/reference/fixtures/ from scratch: one folder per case with
float32 NPY files (2-D, C order, version 1.0) and the manifest cases.txt.
See tests/reference/README.md for the layout and the tolerances.

Every value is computed in float64 by PyTorch from inputs and parameters that are
exactly representable in float32, then rounded once to float32 when saved: the
fixtures are the exact answers to float32 precision, not one float32 rounding
path.  The same pipeline is then run in float32 and must agree with the float64
answers to a tenth of the C test's tolerance, so that a correct float32
implementation (fathom) passes with margin.  Each case also draws its data again
(next attempt of its seed) until it is well conditioned: no pre-activation of a
kinked activation within 1e-3 of the kink, every ReLU unit alive on some sample
and off on another, both Huber regimes present, gradient clipping active, and no
gradient element so close to zero that float32 rounding could flip Adam's step.
"""

import math
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "fixtures")

# The C test's tolerance, |c - t| <= ATOL + RTOL |t| (kept in step with
# tests/test_reference.c); the float32 twin must stay within SAFETY of it.
ATOL, RTOL = 1e-5, 1e-4
ADAM_ATOL, ADAM_RTOL = 5e-5, 1e-4
SAFETY = 0.1

KINK_MARGIN = 1e-3      # |z| of relu/leaky_relu/elu/selu layers, |a - y| - delta for Huber
STEPS = 3

# name, n_in, batch, loss spec, [(width, activation spec)], target kind
CASES = [
    dict(name="mse_tanh_relu", n_in=4, batch=6, loss="mse",
         layers=[(6, "tanh"), (5, "relu"), (3, "linear")], targets="normal"),
    dict(name="huber_leaky_elu_selu", n_in=5, batch=7, loss="huber",
         layers=[(7, "leaky_relu:0.1"), (4, "elu"), (6, "selu"), (3, "linear")],
         targets="wide"),
    dict(name="huber05_gelu_silu_softplus", n_in=3, batch=5, loss="huber:0.5",
         layers=[(5, "gelu"), (6, "silu"), (4, "softplus"), (4, "linear")],
         targets="wide"),
    dict(name="ce_relu_selu", n_in=6, batch=8, loss="cross_entropy",
         layers=[(7, "relu"), (5, "selu"), (4, "softmax")], targets="classes"),
    dict(name="bce_sigmoid_gelu", n_in=4, batch=5, loss="bce",
         layers=[(5, "sigmoid"), (6, "gelu"), (3, "sigmoid")], targets="probabilities"),
    dict(name="mse_deep6_tanh_out", n_in=5, batch=6, loss="mse",
         layers=[(6, "silu"), (5, "elu"), (7, "leaky_relu:0.1"), (4, "softplus"),
                 (6, "sigmoid"), (3, "tanh")], targets="bounded"),
    dict(name="huber_params_elu05_leaky", n_in=4, batch=6, loss="huber",
         layers=[(5, "elu:0.5"), (6, "leaky_relu"), (3, "relu"), (3, "softplus")],
         targets="positive", softplus_beyond_threshold=True),
    dict(name="mse_sine", n_in=3, batch=6, loss="mse",
         layers=[(5, "sine:1.5"), (6, "sine:3"), (2, "linear")], targets="normal"),
]

# name, kind, settings (PyTorch's keyword arguments), clip max_norm (0: none)
OPTIMISERS = [
    ("sgd", "sgd", dict(lr=0.1), 0.0),
    ("sgd_momentum", "sgd", dict(lr=0.1, momentum=0.9), 0.0),
    ("sgd_nesterov", "sgd", dict(lr=0.1, momentum=0.9, nesterov=True), 0.0),
    ("sgd_momentum_wd_dampening", "sgd",
     dict(lr=0.1, momentum=0.9, weight_decay=0.01, dampening=0.1), 0.0),
    ("adam", "adam", dict(lr=0.01), 0.0),
    ("adam_wd", "adam", dict(lr=0.01, weight_decay=0.01), 0.0),
    ("adamw", "adamw", dict(lr=0.01, weight_decay=0.1), 0.0),
    ("sgd_clip", "sgd", dict(lr=0.1), 0.5),
]
OPTIM_CASES = ["mse_tanh_relu", "ce_relu_selu", "huber_leaky_elu_selu"]

KINKED = ("relu", "leaky_relu", "elu", "selu")


class Rejected(Exception):
    """The drawn data are badly conditioned; draw again."""


def parse_act(spec):
    name, _, params = spec.partition(":")
    values = [float(p) for p in params.split(",")] if params else []
    return name, values


def activation(spec, z):
    name, p = parse_act(spec)
    if name == "linear":
        return z
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "tanh":
        return torch.tanh(z)
    if name == "relu":
        return F.relu(z)
    if name == "leaky_relu":
        return F.leaky_relu(z, negative_slope=p[0] if p else 0.01)
    if name == "elu":
        return F.elu(z, alpha=p[0] if p else 1.0)
    if name == "selu":
        assert not p, "only the default SELU constants are in torch.selu"
        return torch.selu(z)
    if name == "gelu":
        return F.gelu(z, approximate="none")
    if name == "silu":
        return F.silu(z)
    if name == "softplus":
        return F.softplus(z, beta=1.0, threshold=20.0)
    if name == "softmax":
        return torch.softmax(z, dim=1)
    if name == "sine":
        return torch.sin((p[0] if p else 30.0) * z)
    raise ValueError(spec)


def loss_module(spec):
    name, _, param = spec.partition(":")
    if name == "mse":
        return nn.MSELoss()
    if name == "cross_entropy":
        return nn.CrossEntropyLoss()
    if name == "bce":
        return nn.BCEWithLogitsLoss()
    if name == "huber":
        return nn.HuberLoss(delta=float(param) if param else 1.0)
    raise ValueError(spec)


def forward(case, params, x):
    """z and a of every layer."""
    zs, acts = [], []
    a = x
    for i, (_, spec) in enumerate(case["layers"]):
        z = a @ params[2 * i].t() + params[2 * i + 1]
        a = activation(spec, z)
        zs.append(z)
        acts.append(a)
    return zs, acts


def loss_value(case, zs, acts, y):
    """The loss as fathom defines it: cross-entropy and BCE on the logits z."""
    kind = case["loss"].partition(":")[0]
    module = loss_module(case["loss"])
    if kind == "cross_entropy":
        return module(zs[-1], y[:, 0].long())
    if kind == "bce":
        return module(zs[-1], y)
    return module(acts[-1], y)


def check_conditioning(case, zs, acts, y, grads, where):
    for (_, spec), z in zip(case["layers"], zs):
        name, _ = parse_act(spec)
        zz = z.detach()
        if name in KINKED and zz.abs().min().item() < KINK_MARGIN:
            raise Rejected(f"{where}: {spec} pre-activation within {KINK_MARGIN} of 0")
        if name == "relu":
            alive = (zz > 0).any(dim=0)
            off = (zz <= 0).any(dim=0)
            if not alive.all() or not off.any():
                raise Rejected(f"{where}: a ReLU unit is dead or the kink is unused")
    if case.get("softplus_beyond_threshold"):
        z0 = zs[-1].detach()[:, 0]
        if not (z0 > 20.5).any() or not (z0 < 19.5).any():
            raise Rejected(f"{where}: softplus output not on both sides of the threshold")
    name, _, param = case["loss"].partition(":")
    if name == "huber":
        delta = float(param) if param else 1.0
        r = (acts[-1].detach() - y).abs()
        if (r - delta).abs().min().item() < KINK_MARGIN:
            raise Rejected(f"{where}: a Huber residual is at delta")
        if not (r < delta).any() or not (r > delta).any():
            raise Rejected(f"{where}: only one Huber regime")
    for g in grads:
        g = g.detach().abs()
        if g.max().item() < 1e-3:
            raise Rejected(f"{where}: a gradient is nearly zero")
        # Adam divides by |g|: elements near 0 must be structural zeros (dead
        # ReLU inputs), not the float32 noise of a cancellation.
        tiny = (g > 0) & (g < 1e-4 * g.max())
        if tiny.any():
            raise Rejected(f"{where}: a gradient element is nearly cancelled")


def draw(case, rng):
    """x, y and initial parameters, all exactly representable in float32."""
    def f32(a):
        return np.asarray(a, dtype=np.float32)

    batch, n_in = case["batch"], case["n_in"]
    x = f32(rng.normal(0.0, 1.0, size=(batch, n_in)))
    params = []
    fan_in = n_in
    for width, _ in case["layers"]:
        params.append(f32(rng.normal(0.0, 1.4 / math.sqrt(fan_in), size=(width, fan_in))))
        params.append(f32(rng.normal(0.0, 0.2, size=(width,))))
        fan_in = width
    if case.get("softplus_beyond_threshold"):
        # Output unit 0 sits around z = 22, where torch's softplus returns z
        # itself (threshold 20) and fathom's log(1 + e^z) must agree.
        params[-1][0] += np.float32(22.0)
    n_out = case["layers"][-1][0]
    kind = case["targets"]
    if kind == "normal":
        y = rng.normal(0.0, 1.0, size=(batch, n_out))
    elif kind == "wide":
        y = rng.normal(0.0, 1.5, size=(batch, n_out))
    elif kind == "bounded":
        y = rng.uniform(-0.9, 0.9, size=(batch, n_out))
    elif kind == "positive":
        y = rng.uniform(0.0, 3.0, size=(batch, n_out))
    elif kind == "classes":
        y = rng.integers(0, n_out, size=(batch, 1)).astype(np.float64)
    elif kind == "probabilities":
        y = rng.uniform(0.0, 1.0, size=(batch, n_out))
        hard = rng.uniform(size=y.shape) < 0.3
        y[hard] = np.round(y[hard])
    else:
        raise ValueError(kind)
    return x, f32(y), params


def run_case(case, x_np, y_np, params_np, dtype, check):
    """Forward, loss, backward, and STEPS steps of every optimiser (if the case
    has them), all in `dtype`. Returns {relative path: 2-D float64 array}."""
    x = torch.from_numpy(x_np).to(dtype)
    y = torch.from_numpy(y_np).to(dtype)
    out = {}

    def leaves():
        # clone: .to() of a tensor already in dtype would share the NumPy
        # buffer, and the optimisers step in place.
        return [torch.from_numpy(p).to(dtype).clone().requires_grad_(True) for p in params_np]

    params = leaves()
    zs, acts = forward(case, params, x)
    loss = loss_value(case, zs, acts, y)
    loss.backward()
    if check:
        check_conditioning(case, zs, acts, y, [p.grad for p in params], "initial")
    out["x"] = x_np
    out["y"] = y_np
    out["loss"] = np.array([[loss.item()]])
    for i in range(len(case["layers"])):
        out[f"layer{i}.weight"] = params_np[2 * i]
        out[f"layer{i}.bias"] = params_np[2 * i + 1].reshape(1, -1)
        out[f"layer{i}.z"] = zs[i].detach().numpy()
        out[f"layer{i}.a"] = acts[i].detach().numpy()
        out[f"layer{i}.weight_grad"] = params[2 * i].grad.numpy()
        out[f"layer{i}.bias_grad"] = params[2 * i + 1].grad.numpy().reshape(1, -1)

    if case["name"] not in OPTIM_CASES:
        return out
    for name, kind, settings, clip in OPTIMISERS:
        params = leaves()
        cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
        opt = cls(params, **settings)
        losses = []
        for step in range(STEPS):
            opt.zero_grad()
            zs, acts = forward(case, params, x)
            loss = loss_value(case, zs, acts, y)
            loss.backward()
            if check:
                check_conditioning(case, zs, acts, y, [p.grad for p in params],
                                   f"{name} step {step}")
            if clip > 0:
                norm = torch.nn.utils.clip_grad_norm_(params, max_norm=clip)
                if check and norm.item() <= clip * 1.01:
                    raise Rejected(f"{name} step {step}: clipping inactive (norm {norm.item():.3g})")
            losses.append(loss.item())
            opt.step()
        out[f"{name}/losses"] = np.array([losses])
        for i in range(len(case["layers"])):
            out[f"{name}/layer{i}.weight"] = params[2 * i].detach().numpy()
            out[f"{name}/layer{i}.bias"] = params[2 * i + 1].detach().numpy().reshape(1, -1)
    return out


def tolerance_for(key):
    adam = key.startswith("adam")
    return (ADAM_ATOL, ADAM_RTOL) if adam else (ATOL, RTOL)


def float32_agreement(exact, single):
    """Worst |f32 - f64| / (atol + rtol |f64|) over every tensor."""
    worst, where = 0.0, ""
    for key, t in exact.items():
        atol, rtol = tolerance_for(key)
        ratio = np.abs(single[key] - t) / (atol + rtol * np.abs(t))
        if ratio.max() > worst:
            worst, where = float(ratio.max()), key
    return worst, where


# ------------------------------------------------------------------------------
# A second, hand-written implementation of the optimiser rules (PyTorch 1.13's
# documented algorithms, in NumPy float64), used two ways: it must reproduce
# torch.optim's trajectories (so the fixtures carry the rules we think they
# do), and each plausible misreading of those rules must land far outside the C
# test's tolerance (so the fixtures can tell the right rule from the wrong one).

BUGS = {
    "sgd": [],
    "sgd_momentum": ["no_momentum"],
    "sgd_nesterov": ["no_nesterov"],
    "sgd_momentum_wd_dampening": ["dampen_first_step", "no_weight_decay", "no_dampening"],
    "adam": ["no_bias_correction", "no_bias_correction2"],
    "adam_wd": ["no_weight_decay", "decoupled_decay"],
    "adamw": ["coupled_decay", "no_weight_decay"],
    "sgd_clip": ["no_clip"],
}


def gradients(case, flat_params, x, y):
    leaves = [torch.from_numpy(p.copy()).requires_grad_(True) for p in flat_params]
    zs, acts = forward(case, leaves, x)
    loss_value(case, zs, acts, y).backward()
    return [p.grad.numpy().copy() for p in leaves]


def manual_trajectory(case, x, y, params_np, kind, settings, clip, bug=None):
    x = torch.from_numpy(x).double()
    y = torch.from_numpy(y).double()
    params = [p.astype(np.float64) for p in params_np]
    lr = settings["lr"]
    wd = 0.0 if bug == "no_weight_decay" else settings.get("weight_decay", 0.0)
    mom = 0.0 if bug == "no_momentum" else settings.get("momentum", 0.0)
    damp = 0.0 if bug == "no_dampening" else settings.get("dampening", 0.0)
    nesterov = settings.get("nesterov", False) and bug != "no_nesterov"
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    buf = [None] * len(params)
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(1, STEPS + 1):
        grads = gradients(case, params, x, y)
        if clip > 0 and bug != "no_clip":
            norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
            coef = min(clip / (norm + 1e-6), 1.0)
            grads = [g * coef for g in grads]
        for i, (p, g) in enumerate(zip(params, grads)):
            if kind == "sgd":
                if wd:
                    g = g + wd * p
                if mom:
                    if buf[i] is None:  # the first step takes g undamped
                        buf[i] = g.copy() if bug != "dampen_first_step" else (1 - damp) * g
                    else:
                        buf[i] = mom * buf[i] + (1 - damp) * g
                    g = g + mom * buf[i] if nesterov else buf[i]
                params[i] = p - lr * g
                continue
            decoupled = (kind == "adamw") != (bug in ("coupled_decay", "decoupled_decay"))
            if decoupled:
                p = p * (1 - lr * wd)
            elif wd:
                g = g + wd * p
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            c1 = 1.0 if bug == "no_bias_correction" else 1 - beta1 ** t
            c2 = 1.0 if bug in ("no_bias_correction", "no_bias_correction2") else 1 - beta2 ** t
            params[i] = p - lr * (m[i] / c1) / (np.sqrt(v[i] / c2) + eps)
    return params


def check_optimiser_rules(case, exact):
    """Hand-written rules == torch.optim; every listed misreading is caught."""
    n = len(case["layers"])
    params = []
    for i in range(n):
        params += [exact[f"layer{i}.weight"], exact[f"layer{i}.bias"].reshape(-1)]
    weakest = math.inf
    for name, kind, settings, clip in OPTIMISERS:
        atol, rtol = tolerance_for(name)
        expected = []
        for i in range(n):
            expected += [exact[f"{name}/layer{i}.weight"], exact[f"{name}/layer{i}.bias"].reshape(-1)]
        mine = manual_trajectory(case, exact["x"], exact["y"], params, kind, settings, clip)
        for a, b in zip(mine, expected):
            if np.abs(a - b).max() > 1e-12:
                raise RuntimeError(f"{case['name']}/{name}: hand-written rule differs from torch.optim")
        for bug in BUGS[name]:
            wrong = manual_trajectory(case, exact["x"], exact["y"], params, kind, settings, clip, bug)
            ratio = max(float((np.abs(a - b) / (atol + rtol * np.abs(b))).max())
                        for a, b in zip(wrong, expected))
            if ratio < 10:
                raise RuntimeError(f"{case['name']}/{name}: misreading {bug} is only {ratio:.1f}x "
                                   "the tolerance away")
            weakest = min(weakest, ratio)
    return weakest


def build_case(case, base_seed):
    for attempt in range(10000):
        rng = np.random.default_rng([base_seed, attempt])
        x, y, params = draw(case, rng)
        try:
            exact = run_case(case, x, y, params, torch.float64, check=True)
        except Rejected:
            continue
        single = run_case(case, x, y, params, torch.float32, check=False)
        worst, where = float32_agreement(exact, single)
        if worst > SAFETY:
            continue
        return exact, attempt, worst, where
    raise RuntimeError(f"no well-conditioned draw for {case['name']}")


def save_npy(path, array):
    array = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
    assert array.ndim == 2
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, array, version=(1, 0), allow_pickle=False)


def fmt(value):
    return repr(float(value)) if not isinstance(value, bool) else str(int(value))


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)  # nothing here draws from torch; set for safety
    if os.path.isdir(OUT_DIR):
        shutil.rmtree(OUT_DIR)
    os.makedirs(OUT_DIR)

    lines = [
        "# fathom reference fixtures, written by tests/reference/make_fixtures.py",
        f"# (PyTorch {torch.__version__}, NumPy {np.__version__}); do not edit by hand.",
        "# count CASES OPTIMS",
        "# case NAME N_IN BATCH LOSS N_LAYERS WIDTH ACT [WIDTH ACT ...]",
        "# optim CASE NAME KIND STEPS key=value ... (fm_optim_config fields)",
        f"count {len(CASES)} {len(OPTIM_CASES) * len(OPTIMISERS)}",
    ]
    optim_lines = []
    for index, case in enumerate(CASES):
        exact, attempt, worst, where = build_case(case, 20240 + index)
        for key, array in exact.items():
            save_npy(os.path.join(OUT_DIR, case["name"], key + ".npy"), array)
        layer_tokens = " ".join(f"{w} {a}" for w, a in case["layers"])
        lines.append(f"case {case['name']} {case['n_in']} {case['batch']} {case['loss']} "
                     f"{len(case['layers'])} {layer_tokens}")
        print(f"{case['name']}: draw {attempt}, loss {exact['loss'][0, 0]:.6g}, "
              f"float32 twin worst {worst:.3f} of tolerance ({where})")
        if case["name"] in OPTIM_CASES:
            weakest = check_optimiser_rules(case, exact)
            print(f"  optimisers: hand-written rules match torch.optim; the closest misreading "
                  f"is {weakest:.0f}x the tolerance away")
            for name, kind, settings, clip in OPTIMISERS:
                fields = dict(lr=settings["lr"], momentum=settings.get("momentum", 0.0),
                              dampening=settings.get("dampening", 0.0),
                              nesterov=bool(settings.get("nesterov", False)),
                              beta1=0.9, beta2=0.999, eps=1e-8,
                              weight_decay=settings.get("weight_decay", 0.0), clip_norm=clip)
                kv = " ".join(f"{k}={fmt(v)}" for k, v in fields.items())
                optim_lines.append(f"optim {case['name']} {name} {kind} {STEPS} {kv}")
    lines += optim_lines
    with open(os.path.join(OUT_DIR, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(OUT_DIR) for n in ns)
    print(f"wrote {OUT_DIR} ({total} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
