#!/usr/bin/python3
"""Summarise the JSON lines of bench/run.sh into Markdown tables.

The main table has one row per case and thread count: medians and min-max of
fathom, PyTorch and FANN, the ratios fathom/peer, the fraction of the sgemm
bound fathom reaches, and issue 5's target for the case (met or missed).
Ratios are of the figure as shown: for samples/s above 1 means fathom is
faster; for times (us, s) and memory (MB) below 1 means fathom is better.

Main runs are those with the most common OpenBLAS kernel set, PyTorch with
OMP_WAIT_POLICY=PASSIVE and torch.no_grad, FANN trained online; the others are
the once-only setting checks. FANN is single-threaded: its 1-thread figures
stand in the 2-thread rows too.
"""
import collections
import json
import math
import statistics
import sys

BIG = [784, 512, 512, 512, 512, 10]
SMALL = [8, 64, 64, 1]
DEEP = [512] * 65


def describe(widths):
    if widths == DEEP:
        return "512x64"
    if widths == BIG:
        return "784-512x4-10"
    return "-".join(str(w) for w in widths)


def target_train_b128(t, f, p, fa, frac):
    ok = frac >= 0.85 and f / p >= 1.5
    return ok, f"bound >= 0.85 ({frac:.2f}), >= 1.5x PyTorch ({f / p:.2f})"


# Each case: (label, mode, widths, batch, metric, unit, higher is better,
#             bound metric of the sgemm line or None, target or None).
# A target takes (threads, fathom, torch, fann, fraction of bound) and returns
# (met, text). The figures are at 2 threads; targets are shown at both.
CASES = [
    ("train SELU, batch 128", "train", BIG, 128, "samples_per_s", "samples/s", True, "gemm_bound_samples_per_s",
     target_train_b128),
    ("train SELU, batch 32", "train", BIG, 32, "samples_per_s", "samples/s", True, "gemm_bound_samples_per_s",
     lambda t, f, p, fa, frac: (f / p >= 2.0, f">= 2x PyTorch ({f / p:.2f})")),
    ("train 8-64-64-1 tanh MSE, batch 16", "train", SMALL, 16, "samples_per_s", "samples/s", True,
     "gemm_bound_samples_per_s", lambda t, f, p, fa, frac: (f >= 1e6, ">= 1,000,000 samples/s")),
    ("inference, batch 1 (latency)", "infer", BIG, 1, "us_per_call", "us/call", False, "fwd_bound_us",
     lambda t, f, p, fa, frac: (f <= 50.0, "<= 50 us")),
    ("inference, batch 1024", "infer", BIG, 1024, "samples_per_s", "samples/s", True, "fwd_bound_samples_per_s",
     None),
    ("peak memory, training batch 128", "train", BIG, 128, "peak_rss_mb", "MB", False, None,
     lambda t, f, p, fa, frac: (f / p <= 0.1, f"<= 1/10 of PyTorch ({f / p:.2f})")),
    ("probe 512x64 tanh, cold (create + 1st)", "probe", DEEP, None, "cold_s", "s", False, None, None),
    ("probe 512x64 tanh, warm pass", "probe", DEEP, None, "probe_s", "s", False, None, None),
    ("probe 784-512x4-10 SELU, warm pass", "probe", BIG, None, "probe_s", "s", False, None, None),
    ("diagnose every step, SELU batch 128", "diagnose", BIG, 128, "overhead_pct", "% of training", False, None,
     lambda t, f, p, fa, frac: (f <= 15.0, "<= 15 %")),
    ("diagnose every step, 8-64-64-1 batch 16", "diagnose", SMALL, 16, "overhead_pct", "% of training", False,
     None, lambda t, f, p, fa, frac: (f <= 15.0, "<= 15 %")),
    ("  of which the library's statistics, SELU b128", "diagnose", BIG, 128, "overhead_library_pct",
     "% of training", False, None, None),
    ("  of which the library's statistics, 8-64-64-1 b16", "diagnose", SMALL, 16, "overhead_library_pct",
     "% of training", False, None, None),
]


def med(values):
    return statistics.median(values) if values else float("nan")


def fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def cell(values):
    if not values:
        return "-"
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(med(values))} [{fmt(min(values))}-{fmt(max(values))}]"


