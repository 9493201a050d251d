#!/usr/bin/env python3
"""One comparison run over the SHIPPED models (every teacher and student under models/): full
sampler runs (the card's steps; one pass for a generator) timed side by side on fewstep native
f32 and f16 (at 64 agents also with every core sharing the agents, `--threads`), fewstep's
tract backend, and onnxruntime with 1 thread and with its default threads, at 1 and at 64
agents per call. Also: the teacher (N steps) / student (1 step)
wall-time ratio of each fold, with the test minADE20/minFDE20 stored in the cards beside it.

usage: .venv-ref/bin/python benches/models.py [--agents 1,64] [--budget 2.0] [--write]
  --budget   seconds of timed calls per configuration (iterations adapt, at least 20)
  --write    replace the section between the markers in docs/BENCHMARKS.md, and redraw
             docs/speed.svg from it (benches/speed_chart.py)

onnxruntime runs the same file; its sampler is a Python loop of `run` calls plus the numpy
Euler update (what a user of onnxruntime writes), timed around the whole loop.
"""
import argparse
import glob
import json
import os
import platform
import subprocess
import time

import numpy as np
import onnx
import onnxruntime as ort

import speed_chart  # benches/speed_chart.py: the picture of the table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FEWSTEP = os.path.join(ROOT, "target", "release", "fewstep")
DOC = os.path.join(ROOT, "docs", "BENCHMARKS.md")
BEGIN, END = "<!-- models:begin -->", "<!-- models:end -->"


def sh(*cmd):
    return subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def card(path):
    m = onnx.load(path, load_external_data=False)
    for p in m.metadata_props:
        if p.key == "fewstep":
            return json.loads(p.value)
    return None


def pct(ts, p):
    return ts[min(len(ts) - 1, int(round((len(ts) - 1) * p)))]


def fewstep_bench(path, n, backends, budget, threads="1"):
    def run(iters):
        return json.loads(sh(FEWSTEP, "bench", path, "--backend", backends, "--precision", "f32,f16"
                             if backends == "native" else "f32", "--iters", str(iters),
                             "--dim", f"N={n}", "--threads", threads, "--json"))["results"]
    probe = run(5)
    est = max(r.get("median_us", 1.0) for r in probe if "error" not in r)
    iters = int(max(20, min(100000, budget * 1e6 / max(est, 1.0))))
    return run(iters), iters


class OrtSampler:
    """The card's sampler in Python around onnxruntime (Euler on the card's time grid)."""

    def __init__(self, path, c, n, threads):
        o = ort.SessionOptions()
        o.inter_op_num_threads = 1
        if threads:
            o.intra_op_num_threads = threads
        self.s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
        self.c = c
        rng = np.random.default_rng(1)
        ins = {i["name"]: i for i in c["inputs"]}
        roles = c["roles"]
        self.state_name, self.time_name, self.cond_name = roles["state"], roles.get("time"), roles.get("cond")
        self.state = rng.standard_normal(self._shape(ins[self.state_name], n)).astype(np.float32)
        self.cond = rng.standard_normal(self._shape(ins[self.cond_name], n)).astype(np.float32) if self.cond_name else None
        self.times = c["sampler"]["times"] if c.get("sampler") else None

    @staticmethod
    def _shape(spec, n):
        out = []
        for d in spec["shape"]:
            if isinstance(d, int):
                out.append(d)
            elif isinstance(d, dict) and "Fixed" in d:
                out.append(d["Fixed"])
            elif isinstance(d, dict) and "fixed" in d:
                out.append(d["fixed"])
            else:
                out.append(n)
        return out

    def __call__(self):
        x = self.state.copy()
        feeds = {}
        if self.cond is not None:
            feeds[self.cond_name] = self.cond
        if self.times is None:
            feeds[self.state_name] = x
            return self.s.run(None, feeds)[0]
        n = x.shape[0]
        for t0, t1 in zip(self.times[:-1], self.times[1:]):
            feeds[self.state_name] = x
            feeds[self.time_name] = np.full((n, 1), t0, dtype=np.float32)
            v = self.s.run(None, feeds)[0]
            x = x + (t1 - t0) * v
        return x


