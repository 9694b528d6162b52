"""`hybridlsp report --html`: the usage report as one self-contained page.

Inline CSS and inline SVG only (no scripts, no fonts, no CDN), so it opens offline, from a file,
or as an e-mail attachment. Headline numbers and their ok/miss come from `compute_report`; the
charts are breakdowns from `series`, which select rows the same way. All text is escaped.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from html import escape

from . import series, svg
from .records import Feedback, Row
from .report import Metric, Report, compute_report

__all__ = ["render_html", "TIER_COLORS", "TIER_NAMES"]

TIER_COLORS = {1: "#2e9d5b", 2: "#3b73c4", 3: "#e07b24", 0: "#8a8f98"}
TIER_NAMES = {1: "tier 1 (small local)", 2: "tier 2 (large local)", 3: "tier 3 (cloud)", 0: "embedded"}
_TIER_ORDER = (1, 2, 3, 0)  # bottom to top in the stacks: the cheap tiers first
_MISS = "#c5221f"
_TARGET = "#5f6368"

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#202124;background:#f8f9fa;margin:0}
main{max-width:1040px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:0 0 8px}
.sub{color:#5f6368;margin:0 0 20px}
section{background:#fff;border:1px solid #dadce0;border-radius:8px;padding:16px 20px;margin:0 0 18px}
.cards{display:grid;grid-template-columns:repeat(5,1fr);gap:12px;margin:0 0 18px}
.card{background:#fff;border:1px solid #dadce0;border-radius:8px;padding:12px}
.card .name{color:#5f6368;font-size:13px}.card .value{font-size:22px;font-weight:600;margin:2px 0}
.card .target{font-size:13px;color:#5f6368}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;color:#fff}
.badge.ok{background:#188038}.badge.miss{background:#c5221f}.badge.n\\/a{background:#9aa0a6}
.money{display:flex;flex-wrap:wrap;gap:24px}.money div{min-width:140px}.money b{display:block;font-size:20px}
.note{color:#5f6368;font-size:13px;margin:6px 0 0}
svg.chart{width:100%;height:auto;display:block;font-family:inherit}
table{border-collapse:collapse;width:100%;font-size:14px}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #eee}
"""


def _usd(v: float) -> str:
    return f"${v:,.2f}" if abs(v) >= 1 else f"${v:.4f}"


def _usd_axis(ymax: float):
    step = ymax / 4
    decimals = max(0, 2 - math.floor(math.log10(step))) if step > 0 else 2
    return lambda v: f"${v:,.{decimals}f}"


def _badge(status: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(status)}</span>'


def _verdict(m: Metric) -> str:
    return f'<p class="note" data-metric="{escape(m.name)}">{escape(m.name)} {escape(m.shown)}, target {escape(m.target)} {_badge(m.status)}</p>'


def _cards(report: Report) -> str:
    cards = [
        f'<div class="card" data-metric="{escape(m.name)}" data-status="{escape(m.status)}">'
        f'<div class="name">{escape(m.name)}</div><div class="value">{escape(m.shown)}</div>'
        f'<div class="target">target {escape(m.target)} {_badge(m.status)}</div></div>'
        for m in report.metrics
    ]
    return f'<div class="cards">{"".join(cards)}</div>'


def _money(report: Report) -> str:
    spent = report.cloud_spend_usd + report.local_spend_usd
    items = [
        ("cloud spend", _usd(report.cloud_spend_usd)),
        ("local hardware time", _usd(report.local_spend_usd)),
        ("all-cloud baseline", _usd(report.baseline_usd)),
        ("saved by routing", _usd(report.baseline_usd - spent)),
        (f"saved by the cache ({report.cache_hits} hits)", _usd(report.cache_saved_usd)),
    ]
    body = "".join(f"<div>{escape(k)}<b>{escape(v)}</b></div>" for k, v in items)
    note = ""
    if report.unpriced:
        note = (f'<p class="note">{report.unpriced} attempts or baselines have no known price and are left out '
                "of the sums: price them in ledger.price_overrides.</p>")
    return f'<section><h2>Money</h2><div class="money">{body}</div>{note}</section>'


def _tiers_present(rows: list[Row]) -> list[int]:
    present = {r.tier for r in rows}
    return [t for t in _TIER_ORDER if t in present]


def _spend_section(rows: list[Row]) -> str:
    by_day = series.spend_by_day(rows)
    labels = [d.strftime("%m-%d") for d in by_day]
    stacks = [(TIER_NAMES[t], TIER_COLORS[t], [v.get(t, 0.0) for v in by_day.values()]) for t in _tiers_present(rows)]
    top = svg.nice_max(max((sum(v.values()) for v in by_day.values()), default=0))
    chart = svg.stacked_bars(labels, stacks, title="Spend per day by tier (USD)", fmt=_usd_axis(top),
                             chart_id="spend-per-day")
    return f"<section><h2>Spend per day by tier</h2>{chart}</section>"


