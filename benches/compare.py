#!/usr/bin/env python3
"""Side-by-side timing of the same ONNX files: fewstep native (f32, f16), fewstep's tract backend,
and onnxruntime (1 thread), in one run on one machine. Prints a markdown table with ratios.

usage: benches/compare.py [--iters 3000] [--python-ort-threads 1] [CONFIG ...]
  CONFIG is MODEL:N, e.g. mlp:20 transformer:1 (default: mlp:20 transformer:1 transformer:20)

Run from the repository root after `python3 -m venv .venv-ref && .venv-ref/bin/pip install
onnxruntime onnx numpy`, with that venv's python: `.venv-ref/bin/python benches/compare.py`.
The models are the test fixtures (random weights), written by
`cargo run --release --example fixtures -- bench target/bench-models`.
fewstep times one sampler run of a 1-step card (one forward pass plus the in-place Euler
update); onnxruntime times one `InferenceSession.run` of the same graph on the same shapes.
"""
import argparse
import json
import os
import platform
import subprocess
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "target", "bench-models")
FEWSTEP = os.path.join(ROOT, "target", "release", "fewstep")


def sh(*cmd):
    return subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def ort_time(path, n, iters, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    feeds = {}
    for i in sess.get_inputs():
        shape = [n if isinstance(d, str) or d is None else d for d in i.shape]
        feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    for _ in range(max(20, iters // 10)):
        sess.run(None, feeds)
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        sess.run(None, feeds)
        ts.append((time.perf_counter() - t) * 1e6)
    ts.sort()
    return ts[len(ts) // 2], ts[min(len(ts) - 1, int(round((len(ts) - 1) * 0.99)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--ort-threads", type=int, default=1)
    ap.add_argument("configs", nargs="*", default=["mlp:20", "transformer:1", "transformer:20"])
    a = ap.parse_args()
    sh("cargo", "build", "--release", "--quiet", "--bin", "fewstep", "--example", "fixtures")
    sh(os.path.join(ROOT, "target", "release", "examples", "fixtures"), "bench", MODELS)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    print(f"CPU: {cpu}; onnxruntime {ort.__version__} ({a.ort_threads} thread); {a.iters} timed calls each\n")
    print("| model | N | config | median µs | p99 µs | allocs/call | weight bytes | vs native f32 |")
    print("|---|---|---|---|---|---|---|---|")
    for cfg in a.configs:
        name, n = cfg.split(":")
        path = os.path.join(MODELS, name + ".onnx")
        rep = json.loads(sh(FEWSTEP, "bench", path, "--backend", "native,tract", "--precision", "f32,f16",
                            "--iters", str(a.iters), "--dim", f"N={n}", "--json"))
        rows = {f"{r['backend']} {r['precision']}": r for r in rep["results"] if "error" not in r}
        base = rows["native f32"]["median_us"]
        for key in ["native f32", "native f16", "tract f32", "tract f16"]:
            r = rows.get(key)
            if r is None:
                continue
            print(f"| {name} | {n} | fewstep {key} | {r['median_us']:.1f} | {r['p99_us']:.1f} | "
                  f"{r['allocations_per_call']:.0f} | {r['weight_bytes']} | {r['median_us'] / base:.2f}x |")
        med, p99 = ort_time(path, int(n), a.iters, a.ort_threads)
        print(f"| {name} | {n} | onnxruntime ({a.ort_threads} thread) | {med:.1f} | {p99:.1f} | – | – | {med / base:.2f}x |")


if __name__ == "__main__":
    main()