def ort_time(sampler, budget):
    sampler()
    t = time.perf_counter()
    sampler()
    est = time.perf_counter() - t
    iters = int(max(20, min(100000, budget / max(est, 1e-6))))
    for _ in range(max(3, iters // 10)):
        sampler()
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        sampler()
        ts.append((time.perf_counter() - t) * 1e6)
    ts.sort()
    return pct(ts, 0.5), pct(ts, 0.99), iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", default="1,64")
    ap.add_argument("--budget", type=float, default=2.0)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("models", nargs="*")
    a = ap.parse_args()
    sh("cargo", "build", "--release", "--quiet", "--bin", "fewstep")
    paths = a.models or sorted(p for p in glob.glob(os.path.join(ROOT, "models", "*", "*.onnx")))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    lines = [f"CPU: {cpu}, {os.cpu_count()} cores; onnxruntime {ort.__version__}; "
             f"budget {a.budget} s of timed calls per row; "
             f"`.venv-ref/bin/python benches/models.py --budget {a.budget} --write` on "
             f"{time.strftime('%Y-%m-%d')}.", "",
             "| model | agents | steps | config | median µs | p99 µs | allocs/call | weight bytes | ORT-1 / this |",
             "|---|---|---|---|---|---|---|---|---|"]
    sample_us = {}
    for path in paths:
        c = card(path)
        if c is None:
            continue
        rel = os.path.relpath(path, ROOT)
        steps = len(c["sampler"]["times"]) - 1 if c.get("sampler") else 1
        for n in [int(x) for x in a.agents.split(",")]:
            rows = []
            # with several agents, also every core sharing them (SessionOptions::threads), as
            # onnxruntime's default threads do
            threads = f"1,{os.cpu_count()}" if n > 1 and os.cpu_count() > 1 else "1"
            nat, _ = fewstep_bench(path, n, "native", a.budget, threads)
            tr, _ = fewstep_bench(path, n, "tract", a.budget / 2)
            for r in nat + tr:
                if "error" in r:
                    continue
                t = r.get("threads", 1)
                rows.append((f"fewstep {r['backend']} {r['precision']}" + (f", {t} threads" if t > 1 else ""),
                             r["median_us"], r["p99_us"], f"{r['allocations_per_call']:.0f}",
                             str(r["weight_bytes"])))
            for threads, label in [(1, "onnxruntime 1 thread"), (0, "onnxruntime default threads")]:
                med, p99, _ = ort_time(OrtSampler(path, c, n, threads), a.budget)
                rows.append((label, med, p99, "–", "–"))
            ort1 = next(r[1] for r in rows if r[0] == "onnxruntime 1 thread")
            for name, med, p99, al, wb in rows:
                lines.append(f"| `{rel}` | {n} | {steps} | {name} | {med:.1f} | {p99:.1f} | {al} | {wb} | "
                             f"{ort1 / med:.2f}x |")
                if name == "fewstep native f32":
                    sample_us[(rel, n)] = med
            print(lines[-1], flush=True)
    # teacher / student wall time per fold, with the stored test metrics
    lines += ["", "Teacher (its card's steps) against each 1-step student of the same fold, fewstep "
              "native f32, same number of agents; test minADE20/minFDE20 from the cards "
              "(`fewstep-distill eval --write-metrics`):", "",
              "| fold | model | agents | µs per call | teacher / this | test minADE20/minFDE20 |",
              "|---|---|---|---|---|---|"]
    for (rel, n), us in sorted(sample_us.items()):
        fold = rel.split(os.sep)[1]
        teacher = next((p for (p, m) in sample_us if m == n and p.split(os.sep)[1] == fold
                        and os.path.basename(p).startswith("teacher")), None)
        if teacher is None:
            continue
        c = card(os.path.join(ROOT, rel))
        m = c.get("metrics", {})
        steps = len(c["sampler"]["times"]) - 1 if c.get("sampler") else 1
        # the card's own sampler: written as `_card`, or as `_euler<its steps>`
        pick = lambda name: m.get(f"test_{name}_card", m.get(f"test_{name}_euler{steps}"))
        ade, fde = pick("minADE20"), pick("minFDE20")
        acc = f"{ade:.3f}/{fde:.3f}" if ade is not None and fde is not None else "–"
        lines.append(f"| {fold} | `{rel}` | {n} | {us:.1f} | {sample_us[(teacher, n)] / us:.1f}x | {acc} |")
    text = "\n".join(lines)
    print(text)
    if a.write:
        doc = open(DOC).read()
        if BEGIN in doc and END in doc:
            pre, rest = doc.split(BEGIN, 1)
            _, post = rest.split(END, 1)
            doc = pre + BEGIN + "\n" + text + "\n" + END + post
        else:
            doc += f"\n## Shipped models: fewstep vs tract vs onnxruntime\n\n{BEGIN}\n{text}\n{END}\n"
        open(DOC, "w").write(doc)
        # the picture of the table (docs/speed.svg) follows it
        speed_chart.write(DOC, speed_chart.DEFAULT_OUT)


if __name__ == "__main__":
    main()
