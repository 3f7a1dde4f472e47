#!/usr/bin/python3
"""Summarise the JSON lines of bench/run.sh into Markdown tables.

Main runs are those with the most common OpenBLAS kernel set and, for PyTorch,
OMP_WAIT_POLICY=PASSIVE; the others are the once-only setting checks.
"""
import collections
import json
import statistics
import sys


def med(values):
    return statistics.median(values) if values else float("nan")


def span(values):
    return f"{min(values):.0f}-{max(values):.0f}" if values else "-"


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip().startswith("{")]
    core = collections.Counter(r.get("openblas_core") for r in rows).most_common(1)[0][0]
    main_rows = [r for r in rows if r.get("openblas_core") == core
                 and (r["impl"] != "torch" or r.get("omp_wait_policy") == "PASSIVE")]
    configs = sorted({(r["threads"], r["batch"]) for r in main_rows}, key=lambda c: (c[0], -c[1]))

    def pick(impl, t, b, src=main_rows):
        return [r for r in src if r["impl"] == impl and r["threads"] == t and r["batch"] == b]

    print(f"OpenBLAS kernels: {core}\n")
    print("| threads | batch | fathom samples/s median (min-max) | PyTorch samples/s median (min-max) "
          "| fathom/PyTorch | fathom GEMM GFLOP/s | sgemm-only bound samples/s | fathom / bound |")
    print("|---|---|---|---|---|---|---|---|")
    for t, b in configs:
        f = [r["samples_per_s"] for r in pick("fathom", t, b)]
        p = [r["samples_per_s"] for r in pick("torch", t, b)]
        g = [r["gflops"] for r in pick("fathom", t, b)]
        s = pick("sgemm", t, b)
        bound = s[0]["gemm_bound_samples_per_s"] if s else float("nan")
        print(f"| {t} | {b} | {med(f):.0f} ({span(f)}) | {med(p):.0f} ({span(p)}) | {med(f) / med(p):.2f} "
              f"| {med(g):.1f} | {bound:.0f} | {med(f) / bound:.2f} |")

    print("\nPer-step breakdown, medians in ms (fathom: forward | loss | backward | SGD; "
          "PyTorch: forward+loss | zero_grad+backward | SGD):\n")
    print("| threads | batch | fathom step | fwd | loss | bwd | sgd | PyTorch step | fwd+loss | bwd | sgd "
          "| sgemm-only step | SELU fwd+bwd (fathom kernels) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for t, b in configs:
        f, p, s = pick("fathom", t, b), pick("torch", t, b), pick("sgemm", t, b)
        fm = lambda k: med([r[k] for r in f])
        pm = lambda k: med([r[k] for r in p])
        gemm = f"{1e3 * s[0]['step_gemm_s']:.2f}" if s else "-"
        selu = f"{s[0]['step_selu_forward_ms']:.2f}+{s[0]['step_selu_backward_ms']:.2f}" if s else "-"
        print(f"| {t} | {b} | {fm('step_ms'):.2f} | {fm('ms_forward'):.2f} | {fm('ms_loss'):.3f} "
              f"| {fm('ms_backward'):.2f} | {fm('ms_optim'):.2f} | {pm('step_ms'):.2f} | {pm('ms_forward_loss'):.2f} "
              f"| {pm('ms_backward'):.2f} | {pm('ms_optim'):.2f} | {gemm} | {selu} |")

    print("\nsgemm alone (GFLOP/s, the shapes of a step):\n")
    print("| threads | batch | whole step's GEMMs | fwd layer 1 | fwd 512x512 | dW 512x512 | dX 512x512 | 1024^3 |")
    print("|---|---|---|---|---|---|---|---|")
    for t, b in configs:
        for s in pick("sgemm", t, b):
            v = {k.split("_")[0] + ("1" if "784" in k else ""): s[k] for k in s if k.endswith("_gflops")}
            print(f"| {t} | {b} | {s['step_gemm_gflops']:.1f} | {v.get('fwd1', 0):.1f} | {v.get('fwd', 0):.1f} "
                  f"| {v.get('dW', 0):.1f} | {v.get('dX', 0):.1f} | {s['square_1024_gflops']:.1f} |")

    others = [r for r in rows if r not in main_rows]
    if others:
        print("\nOnce-only setting checks:\n")
        print("| impl | threads | batch | OpenBLAS kernels | OMP_WAIT_POLICY | samples/s | (main-table median) |")
        print("|---|---|---|---|---|---|---|")
        for r in others:
            if r["impl"] == "sgemm":
                print(f"| sgemm | {r['threads']} | {r['batch']} | {r['openblas_core']} | - "
                      f"| bound {r['gemm_bound_samples_per_s']:.0f} ({r['step_gemm_gflops']:.1f} GFLOP/s) | |")
                continue
            ref = med([x["samples_per_s"] for x in pick(r["impl"], r["threads"], r["batch"])])
            print(f"| {r['impl']} | {r['threads']} | {r['batch']} | {r['openblas_core']} "
                  f"| {r.get('omp_wait_policy', '-') or 'unset'} | {r['samples_per_s']:.0f} | {ref:.0f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build-bench/bench-results.jsonl")
