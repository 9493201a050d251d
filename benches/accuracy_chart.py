#!/usr/bin/env python3
"""The accuracy picture: five-fold test minADE20 / minFDE20 of every shipped model against the
network passes it takes per forecast, drawn from the figures stored in the cards under models/
(`fewstep-distill eval --write-metrics`, noise seed 0), with MoFlow's published figures and the
issue's targets for reference. Writes docs/accuracy.svg (plain SVG, no plotting library).

usage: .venv-ref/bin/python benches/accuracy_chart.py [--out docs/accuracy.svg]
"""
import argparse
import json
import math
import os

import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENES = ["eth", "hotel", "univ", "zara1", "zara2"]
# MoFlow (CVPR 2025), ETH-UCY five-fold averages as published (selected on test, LED's data
# version): its 100-step teacher and its one-step IMLE student.
MOFLOW = [
    ("MoFlow's teacher, paper (hollow)", "#555555", 100, 0.20, 0.32),
    ("MoFlow's IMLE student, paper (hollow)", "#d62728", 1, 0.21, 0.33),
]
TARGETS = [("teacher", 0.22, 0.36), ("student", 0.23, 0.38)]


def card(path):
    m = onnx.load(path, load_external_data=False)
    for p in m.metadata_props:
        if p.key == "fewstep":
            return json.loads(p.value)
    raise SystemExit(f"{path}: no fewstep card")


def five_fold(model, tag):
    """Mean over the five folds of the card metrics `test_min{ADE,FDE}20_<tag>`; `tag` may be a
    function of the card (the teacher's own sampler differs per fold)."""
    ade, fde = [], []
    for s in SCENES:
        c = card(os.path.join(ROOT, "models", s, model + ".onnx"))
        t = tag(c) if callable(tag) else tag
        m = c["metrics"]
        ade.append(m[f"test_minADE20_{t}"])
        fde.append(m[f"test_minFDE20_{t}"])
    return sum(ade) / 5, sum(fde) / 5


def card_steps(c):
    return len(c["sampler"]["times"]) - 1


def series():
    """(label, colour, [(passes, minADE, minFDE)], joined by a line?, hollow?)"""
    teacher = [(n, *five_fold("teacher", f"euler{n}")) for n in (1, 2, 10, 100)]
    steps = [card_steps(card(os.path.join(ROOT, "models", s, "teacher.onnx"))) for s in SCENES]
    own = (sum(steps) / 5, *five_fold("teacher", lambda c: f"euler{card_steps(c)}"))
    return [
        ("teacher, 1 / 2 / 10 / 100 uniform Euler steps", "#555555", teacher, True, False),
        (f"teacher at its card's val-chosen steps ({'/'.join(map(str, steps))})", "#000000", [own], False, False),
        ("reflow student, 1 and 2 steps", "#1f77b4", [(n, *five_fold("reflow", f"euler{n}")) for n in (1, 2)], True, False),
        ("MDT-dist student, 1 and 2 steps", "#2ca02c", [(n, *five_fold("mdt", f"euler{n}")) for n in (1, 2)], True, False),
        ("IMLE student (a generator: 1 pass)", "#d62728", [(1, *five_fold("imle", "card"))], False, False),
    ] + [(label, colour, [(n, a, f)], False, True) for label, colour, n, a, f in MOFLOW]


def panel(x0, y0, w, h, metric, lo, hi, data, title):
    """One panel: log2 passes (1..128) across, the metric up; returns SVG elements."""
    out = []
    px = lambda n: x0 + w * math.log2(n) / 7.0
    py = lambda v: y0 + h * (hi - v) / (hi - lo)
    out.append(f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>')
    out.append(f'<text x="{x0 + w / 2}" y="{y0 - 10}" text-anchor="middle" font-weight="bold">{title}</text>')
    for n in (1, 2, 4, 8, 16, 32, 64, 128):
        out.append(f'<line x1="{px(n)}" y1="{y0 + h}" x2="{px(n)}" y2="{y0 + h + 5}" stroke="#999"/>')
        out.append(f'<text x="{px(n)}" y="{y0 + h + 18}" text-anchor="middle">{n}</text>')
    out.append(f'<text x="{x0 + w / 2}" y="{y0 + h + 36}" text-anchor="middle">network passes per forecast (log scale)</text>')
    v = lo
    while v <= hi + 1e-9:
        out.append(f'<line x1="{x0}" y1="{py(v):.1f}" x2="{x0 + w}" y2="{py(v):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x0 - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>')
        v += 0.02
    out.append(f'<text transform="translate({x0 - 48},{y0 + h / 2}) rotate(-90)" text-anchor="middle">{metric} (m)</text>')
    i = 1 if metric == "minADE20" else 2
    for label, value in [(t[0], t[i]) for t in TARGETS]:
        out.append(f'<line x1="{x0}" y1="{py(value):.1f}" x2="{x0 + w}" y2="{py(value):.1f}" stroke="#e377c2" stroke-dasharray="6,4"/>')
        out.append(f'<text x="{x0 + w + 4}" y="{py(value) + 4:.1f}" font-size="11" fill="#e377c2">{label} ≤ {value:.2f}</text>')
    for _, colour, pts, joined, hollow in data:
        xy = [(px(p[0]), py(p[i])) for p in pts]
        if joined:
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            out.append(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in xy:
            fill = "white" if hollow else colour
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{fill}" stroke="{colour}" stroke-width="2"/>')
    return out


def wrap(text, width):
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + [line]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "accuracy.svg"))
    a = ap.parse_args()
    data = series()
    for label, _, pts, _, _ in data:
        print(label, " ".join(f"{n:g} passes: {ade:.4f}/{fde:.4f}" for n, ade, fde in pts))
    W, H = 1230, 480
    els = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">ETH-UCY, five-fold test average (fewstep: val-selected, noise seed 0)</text>',
    ]
    els += panel(70, 60, 330, 300, "minADE20", 0.18, 0.26, data, "minADE20")
    els += panel(580, 60, 330, 300, "minFDE20", 0.30, 0.42, data, "minFDE20")
    y = 70
    for label, colour, _, joined, hollow in data:
        fill = "white" if hollow else colour
        els.append(f'<circle cx="1038" cy="{y - 4}" r="5" fill="{fill}" stroke="{colour}" stroke-width="2"/>')
        for line in wrap(label, 24):
            els.append(f'<text x="1050" y="{y}">{line}</text>')
            y += 15
        y += 10
    for i, line in enumerate([
        "Pink dashed: the issue's targets (teacher; best 1-step student). One network pass of every shipped net: 3.8 M multiply-adds per agent (MoFlow's: about 36 M),",
        "about 85 µs for an agent's 20 futures on one CPU thread (docs/BENCHMARKS.md). MoFlow selects on test, on another data version.",
    ]):
        els.append(f'<text x="70" y="{H - 34 + 16 * i}" fill="#555">{line}</text>')
    els.append("</svg>")
    with open(a.out, "w") as f:
        f.write("\n".join(els) + "\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
