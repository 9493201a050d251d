#!/usr/bin/env python3
"""The speed picture: every shipped model's sampler call on each runtime, as speed relative to
onnxruntime on one thread, at 1 agent and at 64. Drawn from the table `benches/models.py
--write` keeps in docs/BENCHMARKS.md (all of its rows, measured side by side in one run), so it
shows nothing the table does not. Writes docs/speed.svg (plain SVG, no plotting library).

usage: python3 benches/speed_chart.py [--table docs/BENCHMARKS.md] [--out docs/speed.svg]
(benches/models.py --write runs it after writing the table.)
"""
import argparse
import math
import os
import re
import statistics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "docs", "speed.svg")
BASELINE = "onnxruntime 1 thread"
# (config in the table, label ("|" breaks the line), colour), left to right
CONFIGS = [
    ("fewstep native f32", "fewstep f32", "#1f77b4"),
    ("fewstep native f16", "fewstep f16", "#17becf"),
    ("fewstep native f32, 2 threads", "fewstep f32|2 threads", "#1f77b4"),
    ("fewstep native f16, 2 threads", "fewstep f16|2 threads", "#17becf"),
    ("onnxruntime default threads", "onnxruntime|default threads", "#7f7f7f"),
    ("fewstep tract f32", "tract f32", "#ff7f0e"),
]


def read_table(path):
    """{(model, agents): {config: median µs}} from the rows between the models markers, and the
    line above the table that says where and how it was measured."""
    text = open(path).read()
    m = re.search(r"<!-- models:begin -->\n(.*?)<!-- models:end -->", text, re.S)
    if not m:
        raise SystemExit(f"{path}: no <!-- models:begin --> ... <!-- models:end --> table")
    groups, setup = {}, ""
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9 and cells[0].startswith("`"):
            model, agents, _, config, median = cells[:5]
            groups.setdefault((model.strip("`"), int(agents)), {})[config] = float(median)
        elif line.startswith("CPU:"):
            setup = line
    if not groups:
        raise SystemExit(f"{path}: the models table has no rows")
    return groups, setup


def speedups(groups, agents):
    """{config: [median of the baseline / median of the config, one per model]}"""
    out = {c: [] for c, _, _ in CONFIGS}
    for (_, n), row in sorted(groups.items()):
        if n != agents or BASELINE not in row:
            continue
        for c, _, _ in CONFIGS:
            if c in row:
                out[c].append(row[BASELINE] / row[c])
    return out


def panel(x0, y0, w, h, title, data, lo=0.25, hi=4.0):
    """Configs across, speed relative to the baseline up (log scale), a dot per model and a bar
    at the median; returns SVG elements."""
    out = []
    py = lambda v: y0 + h * (math.log2(hi) - math.log2(v)) / (math.log2(hi) - math.log2(lo))
    out.append(f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>')
    out.append(f'<text x="{x0 + w / 2}" y="{y0 - 10}" text-anchor="middle" font-weight="bold">{title}</text>')
    v = lo
    while v <= hi * 1.0001:
        out.append(f'<line x1="{x0}" y1="{py(v):.1f}" x2="{x0 + w}" y2="{py(v):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x0 - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{v:g}×</text>')
        v *= 2
    out.append(f'<line x1="{x0}" y1="{py(1):.1f}" x2="{x0 + w}" y2="{py(1):.1f}" stroke="#555" stroke-dasharray="6,4"/>')
    out.append(f'<text x="{x0 + w - 6}" y="{py(1) - 5:.1f}" text-anchor="end" font-size="11" fill="#555">{BASELINE}</text>')
    shown = [(c, label, colour) for c, label, colour in CONFIGS if data[c]]
    step = w / len(shown)
    for i, (c, label, colour) in enumerate(shown):
        cx = x0 + step * (i + 0.5)
        values = data[c]
        for j, v in enumerate(values):
            jitter = (j % 7 - 3) * step / 28
            v = min(max(v, lo), hi)
            out.append(f'<circle cx="{cx + jitter:.1f}" cy="{py(v):.1f}" r="3.5" fill="{colour}" fill-opacity="0.55"/>')
        med = statistics.median(values)
        out.append(f'<line x1="{cx - step * 0.32:.1f}" y1="{py(med):.1f}" x2="{cx + step * 0.32:.1f}" y2="{py(med):.1f}" stroke="black" stroke-width="2"/>')
        out.append(f'<text x="{cx:.1f}" y="{py(med) - 7:.1f}" text-anchor="middle" font-size="11">{med:.2f}×</text>')
        for k, part in enumerate(label.split("|")):
            out.append(f'<text x="{cx:.1f}" y="{y0 + h + 16 + 14 * k}" text-anchor="middle" font-size="11">{part}</text>')
    out.append(f'<text transform="translate({x0 - 44},{y0 + h / 2}) rotate(-90)" text-anchor="middle">speed relative to {BASELINE} (log scale)</text>')
    return out


def write(table, out):
    """Draws the chart of `table` (a BENCHMARKS.md) into `out`; prints each median speedup."""
    groups, setup = read_table(table)
    W, H = 1180, 470
    els = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">Every shipped model, one sampler call (all its network passes), on the same ONNX file</text>',
    ]
    models = 0
    for k, agents in enumerate((1, 64)):
        data = speedups(groups, agents)
        models = max(models, len(data[CONFIGS[0][0]]))
        for c, _, _ in CONFIGS:
            if data[c]:
                print(f"{agents:>2} agents  {c:<32} median {statistics.median(data[c]):.2f}x "
                      f"(lowest {min(data[c]):.2f}x, highest {max(data[c]):.2f}x, {len(data[c])} models)")
        title = f"{agents} agent{'s' if agents > 1 else ''} (20 futures each)"
        els += panel(90 + k * 560, 64, 500, 320, title, data)
    notes = [
        f"A dot per model ({models} models), the bar at their median. {setup.split(';')[0]};",
        "median µs per call from docs/BENCHMARKS.md (`.venv-ref/bin/python benches/models.py --budget 1.0 --write` redraws it).",
    ]
    for i, line in enumerate(notes):
        els.append(f'<text x="90" y="{H - 34 + 16 * i}" fill="#555">{line}</text>')
    els.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(els) + "\n")
    print("wrote", out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    ap.add_argument("--out", default=DEFAULT_OUT)
    a = ap.parse_args()
    write(a.table, a.out)


if __name__ == "__main__":
    main()
