"""Small inline SVG charts for the HTML report: our own few functions instead of a chart library,
so the page works offline and from a file. Every text is escaped; every chart is one `<svg>`
string with a title for screen readers and a `<title>` tooltip on each mark.
"""

from __future__ import annotations

import math
from html import escape
from typing import Callable, Sequence

__all__ = ["stacked_bars", "line_chart", "share_bars", "count_bars", "histogram", "nice_max"]

Fmt = Callable[[float], str]
_W = 960  # viewBox width; the page scales it to the column
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 16, 34, 40
_AXIS = "#9aa0a6"
_TEXT = "#3c4043"


def nice_max(v: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `v` (1.0 for nothing)."""
    if v <= 0:
        return 1.0
    p = 10 ** math.floor(math.log10(v))
    return next(m * p for m in (1, 2, 2.5, 5, 10) if m * p >= v * (1 - 1e-12))


def _svg(title: str, height: int, body: list[str], chart_id: str) -> str:
    t = escape(title)
    return (
        f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {_W} {height}" role="img" aria-label="{t}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{t}</title>' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, s: str, anchor: str = "start", size: int = 12, fill: str = _TEXT, extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}" text-anchor="{anchor}"{extra}>'
        f"{escape(s)}</text>"
    )


def _legend(items: Sequence[tuple[str, str, bool]]) -> list[str]:
    out, x = [], _LEFT
    for name, color, dashed in items:
        if dashed:
            out.append(f'<line x1="{x}" y1="13" x2="{x + 18}" y2="13" stroke="{color}" stroke-width="3" stroke-dasharray="5 3"/>')
        else:
            out.append(f'<rect x="{x}" y="6" width="14" height="14" rx="2" fill="{color}"/>')
        out.append(_text(x + 22, 18, name))
        x += 30 + 7.5 * len(name)
    return out


def _y_axis(height: int, ymax: float, fmt: Fmt, ticks: int = 4) -> list[str]:
    plot_h = height - _TOP - _BOTTOM
    out = []
    for i in range(ticks + 1):
        y = height - _BOTTOM - plot_h * i / ticks
        out.append(f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_W - _RIGHT}" y2="{y:.1f}" stroke="#e8eaed"/>')
        out.append(_text(_LEFT - 8, y + 4, fmt(ymax * i / ticks), "end", 11))
    return out


def _x_labels(labels: Sequence[str], xs: Sequence[float], height: int) -> list[str]:
    step = max(1, math.ceil(len(labels) / 12))  # about twelve labels fit the width
    return [_text(x, height - _BOTTOM + 18, lab, "middle", 11) for i, (lab, x) in enumerate(zip(labels, xs)) if i % step == 0]


def stacked_bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    *,
    title: str,
    fmt: Fmt,
    chart_id: str,
    height: int = 280,
) -> str:
    """One bar per label, stacked by series (name, colour, values in label order)."""
    totals = [sum(s[2][i] for s in series) for i in range(len(labels))]
    ymax = nice_max(max(totals, default=0))
    plot_w, plot_h = _W - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    slot = plot_w / max(len(labels), 1)
    body = _legend([(n, c, False) for n, c, _ in series]) + _y_axis(height, ymax, fmt)
    for i, lab in enumerate(labels):
        x, base = _LEFT + i * slot + slot * 0.1, height - _BOTTOM
        for name, color, values in series:
            h = plot_h * values[i] / ymax
            if h <= 0:
                continue
            base -= h
            body.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" fill="{color}">'
                f"<title>{escape(f'{lab} {name}: {fmt(values[i])}')}</title></rect>"
            )
    body += _x_labels(labels, [_LEFT + (i + 0.5) * slot for i in range(len(labels))], height)
    return _svg(title, height, body, chart_id)


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float], bool]],
    *,
    title: str,
    fmt: Fmt,
    chart_id: str,
    height: int = 280,
) -> str:
    """Lines (name, colour, values, dashed) over the labels; the last value of each is written."""
    ymax = nice_max(max((v for s in series for v in s[2]), default=0))
    plot_w, plot_h = _W - _LEFT - _RIGHT - 90, height - _TOP - _BOTTOM  # room on the right for end labels
    n = len(labels)
    xs = [_LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2) for i in range(n)]
    body = _legend([(nm, c, d) for nm, c, _, d in series]) + _y_axis(height, ymax, fmt)
    for name, color, values, dashed in series:
        pts = " ".join(f"{x:.1f},{height - _BOTTOM - plot_h * v / ymax:.1f}" for x, v in zip(xs, values))
        dash = ' stroke-dasharray="7 4"' if dashed else ""
        body.append(
            f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2.5"{dash}>'
            f"<title>{escape(name)}</title></polyline>"
        )
        if values:
            y = height - _BOTTOM - plot_h * values[-1] / ymax
            body.append(_text(xs[-1] + 8, y + 4, fmt(values[-1]), fill=color, extra=' font-weight="600"'))
    body += _x_labels(labels, xs, height)
    return _svg(title, height, body, chart_id)


def share_bars(
    rows: Sequence[tuple[str, Sequence[tuple[str, str, float]]]], *, title: str, chart_id: str
) -> str:
    """One 100 % bar per row label, split into (name, colour, share) segments, shares written in."""
    bar_h, gap, left = 26, 12, 170
    height = _TOP + len(rows) * (bar_h + gap) + 8
    width = _W - left - _RIGHT
    legend: dict[str, str] = {}
    body: list[str] = []
    for i, (label, segments) in enumerate(rows):
        y, x = _TOP + i * (bar_h + gap), float(left)
        body.append(_text(left - 10, y + bar_h / 2 + 4, label, "end"))
        for name, color, share in segments:
            legend.setdefault(name, color)
            w = width * share
            body.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}">'
                f"<title>{escape(f'{label} {name}: {share * 100:.1f} %')}</title></rect>"
            )
            if w > 44:
                body.append(_text(x + w / 2, y + bar_h / 2 + 4, f"{share * 100:.0f} %", "middle", 12, "#fff"))
            x += w
    return _svg(title, height, _legend([(n, c, False) for n, c in legend.items()]) + body, chart_id)


def count_bars(items: Sequence[tuple[str, int]], *, title: str, color: str, chart_id: str) -> str:
    """Horizontal bars with their counts, e.g. fallback reasons."""
    bar_h, gap, left = 22, 8, 170
    height = 12 + len(items) * (bar_h + gap)
    top = max((n for _, n in items), default=1) or 1
    width = _W - left - _RIGHT - 60
    body = []
    for i, (label, n) in enumerate(items):
        y = 8 + i * (bar_h + gap)
        w = max(width * n / top, 1)
        body.append(_text(left - 10, y + bar_h / 2 + 4, label, "end"))
        body.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="2" fill="{color}"/>')
        body.append(_text(left + w + 8, y + bar_h / 2 + 4, str(n)))
    return _svg(title, height, body, chart_id)


def histogram(
    values: Sequence[float],
    *,
    title: str,
    color: str,
    chart_id: str,
    markers: Sequence[tuple[float, str, str]] = (),
    fmt: Fmt = lambda v: f"{v:g} s",
    bins: int = 24,
    height: int = 260,
) -> str:
    """Counts of `values` in equal bins from 0, with vertical markers (value, label, colour)."""
    xmax = nice_max(max([*values, *(m[0] for m in markers)], default=0))
    counts = [0] * bins
    for v in values:
        counts[min(int(v / xmax * bins), bins - 1)] += 1
    ymax = nice_max(max(counts, default=0))
    plot_w, plot_h = _W - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    slot = plot_w / bins
    body = _y_axis(height, ymax, lambda v: f"{v:g}")
    for i, n in enumerate(counts):
        if n:
            h = plot_h * n / ymax
            lo, hi = xmax * i / bins, xmax * (i + 1) / bins
            body.append(
                f'<rect x="{_LEFT + i * slot + 1:.1f}" y="{height - _BOTTOM - h:.1f}" width="{slot - 2:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{escape(f"{fmt(lo)}-{fmt(hi)}: {n}")}</title></rect>'
            )
    for k in range(5):
        body.append(_text(_LEFT + plot_w * k / 4, height - _BOTTOM + 18, fmt(xmax * k / 4), "middle", 11))
    for j, (v, label, mcolor) in enumerate(markers):
        x = _LEFT + plot_w * v / xmax
        body.append(
            f'<line x1="{x:.1f}" y1="{_TOP - 6}" x2="{x:.1f}" y2="{height - _BOTTOM}" stroke="{mcolor}" '
            f'stroke-width="2" stroke-dasharray="6 3"/>'
        )
        anchor = "end" if x > _W * 0.8 else "start"
        body.append(_text(x + (-6 if anchor == "end" else 6), _TOP + 6 + 16 * j, label, anchor, 12, mcolor,
                          ' font-weight="600"'))
    return _svg(title, height, body, chart_id)
