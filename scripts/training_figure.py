#!/usr/bin/env python3
"""Draws docs/figures/training.svg from lnfold-train's per-epoch curves (its --curves file).

    ./build/release/examples/lnfold-train --json train.json --curves curves.json
    python3 scripts/training_figure.py curves.json docs/figures/training.svg

One panel per dropout rate: test accuracy after each epoch, the mean over seeds as a line and the
range over seeds (min to max) as a band, one colour per norm variant. Plain SVG written by hand: no
plotting package needed.
"""
import json
import math
import sys
from collections import defaultdict

COLOURS = {"layer_norm": "#1b6ca8", "rms_norm": "#d1495b", "cbwc_rms_norm": "#2e933c"}
DASHES = {"layer_norm": "", "rms_norm": "", "cbwc_rms_norm": "6,4"}
LABELS = {"layer_norm": "LayerNorm", "rms_norm": "RMSNorm, naive swap", "cbwc_rms_norm": "CBWC + RMSNorm"}


def load(path):
    with open(path) as f:
        data = json.load(f)
    curves = defaultdict(list)  # (dropout, norm) -> [[accuracy per epoch] per seed]
    for run in data["runs"]:
        curves[(run["dropout"], run["norm"])].append(run["test_accuracy"])
    return data, curves


def main():
    src, dst = sys.argv[1], sys.argv[2]
    data, curves = load(src)
    epochs = data["epochs"]
    dropouts = sorted({k[0] for k in curves})
    norms = [n for n in COLOURS if any(k[1] == n for k in curves)]
    all_acc = [a for runs in curves.values() for run in runs for a in run]
    lo = math.floor(min(all_acc) * 100 / 2) * 2 / 100
    hi = math.ceil(max(all_acc) * 100 / 2) * 2 / 100
    if hi - lo < 0.04:
        hi = lo + 0.04
    panel_w, panel_h, left0, top, gap = 380, 300, 70, 60, 110
    W = left0 + len(dropouts) * panel_w + (len(dropouts) - 1) * gap + 40
    H = top + panel_h + 110
    cfg = data.get("config", {})
    title = (f"Fashion-MNIST, pre-LN ViT (d {cfg.get('d', '?')}, {cfg.get('blocks', '?')} blocks, "
             f"{cfg.get('train_images', '?')} training images): test accuracy per epoch, "
             f"{len(next(iter(curves.values())))} seeds")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W/2}" y="22" text-anchor="middle" font-size="14">{title}</text>']

    def x_of(px, e):  # e = 1..epochs
        return px + (e - 1) / max(epochs - 1, 1) * panel_w

    def y_of(a):
        return top + panel_h - (a - lo) / (hi - lo) * panel_h

    for i, p in enumerate(dropouts):
        px = left0 + i * (panel_w + gap)
        out.append(f'<text x="{px + panel_w/2}" y="{top - 12}" text-anchor="middle" font-size="13">'
                   f'dropout {p:g}{" (CBWC exact)" if p == 0 else " (exactness broken)"}</text>')
        out.append(f'<rect x="{px}" y="{top}" width="{panel_w}" height="{panel_h}" fill="none" stroke="#444"/>')
        steps = 5
        for k in range(steps + 1):
            a = lo + (hi - lo) * k / steps
            yy = y_of(a)
            out.append(f'<line x1="{px}" x2="{px + panel_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{px - 6}" y="{yy + 4:.1f}" text-anchor="end">{100 * a:.1f}%</text>')
        for e in range(1, epochs + 1):
            out.append(f'<text x="{x_of(px, e):.1f}" y="{top + panel_h + 16}" text-anchor="middle">{e}</text>')
        out.append(f'<text x="{px + panel_w/2}" y="{top + panel_h + 34}" text-anchor="middle">epoch</text>')
        for n in norms:
            runs = curves.get((p, n))
            if not runs:
                continue
            per_epoch = list(zip(*runs))
            mean = [sum(v) / len(v) for v in per_epoch]
            low = [min(v) for v in per_epoch]
            high = [max(v) for v in per_epoch]
            band = [f"{x_of(px, e + 1):.1f},{y_of(a):.1f}" for e, a in enumerate(high)]
            band += [f"{x_of(px, e + 1):.1f},{y_of(a):.1f}" for e, a in reversed(list(enumerate(low)))]
            out.append(f'<polygon points="{" ".join(band)}" fill="{COLOURS[n]}" fill-opacity="0.12" stroke="none"/>')
            line = " ".join(f"{x_of(px, e + 1):.1f},{y_of(a):.1f}" for e, a in enumerate(mean))
            dash = f' stroke-dasharray="{DASHES[n]}"' if DASHES[n] else ""
            out.append(f'<polyline points="{line}" fill="none" stroke="{COLOURS[n]}" stroke-width="2"{dash}/>')
            for e, a in enumerate(mean):
                out.append(f'<circle cx="{x_of(px, e + 1):.1f}" cy="{y_of(a):.1f}" r="2.5" fill="{COLOURS[n]}"/>')
    # Legend under the panels.
    lx, ly = left0, top + panel_h + 62
    for n in norms:
        dash = f' stroke-dasharray="{DASHES[n]}"' if DASHES[n] else ""
        out.append(f'<line x1="{lx}" x2="{lx + 30}" y1="{ly}" y2="{ly}" stroke="{COLOURS[n]}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{lx + 36}" y="{ly + 4}">{LABELS[n]}</text>')
        lx += 230
    out.append(f'<text x="{left0}" y="{ly + 26}" fill="#555">lines: mean over seeds; bands: min to max over seeds</text>')
    out.append("</svg>")
    with open(dst + ".tmp", "w") as f:
        f.write("\n".join(out) + "\n")
    import os
    os.replace(dst + ".tmp", dst)


if __name__ == "__main__":
    main()