def ratio(a, b):
    return f"{a / b:.2f}" if a == a and b == b and b else "-"


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip().startswith("{")]
    if not rows:
        sys.exit(f"summarize: no JSON lines in {path}")
    for r in rows:
        r.setdefault("mode", "sgemm" if r["impl"] == "sgemm" else "train")
    core = collections.Counter(r.get("openblas_core") for r in rows if r["impl"] != "fann").most_common(1)[0][0]

    def is_main(r):
        if r["impl"] == "fann":
            return r.get("training", "online") == "online"
        if r.get("openblas_core") != core:
            return False
        if r["impl"] == "torch":
            return r.get("omp_wait_policy") == "PASSIVE" and r.get("grad_mode", "no_grad") == "no_grad"
        return r.get("step_kind", "fused") == "fused"

    main_rows = [r for r in rows if is_main(r)]

    def pick(impl, mode, widths, batch, threads, src=main_rows):
        return [r for r in src if r["impl"] == impl and r["mode"] == mode and r["widths"] == widths
                and (batch is None or r["batch"] == batch) and (impl == "fann" or r["threads"] == threads)]

    threads_seen = sorted({r["threads"] for r in main_rows if r["impl"] != "fann"})
    print(f"OpenBLAS kernels: {core}. Median [min-max] over repetitions; ratios of medians.\n")
    print("| case | threads | unit | fathom | PyTorch | FANN | fathom/PyTorch | fathom/FANN "
          "| sgemm bound | fathom/bound | target (issue 5) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, mode, widths, batch, metric, unit, higher, bound_key, target in CASES:
        for t in threads_seen:
            fv = [r[metric] for r in pick("fathom", mode, widths, batch, t) if metric in r]
            if not fv:
                continue
            pv = [r[metric] for r in pick("torch", mode, widths, batch, t) if metric in r]
            av = [r[metric] for r in pick("fann", mode, widths, batch, t) if metric in r]
            f, p, a = med(fv), med(pv), med(av)
            bound, frac, bound_cell = float("nan"), float("nan"), "-"
            if bound_key:
                # At batch 1 the bound is the faster of sgemm and sgemv.
                s = [min(r[bound_key], r.get("fwd_gemv_us", math.inf)) if bound_key == "fwd_bound_us" else r[bound_key]
                     for r in pick("sgemm", "sgemm", widths, batch, t) if bound_key in r]
                if s:
                    bound, bound_cell = med(s), cell(s)
                    frac = f / bound if higher else bound / f
            goal = "-"
            if target:
                if mode != "diagnose" and not pv:
                    goal = "no PyTorch figure"
                else:
                    ok, text = target(t, f, p, a, frac)
                    goal = f"{'met' if ok else 'missed'}: {text}"
            fann_cell = cell(av) + (" (1 thread)" if av and t != 1 else "")
            print(f"| {label} | {t} | {unit} | {cell(fv)} | {cell(pv)} | {fann_cell} | {ratio(f, p)} "
                  f"| {ratio(f, a)} | {bound_cell} | {ratio(frac, 1.0) if frac == frac else '-'} | {goal} |")

    notes = []
    for impl in ("fathom", "torch", "fann"):
        d = [r["data_mb"] for r in main_rows if r["impl"] == impl and r["mode"] == "train" and r["widths"] == BIG
             and "data_mb" in r]
        if d:
            notes.append(f"{impl} {d[0]:.1f} MB")
    if notes:
        print(f"\nData held in memory by the batch-128 training processes (part of their peak): {', '.join(notes)}.")
    dg = [r for r in main_rows if r["mode"] == "diagnose"]
    if dg:
        print("\nDiagnostics every step, samples/s (medians) without -> with the library's statistics only -> "
              "with them, z histograms and a log line (what `fathom train --diagnose 1` does):",
              "; ".join(f"{describe(list(w))} batch {b}, {t} thread(s): {med([r['samples_per_s'] for r in g]):,.0f}"
                        f" -> {med([r['samples_per_s_diagnose_library'] for r in g]):,.0f}"
                        f" -> {med([r['samples_per_s_diagnose'] for r in g]):,.0f}"
                        for (w, b, t), g in group(dg, lambda r: (tuple(r['widths']), r['batch'], r['threads']))))
    pr = [r for r in main_rows if r["mode"] == "probe"]
    if pr:
        print("\nProbe, median seconds (create: drawing the weights; first: the first pass with its buffer "
              "allocation):", "; ".join(
                  f"{impl} {describe(list(w))} {t} thread(s): create {med([r['create_s'] for r in g]):.3f}, "
                  f"first {med([r['first_probe_s'] for r in g]):.3f}, warm {med([r['probe_s'] for r in g]):.3f}, "
                  f"peak {med([r['peak_rss_mb'] for r in g]):.0f} MB"
                  for (impl, w, t), g in group(pr, lambda r: (r['impl'], tuple(r['widths']), r['threads']))))

    train_cfgs = sorted({(tuple(r["widths"]), r["batch"], r["threads"]) for r in main_rows
                         if r["mode"] == "train" and r["impl"] == "fathom"}, key=lambda c: (c[2], -len(c[0]), -c[1]))
    if train_cfgs:
        print("\nTraining step, medians in ms (fathom: forward | loss | backward | SGD; "
              "PyTorch: forward+loss | zero_grad+backward | SGD; sgemm: the step's GEMMs alone, "
              "and fathom's activation kernels alone, forward+backward):\n")
        print("| network | batch | threads | fathom step | fwd | loss | bwd | sgd | PyTorch step | fwd+loss | bwd "
              "| sgd | FANN step | sgemm-only step | activation fwd+bwd |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for w, b, t in train_cfgs:
            w = list(w)
            f, p = pick("fathom", "train", w, b, t), pick("torch", "train", w, b, t)
            a, s = pick("fann", "train", w, b, t), pick("sgemm", "sgemm", w, b, t)
            fm = lambda k: fmt(med([r[k] for r in f if k in r]))
            pm = lambda k: fmt(med([r[k] for r in p if k in r]))
            am = fmt(med([r["step_ms"] for r in a]))
            sm = lambda k: fmt(med([r[k] for r in s]))
            gemm = fmt(1e3 * med([r["step_gemm_s"] for r in s])) if s else "-"
            act = f"{sm('step_act_forward_ms')}+{sm('step_act_backward_ms')}" if s else "-"
            print(f"| {describe(w)} | {b} | {t} | {fm('step_ms')} | {fm('ms_forward')} | {fm('ms_loss')} "
                  f"| {fm('ms_backward')} | {fm('ms_optim')} | {pm('step_ms')} | {pm('ms_forward_loss')} "
                  f"| {pm('ms_backward')} | {pm('ms_optim')} | {am} | {gemm} | {act} |")

    sg = [r for r in main_rows if r["impl"] == "sgemm"]
    if sg:
        print("\nsgemm alone, GFLOP/s, medians (M x N x K as src/nn/net.c issues them):\n")
        print("| network | batch | threads | training step's GEMMs | forward's GEMMs | forward as sgemv "
              "| single shapes |")
        print("|---|---|---|---|---|---|---|")
        for (w, b, t), g in sorted(group(sg, lambda r: (tuple(r["widths"]), r["batch"], r["threads"])),
                                   key=lambda item: (item[0][2], -len(item[0][0]), -item[0][1])):
            m = lambda k: med([r[k] for r in g if k in r])
            keys = [k for k in g[0] if k.endswith("_gflops")
                    and k not in ("step_gemm_gflops", "fwd_gemm_gflops", "fwd_gemv_gflops")]
            shapes = ", ".join(f"{k[:-7]} {m(k):.1f}" for k in keys)
            gemv = f"{m('fwd_gemv_gflops'):.1f} ({m('fwd_gemv_us'):.1f} us)" if "fwd_gemv_us" in g[0] else "-"
            fwd = f"{m('fwd_gemm_gflops'):.1f}" + (f" ({m('fwd_bound_us'):.1f} us)" if b == 1 else "")
            print(f"| {describe(list(w))} | {b} | {t} | {m('step_gemm_gflops'):.1f} | {fwd} | {gemv} "
                  f"| {shapes or '-'} |")

    others = [r for r in rows if not is_main(r)]
    if others:
        print("\nOnce-only setting checks:\n")
        print("| impl | mode | network | threads | batch | setting | figure | (main-table median) |")
        print("|---|---|---|---|---|---|---|---|")
        for r in others:
            if r["impl"] == "sgemm":
                print(f"| sgemm | bound | {describe(r['widths'])} | {r['threads']} | {r['batch']} "
                      f"| OpenBLAS {r['openblas_core']} | {r['gemm_bound_samples_per_s']:,.0f} samples/s "
                      f"({r['step_gemm_gflops']:.1f} GFLOP/s) | |")
                continue
            metric = "us_per_call" if r["mode"] == "infer" and r["batch"] == 1 else "samples_per_s"
            setting = {"torch": f"OMP_WAIT_POLICY={r.get('omp_wait_policy') or 'unset'}, "
                                f"{r.get('grad_mode', '')}".rstrip(", "),
                       "fann": f"training {r.get('training')}",
                       "fathom": f"{r.get('step_kind', 'fused')} SGD step" if r["mode"] == "train" else ""
                       }.get(r["impl"], "")
            if "openblas_core" in r:
                setting = ", ".join(x for x in (setting, f"OpenBLAS {r['openblas_core']}") if x)
            ref = med([x[metric] for x in pick(r["impl"], r["mode"], r["widths"], r["batch"], r["threads"])])
            print(f"| {r['impl']} | {r['mode']} | {describe(r['widths'])} | {r['threads']} | {r['batch']} "
                  f"| {setting} | {fmt(r[metric])} {metric.replace('_per_', '/')} | {fmt(ref)} |")


def group(items, key):
    out = collections.OrderedDict()
    for it in items:
        out.setdefault(key(it), []).append(it)
    return out.items()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build-bench/bench-results.jsonl")