def _savings_section(rows: list[Row], report: Report) -> str:
    cum = series.cumulative_spend(rows)
    labels = [d.strftime("%m-%d") for d, _, _ in cum]
    lines = [
        ("all-cloud baseline", _TARGET, [b for _, _, b in cum], True),
        ("hybridlsp spend", TIER_COLORS[1], [s for _, s, _ in cum], False),
    ]
    top = svg.nice_max(max((b for _, _, b in cum), default=0))
    chart = svg.line_chart(labels, lines, title="Cumulative spend against the all-cloud baseline (USD)",
                           fmt=_usd_axis(top), chart_id="cumulative-savings")
    return (f"<section><h2>Savings against the all-cloud baseline</h2>{chart}"
            f"{_verdict(report.metric('spend vs all-cloud'))}</section>")


def _shares_section(rows: list[Row], report: Report) -> str:
    def segments(shares: dict[int, float]):
        return [(TIER_NAMES[t], TIER_COLORS[t], shares[t]) for t in _TIER_ORDER if shares.get(t)]

    bars = [(f"all ({report.routed})", segments(report.tier_shares))]
    bars += [(f"{a} ({n})", segments(s)) for a, (n, s) in series.shares_by_action(rows).items()]
    chart = svg.share_bars(bars, title="Tier shares per action (routed requests)", chart_id="tier-shares")
    return f"<section><h2>Tier shares per action</h2>{chart}{_verdict(report.metric('tier-1 share'))}</section>"


def _latency_section(rows: list[Row], report: Report) -> str:
    m = report.metric("local p95 latency")
    values = series.local_latencies(rows)
    if not values:
        return f'<section><h2>Local latency</h2><p>No answers from local tiers yet.</p>{_verdict(m)}</section>'
    markers = [(10.0, "target 10 s", _TARGET), (m.value, f"p95 {m.shown}", _MISS if m.status == "miss" else "#188038")]
    chart = svg.histogram(values, title="Local answers by seconds waited", color=TIER_COLORS[2],
                          chart_id="local-latency", markers=markers)
    return f"<section><h2>Local latency ({len(values)} answers)</h2>{chart}{_verdict(m)}</section>"


def _fallback_section(rows: list[Row], report: Report) -> str:
    reasons = series.fallback_reasons(rows).most_common()
    if reasons:
        body = svg.count_bars(reasons, title="Why attempts fell back", color=TIER_COLORS[3], chart_id="fallback-reasons")
    else:
        body = "<p>No fallbacks.</p>"
    return f"<section><h2>Fallbacks and their reasons</h2>{body}{_verdict(report.metric('fallback rate'))}</section>"


def _complaints_section(rows: list[Row], feedback: list[Feedback], report: Report) -> str:
    bad = series.complaints(rows, feedback)
    head = f"<p>{report.feedback_good} answers marked good, {report.feedback_bad} bad.</p>"
    table = ""
    if bad:
        cells = "".join(
            f"<tr><td>{escape(c.ts[:16].replace('T', ' '))}</td><td>{escape(c.action)}</td>"
            f"<td>{escape(TIER_NAMES.get(c.tier, str(c.tier)))}</td><td>{escape(c.model)}</td>"
            f"<td>{escape(c.note)}</td></tr>"
            for c in bad[:20]
        )
        table = f"<table><tr><th>when (UTC)</th><th>action</th><th>tier</th><th>model</th><th>note</th></tr>{cells}</table>"
    return (f"<section><h2>Quality complaints</h2>{head}{table}"
            f"{_verdict(report.metric('quality complaints'))}</section>")


def render_html(rows: list[Row], feedback: list[Feedback], since: datetime | None = None,
                now: datetime | None = None) -> str:
    """The whole page for `rows`/`feedback` (as `Ledger.rows()`/`feedback()` return them)."""
    report = compute_report(rows, feedback, since)
    rows = series.in_window(rows, since)
    window = f"since {report.since}" if report.since else "all time"
    days = series.days(rows)
    if days:
        window += f", {days[0].isoformat()} to {days[-1].isoformat()}"
    sub = (f"{window}: {report.requests} requests, {report.routed} routed, {report.cache_hits} cache hits, "
           f"{report.errors} errors")
    if not report.requests:
        body = "<section><p>No requests recorded yet.</p></section>"
    else:
        body = "".join([
            _cards(report), _money(report), _spend_section(rows), _savings_section(rows, report),
            _shares_section(rows, report), _latency_section(rows, report), _fallback_section(rows, report),
            _complaints_section(rows, feedback, report),
        ])
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>hybridlsp usage report</title><style>{_CSS}</style></head><body><main>"
        f'<h1>hybridlsp usage report</h1><p class="sub">{escape(sub)}</p>{body}'
        f'<p class="note">Generated {escape(stamp)} from the local ledger. Targets are the hybrid design\'s: '
        "tier 1 60-70 %, cloud spend 50-70 % lower, local p95 under 10 s, fallbacks under 15 %, complaints under 5 %.</p>"
        "</main></body></html>\n"
    )
