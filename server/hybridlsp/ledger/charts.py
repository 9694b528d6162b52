"""Small terminal charts for `hybridlsp report`: block-character bars and sparklines.

Only drawn where they will show: a TTY whose encoding is UTF-8 and whose TERM is not "dumb";
pipes and files keep the plain table, so scripts that parse it see no change.
"""

from __future__ import annotations

import os
from typing import TextIO

from . import series
from .records import Row
from .report import Report

__all__ = ["can_draw", "sparkline", "bar", "render_charts"]

_SPARKS = "▁▂▃▄▅▆▇█"
_EIGHTHS = " ▏▎▍▌▋▊▉█"
_MAX_DAYS = 60  # a sparkline wider than this wraps on an 80-column terminal


def can_draw(stream: TextIO, env: dict | None = None) -> bool:
    env = os.environ if env is None else env
    isatty = getattr(stream, "isatty", None)
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    return bool(isatty and isatty()) and encoding == "utf8" and env.get("TERM", "") != "dumb"


def sparkline(values: list[float], top: float | None = None) -> str:
    """One character per value on a shared scale up to `top`; a space is exactly zero, so a day
    with a tiny spend still shows."""
    top = max(values, default=0) if top is None else top
    out = []
    for v in values:
        if v <= 0 or top <= 0:
            out.append(" ")
        else:
            out.append(_SPARKS[min(len(_SPARKS) - 1, int(v / top * (len(_SPARKS) - 1) + 0.5))])
    return "".join(out)


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of `fraction` (0-1) of `width` cells, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (_EIGHTHS[part] if part else "")).ljust(width)


def _name(tier: int) -> str:
    return f"t{tier}" if tier else "embedded"


def _order(tier: int) -> tuple[bool, int]:
    return tier == 0, tier  # the embedded last resort after the real tiers


def render_charts(rows: list[Row], report: Report, width: int = 40) -> str:
    """Tier shares as bars, spend per day and tier as sparklines on one scale. `rows` must be the
    rows the report was computed from (same `since` window)."""
    if not report.routed:
        return ""
    label_w = max(len(_name(t)) for t in report.tier_shares) + 2
    lines = ["tier shares"]
    for tier in sorted(report.tier_shares, key=_order):
        share = report.tier_shares[tier]
        lines.append(f"  {_name(tier):<{label_w}}{bar(share, width)} {share * 100:5.1f} %")

    by_day = series.spend_by_day(rows)
    shown = list(by_day)[-_MAX_DAYS:]
    totals = [sum(by_day[d].values()) for d in shown]
    top = max(totals, default=0)
    if top > 0:
        lines += ["", f"spend per day, {shown[0].isoformat()} to {shown[-1].isoformat()} (one scale, top ${top:.4f})"]
        tiers = sorted({t for d in shown for t, v in by_day[d].items() if v > 0}, key=_order)
        for tier in tiers:
            lines.append(f"  {_name(tier):<{label_w}}{sparkline([by_day[d].get(tier, 0.0) for d in shown], top)}")
        lines.append(f"  {'all':<{label_w}}{sparkline(totals, top)}")
    return "\n".join(lines)
