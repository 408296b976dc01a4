"""Inline SVG plots for the HTML report: the run timeline and resource line charts.

Generated as text here (no JS libraries, no network). Every string that reaches the SVG
goes through ``html.escape``; links only ever point at in-page anchors built from
integers. Sizes are bounded: each lane draws at most ``MAX_MARKS`` markers over a
density strip computed from the decimated samples (weighted by their stride).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

LANE_COLOR = {
    "findings": "#d7263d", "net": "#1b6ca8", "fs": "#2a9d8f", "proc": "#8e6c8a", "gpu": "#e76f51",
    "res": "#6c757d", "sandbox": "#264653", "ptaudit": "#495057", "detector": "#b5179e", "other": "#adb5bd",
}
SEV_COLOR = {"critical": "#9d0208", "high": "#d7263d", "medium": "#f4a261", "low": "#2a9d8f", "info": "#8d99ae"}
MAX_MARKS = 400
BUCKETS = 160
W, LEFT, RIGHT = 1180, 96, 16
PLOT_W = W - LEFT - RIGHT

Mark = tuple[int, int, str, str]  # ts, seq, kind, label


def fmt_dur(s: float) -> str:
    if s == 0:
        return "0"
    if s < 1:
        return f"{s * 1000:.0f}ms" if s >= 0.01 or s == 0 else f"{s * 1000:.1f}ms"
    if s < 120:
        return f"{s:.0f}s" if s >= 10 or s == int(s) else f"{s:.1f}s"
    if s < 7200:
        return f"{s / 60:.0f}m"
    return f"{s / 3600:.1f}h"


def _ticks(span: float, n: int = 8) -> list[float]:
    if span <= 0:
        return [0.0]
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    for nice in (60, 120, 300, 600, 1800, 3600, 7200):  # minutes and hours read better
        if raw > 30 and nice >= raw:
            step = nice
            break
    return [i * step for i in range(int(span / step) + 1)]


def _x(ts: int, t0: int, span_ns: int, plot_w: float = PLOT_W) -> float:
    return LEFT + (ts - t0) / span_ns * plot_w if span_ns else LEFT


def _axis(t0: int, span_ns: int, y: float, height: float, plot_w: float = PLOT_W) -> list[str]:
    out = []
    for t in _ticks(span_ns / 1e9, 8 if plot_w > 700 else 4):
        x = LEFT + t * 1e9 / span_ns * plot_w if span_ns else LEFT
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y - height:.0f}" y2="{y:.0f}" class="grid"/>'
                   f'<text x="{x:.1f}" y="{y + 14:.0f}" class="tick" text-anchor="middle">{fmt_dur(t)}</text>')
    return out


def timeline(lanes: dict[str, tuple[list[Mark], int]], specials: list[tuple[int, int, str, str]],
             findings: list[tuple[int, int, str, str]], t0: int, t1: int) -> str:
    """lanes: name -> (decimated marks, stride); specials: (ts, seq, lane, label);
    findings: (ts, index, severity, label). Returns one <svg> element."""
    span = max(t1 - t0, 1)
    # lanes arrive in the monitor registry's order (scan.Scan.lanes), "other" last
    names = ["findings"] + [n for n in lanes if n != "other"] + (["other"] if "other" in lanes else [])
    lane_h, top = 30, 8
    height = top + lane_h * len(names) + 26
    out = [f'<svg class="timeline" viewBox="0 0 {W} {height}" width="100%" role="img" '
           f'aria-label="timeline of the run" xmlns="http://www.w3.org/2000/svg">']
    out += _axis(t0, span, top + lane_h * len(names), lane_h * len(names))
    for i, name in enumerate(names):
        y = top + i * lane_h
        color = LANE_COLOR.get(name, LANE_COLOR["other"])
        out.append(f'<rect x="{LEFT}" y="{y + 2}" width="{PLOT_W}" height="{lane_h - 4}" class="lane"/>'
                   f'<text x="{LEFT - 8}" y="{y + lane_h / 2 + 4}" class="lanename" text-anchor="end">{name}</text>')
        if name == "findings":
            for ts, idx, sev, lab in findings:
                x = _x(ts, t0, span)
                c = SEV_COLOR.get(sev, "#d7263d")
                out.append(f'<a href="#f-{idx}"><path d="M{x:.1f} {y + 5} l7 10 l-7 10 l-7 -10 z" fill="{c}" '
                           f'stroke="#fff" stroke-width="1"><title>{escape(lab)}</title></path></a>')
            continue
        marks, stride = lanes[name]
        counts = [0] * BUCKETS
        for ts, *_ in marks:
            counts[min(BUCKETS - 1, int((ts - t0) / span * BUCKETS))] += stride
        peak = max(counts) or 1
        bw = PLOT_W / BUCKETS
        for b, n in enumerate(counts):
            if n:
                h = max(2.0, (lane_h - 6) * n / peak)
                out.append(f'<rect x="{LEFT + b * bw:.1f}" y="{y + lane_h - 3 - h:.1f}" width="{bw:.1f}" '
                           f'height="{h:.1f}" fill="{color}" opacity="0.18"/>')
        step = max(1, math.ceil(len(marks) / MAX_MARKS))
        for ts, seq, _kind, lab in marks[::step]:
            x = _x(ts, t0, span)
            out.append(f'<rect x="{x - 0.6:.1f}" y="{y + 7}" width="1.6" height="{lane_h - 14}" fill="{color}">'
                       f'<title>seq {seq}: {escape(lab[:100])}</title></rect>')
    for ts, seq, lane, lab in specials:
        if lane not in names:
            continue
        y = top + names.index(lane) * lane_h
        x = _x(ts, t0, span)
        out.append(f'<rect x="{x - 1.5:.1f}" y="{y + 3}" width="3" height="{lane_h - 6}" fill="#d7263d">'
                   f'<title>seq {seq}: {escape(lab[:160])}</title></rect>')
    out.append("</svg>")
    return "".join(out)


Series = tuple[str, str, Sequence[tuple[int, float]]]  # name, color, (ts, value)


def line_chart(title: str, series: Sequence[Series], t0: int, t1: int, fmt: Callable[[float], str],
               ymax: float | None = None, height: int = 150, width: int = W) -> str:
    """A small time-series chart sharing the timeline's time range."""
    span = max(t1 - t0, 1)
    plot_w = width - LEFT - RIGHT
    top, bottom = 22, height - 22
    pts_all = [v for _, _, pts in series for _, v in pts]
    top_v = ymax if ymax else (max(pts_all) if pts_all else 1.0) or 1.0
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
           f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
           f'<text x="{LEFT}" y="14" class="ctitle">{escape(title)}</text>',
           f'<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{bottom - top}" class="lane"/>']
    out += _axis(t0, span, bottom, bottom - top, plot_w)
    for frac in (0.5, 1.0):
        y = bottom - (bottom - top) * frac
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.0f}" class="tick" text-anchor="end">{escape(fmt(top_v * frac))}</text>'
                   f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
    lx = LEFT + plot_w
    for name, color, pts in reversed(series):
        if not pts:
            continue
        coords = " ".join(f"{_x(ts, t0, span, plot_w):.1f},{bottom - (bottom - top) * min(v / top_v, 1.0):.1f}"
                          for ts, v in pts)
        out.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="1.6"/>')
        label = f"{name}: max {fmt(max(v for _, v in pts))}"
        out.append(f'<text x="{lx}" y="14" class="legend" text-anchor="end" fill="{color}">{escape(label)}</text>')
        lx -= 12 + 7 * len(label)
    out.append("</svg>")
    return "".join(out)
