#!/usr/bin/env python3
"""Draws docs/figures/sweep.svg from bench_e2e's BM_sweep results (Google Benchmark JSON).

    ./build/release/bench/bench_e2e --benchmark_filter=BM_sweep --benchmark_repetitions=3 \\
        --benchmark_out=sweep.json --benchmark_out_format=json
    python3 scripts/sweep_figure.py sweep.json docs/figures/sweep.svg

Left: share of the original forward spent in normalization (norm_share counter, minimum of the
repetitions; median if no minimum is reported). Right: whole-forward speedup over the original, t_original / t_variant on CPU time
(minimum over repetitions, else median), for the converted model (solid) and with every norm removed (dashed: the limit).
One colour per token count. Plain SVG written by hand: no plotting package needed.
"""
import json
import math
import sys
from collections import defaultdict


def load(path):
    with open(path) as f:
        data = json.load(f)
    runs = defaultdict(list)  # (variant, d, tokens) -> [(cpu_time, norm_share)]
    medians = {}
    for b in data["benchmarks"]:
        parts = b["run_name"].split("/") if "run_name" in b else b["name"].split("/")
        if parts[0] != "BM_sweep":
            continue
        key = (parts[1], int(parts[2]), int(parts[3]))
        if b.get("run_type") == "aggregate":
            # "min" (bench_e2e adds it) when present: noise on a shared machine only adds time.
            if b.get("aggregate_name") == "min" or (b.get("aggregate_name") == "median" and key not in medians):
                medians[key] = (b["cpu_time"], b["norm_share"])
        else:
            runs[key].append((b["cpu_time"], b["norm_share"]))
    for key, values in runs.items():
        if key not in medians:
            cpu = sorted(v[0] for v in values)
            share = sorted(v[1] for v in values)
            medians[key] = (cpu[len(cpu) // 2], share[len(share) // 2])
    return medians


def main():
    src, dst = sys.argv[1], sys.argv[2]
    m = load(src)
    ds = sorted({k[1] for k in m})
    ts = sorted({k[2] for k in m})
    colours = ["#1b6ca8", "#d1495b", "#2e933c", "#8e5ea2", "#edae49"]
    W, H = 960, 420
    panel_w, panel_h = 380, 300
    left = [70, 560]
    top = 60
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W/2}" y="22" text-anchor="middle" font-size="15">4-layer pre-LN stack (GPT-2 blocks), '
           f'batch 1, 1 thread: where LayerNorm → RMSNorm pays off</text>']

    def x_of(px, d):
        lo, hi = math.log2(ds[0]), math.log2(ds[-1])
        return px + (math.log2(d) - lo) / (hi - lo) * panel_w

    def axes(px, title, ylo, yhi, yticks, fmt):
        out.append(f'<text x="{px + panel_w/2}" y="{top - 12}" text-anchor="middle" font-size="13">{title}</text>')
        out.append(f'<rect x="{px}" y="{top}" width="{panel_w}" height="{panel_h}" fill="none" stroke="#444"/>')
        for y in yticks:
            yy = top + panel_h - (y - ylo) / (yhi - ylo) * panel_h
            out.append(f'<line x1="{px}" x2="{px + panel_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{px - 6}" y="{yy + 4:.1f}" text-anchor="end">{fmt(y)}</text>')
        for d in ds:
            xx = x_of(px, d)
            out.append(f'<text x="{xx:.1f}" y="{top + panel_h + 16}" text-anchor="middle">{d}</text>')
        out.append(f'<text x="{px + panel_w/2}" y="{top + panel_h + 34}" text-anchor="middle">hidden size d</text>')
        return lambda y: top + panel_h - (min(max(y, ylo), yhi) - ylo) / (yhi - ylo) * panel_h

    # Left: normalization share of the original forward, %.
    shares = [100 * m[("original", d, t)][1] for d in ds for t in ts if ("original", d, t) in m]
    smax = max(5.0, math.ceil(max(shares) / 5) * 5)
    y_share = axes(left[0], "time in normalization, original model (% of forward)", 0, smax,
                   [smax * i / 5 for i in range(6)], lambda v: f"{v:.0f}%")
    for i, t in enumerate(ts):
        pts = [(x_of(left[0], d), y_share(100 * m[("original", d, t)][1])) for d in ds if ("original", d, t) in m]
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' %
                   (colours[i], " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)))
        for x, y in pts:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colours[i]}"/>')

    # Right: speedup over the original (CPU time), converted solid, no norms dashed.
    ratios = []
    for d in ds:
        for t in ts:
            if ("original", d, t) in m:
                for v in ("converted", "no_norm"):
                    if (v, d, t) in m:
                        ratios.append(m[("original", d, t)][0] / m[(v, d, t)][0])
    rlo = min(0.95, math.floor(min(ratios) * 50) / 50)
    rhi = max(1.05, math.ceil(max(ratios) * 50) / 50)
    step = (rhi - rlo) / 5
    y_ratio = axes(left[1], "whole-forward speedup over the original (CPU time)", rlo, rhi,
                   [rlo + step * i for i in range(6)], lambda v: f"{v:.2f}×")
    yy = y_ratio(1.0)
    out.append(f'<line x1="{left[1]}" x2="{left[1] + panel_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#888"/>')
    for i, t in enumerate(ts):
        for v, dash in (("converted", ""), ("no_norm", ' stroke-dasharray="5,4"')):
            pts = [(x_of(left[1], d), y_ratio(m[("original", d, t)][0] / m[(v, d, t)][0]))
                   for d in ds if (v, d, t) in m and ("original", d, t) in m]
            out.append('<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>' %
                       (colours[i], dash, " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)))
            for x, y in pts:
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colours[i]}"/>')

    # Legend.
    lx, ly = 70, H - 20
    for i, t in enumerate(ts):
        out.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{ly - 4}" y2="{ly - 4}" stroke="{colours[i]}" stroke-width="2"/>')
        out.append(f'<text x="{lx + 30}" y="{ly}">{t} tokens</text>')
        lx += 110
    out.append(f'<line x1="{lx + 20}" x2="{lx + 44}" y1="{ly - 4}" y2="{ly - 4}" stroke="#444" stroke-width="2"/>')
    out.append(f'<text x="{lx + 50}" y="{ly}">converted (RMSNorm)</text>')
    lx += 200
    out.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{ly - 4}" y2="{ly - 4}" stroke="#444" stroke-width="2" stroke-dasharray="5,4"/>')
    out.append(f'<text x="{lx + 30}" y="{ly}">norms removed (the limit)</text>')
    out.append("</svg>")
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
