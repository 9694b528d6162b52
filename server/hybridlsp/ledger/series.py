"""The ledger's rows as chart series: spend per day and tier, cumulative spend against the baseline,
tier shares per action, local latencies, fallback reasons, complaints.

The headline numbers come from `report.compute_report`; these are their breakdowns, so each series
selects rows exactly as the report does (routed = request rows not answered from the cache; spend =
every priced attempt, hops included; baseline = request rows), and a test checks they add up to it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ..backends.location import is_local
from .records import Feedback, Row, is_fallback

__all__ = [
    "in_window",
    "days",
    "spend_by_day",
    "cumulative_spend",
    "shares_by_action",
    "local_latencies",
    "fallback_reasons",
    "Complaint",
    "complaints",
]


def in_window(rows: list[Row], since: datetime | None) -> list[Row]:
    """The rows `compute_report(rows, ..., since)` reads."""
    if since is None:
        return list(rows)
    since = since.replace(tzinfo=UTC) if since.tzinfo is None else since
    return [r for r in rows if datetime.fromisoformat(r.ts) >= since]


def _routed(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.kind == "request" and not (r.cached or r.outcome == "cache-hit")]


def _day(ts: str) -> date:
    # rows are stored in UTC, so the UTC calendar day is what providers bill by too
    return datetime.fromisoformat(ts).astimezone(UTC).date()


def days(rows: list[Row]) -> list[date]:
    """Every day from the first row to the last, gaps included, so a bar chart's x axis is time."""
    if not rows:
        return []
    seen = [_day(r.ts) for r in rows]
    first, last = min(seen), max(seen)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def spend_by_day(rows: list[Row]) -> dict[date, dict[int, float]]:
    """USD per day and tier, every priced attempt (what `Report.spend_by_tier` sums)."""
    out: dict[date, dict[int, float]] = {d: defaultdict(float) for d in days(rows)}
    for r in rows:
        if r.cost_usd is not None:
            out[_day(r.ts)][r.tier] += r.cost_usd
    return {d: dict(v) for d, v in out.items()}


def cumulative_spend(rows: list[Row]) -> list[tuple[date, float, float]]:
    """(day, spend so far, all-cloud baseline so far); the last pair gives the report's saving."""
    spent: dict[date, float] = defaultdict(float)
    base: dict[date, float] = defaultdict(float)
    for r in rows:
        if r.cost_usd is not None:
            spent[_day(r.ts)] += r.cost_usd
        if r.kind == "request" and r.baseline_cost_usd is not None:
            base[_day(r.ts)] += r.baseline_cost_usd
    out, s, b = [], 0.0, 0.0
    for d in days(rows):
        s += spent[d]
        b += base[d]
        out.append((d, s, b))
    return out


def shares_by_action(rows: list[Row]) -> dict[str, tuple[int, dict[int, float]]]:
    """action -> (routed requests, {tier: share}), by the tier that gave the last attempt."""
    by: dict[str, Counter] = defaultdict(Counter)
    for r in _routed(rows):
        by[r.action][r.tier] += 1
    return {a: (sum(c.values()), {t: n / sum(c.values()) for t, n in sorted(c.items())}) for a, c in sorted(by.items())}


def local_latencies(rows: list[Row]) -> list[float]:
    """Seconds the person waited for answers from local backends: the report's p95 population."""
    return [
        r.latency_ms / 1000 for r in _routed(rows) if is_local(r.backend) and r.outcome in ("ok", "fallback")
    ]


def fallback_reasons(rows: list[Row]) -> Counter:
    """Why attempts fell back (each hop row's reason), most common first via `most_common()`."""
    return Counter(r.reason or "unknown" for r in rows if is_fallback(r))


@dataclass(frozen=True)
class Complaint:
    ts: str  # when the complained-about answer was given
    action: str
    tier: int
    model: str
    note: str


def complaints(rows: list[Row], feedback: list[Feedback]) -> list[Complaint]:
    """Requests whose last verdict is "bad" (as the report counts them), newest first."""
    requests = {r.id: r for r in rows if r.kind == "request"}
    last: dict[str, Feedback] = {}
    for f in feedback:  # oldest first, so the last one wins
        if f.request_id in requests:
            last[f.request_id] = f
    bad = [
        Complaint(requests[i].ts, requests[i].action, requests[i].tier, requests[i].model, f.note)
        for i, f in last.items()
        if f.verdict == "bad"
    ]
    return sorted(bad, key=lambda c: c.ts, reverse=True)
