import io
import json
from datetime import UTC, datetime

import pytest

from hybridlsp.ledger import Feedback, Row, compute_report, export_jsonl, format_report, report_json

TS = "2025-03-15T12:00:00.000000+00:00"


def req(id, tier, backend="ollama", **kw) -> Row:
    return Row(**{"id": id, "ts": TS, "action": "complete", "tier": tier, "backend": backend, "model": "m",
                  "cost_usd": 0.0, "baseline_cost_usd": 0.01, **kw})


def hop(id, parent, tier, backend="ollama", **kw) -> Row:
    return req(id, tier, backend, kind="hop", parent_id=parent, outcome="fallback", baseline_cost_usd=None, **kw)


def fb(request_id, verdict, ts=TS) -> Feedback:
    return Feedback(request_id=request_id, ts=ts, verdict=verdict)


# A crafted month: 16 requests reached a model, 4 came from the cache.
ROWS = (
    [req(f"r{i}", 1, latency_ms=1000.0 * i, action="complete" if i <= 6 else "commit-message") for i in range(1, 11)]
    + [
        req("r11", 2, action="review", latency_ms=12000.0, cost_usd=0.005, baseline_cost_usd=0.02, outcome="fallback"),
        hop("h1", "r11", 1, action="review", reason="invalid-answer"),
        req("r12", 2, action="explain", latency_ms=4000.0, baseline_cost_usd=0.02),
        req("r13", 2, action="explain", latency_ms=6000.0, baseline_cost_usd=0.02, outcome="cancelled"),
        hop("h2", "r14", 1, action="review", reason="context-length"),
        hop("h3", "r14", 2, action="review", reason="timeout", cost_usd=0.0025),
        req("r14", 3, "openai", action="review", latency_ms=9000.0, cost_usd=0.05, baseline_cost_usd=0.05,
            outcome="fallback"),
        req("r15", 3, "anthropic", action="ask", outcome="error", reason="rate-limited", baseline_cost_usd=0.04),
        req("r16", 0, "embedded", latency_ms=500.0, baseline_cost_usd=None),
    ]
    + [req(f"c{i}", 1, outcome="cache-hit", cached=True, saved_usd=0.01) for i in range(4)]
)
FEEDBACK = [fb("r1", "bad"), fb("r2", "bad"), fb("r2", "good"), fb("r3", "good"), fb("not-in-window", "bad")]


@pytest.fixture(scope="module")
def report():
    return compute_report(ROWS, FEEDBACK)


def test_counts(report):
    assert (report.requests, report.routed, report.cache_hits, report.errors) == (20, 16, 4, 1)
    assert report.tier_shares == {0: 1 / 16, 1: 10 / 16, 2: 3 / 16, 3: 2 / 16}
    assert (report.feedback_good, report.feedback_bad) == (2, 1)  # r2's later "good" replaces its "bad"


@pytest.mark.parametrize(
    "name, value, shown, status",
    [
        ("tier-1 share", 0.625, "62.5 %", "ok"),
        ("quality complaints", 0.05, "5.0 %", "miss"),  # 1 of 20: the target is strictly under 5 %
        # spent 0.05 cloud + 0.0075 hardware against a 0.29 baseline
        ("spend vs all-cloud", 1 - 0.0575 / 0.29, "80.2 % lower", "ok"),
        # local answers: 0.5, 1-10, 4, 12 s (the cancelled one is no answer); rank ceil(0.95 * 13) = 13
        ("local p95 latency", 12.0, "12.00 s", "miss"),
        ("fallback rate", 2 / 16, "12.5 %", "ok"),
    ],
)
def test_metrics(report, name, value, shown, status):
    m = report.metric(name)
    assert (m.value, m.shown, m.status) == (pytest.approx(value), shown, status)


def test_spend(report):
    assert report.cloud_spend_usd == pytest.approx(0.05)
    assert report.local_spend_usd == pytest.approx(0.0075)
    assert report.baseline_usd == pytest.approx(0.29)
    assert report.spend_by_tier == pytest.approx({0: 0.0, 1: 0.0, 2: 0.0075, 3: 0.05})
    assert report.spend_by_action == pytest.approx(
        {"ask": 0.0, "commit-message": 0.0, "complete": 0.0, "explain": 0.0, "review": 0.0575}
    )
    assert report.cache_saved_usd == pytest.approx(0.04)
    assert report.unpriced == 1  # r16's baseline


def test_since_filters_rows():
    rows = [req("old", 3, "openai", ts="2025-02-01T00:00:00.000000+00:00", cost_usd=1.0), req("new", 1)]
    report = compute_report(rows, [fb("old", "bad")], since=datetime(2025, 3, 1, tzinfo=UTC))
    assert (report.requests, report.cloud_spend_usd, report.feedback_bad) == (1, 0.0, 0)
    assert report.since == "2025-03-01T00:00:00+00:00"


def _routed(n_tier1, n):
    return [req(f"r{i}", 1 if i < n_tier1 else 2) for i in range(n)]


@pytest.mark.parametrize(
    "rows, name, status",
    [
        (_routed(6, 10), "tier-1 share", "ok"),
        (_routed(7, 10), "tier-1 share", "ok"),
        (_routed(5, 10), "tier-1 share", "miss"),
        (_routed(8, 10), "tier-1 share", "miss"),  # above the band: hard requests may be stuck on tier 1
        ([req("a", 3, "openai", cost_usd=0.5, baseline_cost_usd=1.0)], "spend vs all-cloud", "ok"),
        ([req("a", 3, "openai", cost_usd=0.51, baseline_cost_usd=1.0)], "spend vs all-cloud", "miss"),
        ([req("a", 1, cost_usd=0.0, baseline_cost_usd=1.0)], "spend vs all-cloud", "ok"),  # 100 % is fine
        ([req("a", 1, latency_ms=9999.0)], "local p95 latency", "ok"),
        ([req("a", 1, latency_ms=10000.0)], "local p95 latency", "miss"),
        ([req("a", 3, "openai", latency_ms=60000.0)], "local p95 latency", "n/a"),  # cloud latency is not local
        ([req("a", 1, latency_ms=60000.0, outcome="cancelled")], "local p95 latency", "n/a"),  # no answer came
        ([req("a", 1, latency_ms=60000.0, outcome="error")], "local p95 latency", "n/a"),
        (_routed(20, 20) + [hop("h", "r0", 1), hop("h2", "r1", 1)], "fallback rate", "ok"),  # 10 %
        (_routed(20, 20) + [hop(f"h{i}", f"r{i}", 1) for i in range(3)], "fallback rate", "miss"),  # 15 %
    ],
)
def test_metric_thresholds(rows, name, status):
    assert compute_report(rows, []).metric(name).status == status


@pytest.mark.parametrize(
    "latencies_s, p95",
    [
        ([3.0], 3.0),
        (list(range(1, 21)), 19.0),  # nearest rank: ceil(0.95 * 20) = 19th
        (list(range(1, 22)), 20.0),  # ceil(19.95) = 20th
        ([5.0, 1.0, 9.0, 2.0], 9.0),  # order of rows does not matter
    ],
)
def test_local_p95_is_nearest_rank(latencies_s, p95):
    rows = [req(f"r{i}", 1, latency_ms=s * 1000) for i, s in enumerate(latencies_s)]
    assert compute_report(rows, []).metric("local p95 latency").value == pytest.approx(p95)


def test_zero_rows():
    report = compute_report([], [])
    assert report.requests == 0 and report.tier_shares == {}
    assert {m.status for m in report.metrics} == {"n/a"}
    assert format_report(report).splitlines()[-1] == "no requests recorded yet"
    assert json.loads(json.dumps(report_json(report)))["metrics"][0]["value"] is None


def test_only_cache_hits():
    report = compute_report([req("c", 1, outcome="cache-hit", cached=True, saved_usd=0.25)], [])
    assert (report.routed, report.cache_saved_usd) == (0, 0.25)
    assert report.metric("tier-1 share").status == "n/a"
    assert report.metric("quality complaints").value == 0.0


def test_format_report_is_an_aligned_table(report):
    lines = format_report(report).splitlines()
    assert lines[0] == "hybridlsp usage (all time): 20 requests, 16 routed, 4 cache hits, 1 errors"
    table = lines[1:7]
    assert table[0].split() == ["metric", "value", "target", "status"]
    assert table[1].split("  ")[0] == "tier-1 share"
    assert "62.5 %" in table[1] and "60-70 %" in table[1]
    status_col = {len(line) - len(line.split()[-1]) for line in table}
    assert len(status_col) == 1  # every status starts in the same column
    text = "\n".join(lines)
    assert "t1 62.5 %" in text and "embedded 6.2 %" in text
    assert "review $0.0575" in text
    assert "4 hits saved $0.0400" in text
    assert "unpriced  1 left out" in text


def test_report_json_round_trips(report):
    data = json.loads(json.dumps(report_json(report)))
    assert data["tier_shares"]["1"] == 0.625
    assert data["spend_by_tier"]["3"] == pytest.approx(0.05)
    assert [m["name"] for m in data["metrics"]] == [
        "tier-1 share", "quality complaints", "spend vs all-cloud", "local p95 latency", "fallback rate",
    ]
    assert {m["status"] for m in data["metrics"]} == {"ok", "miss"}


# --- export ----------------------------------------------------------------------------------


def test_export_one_line_per_request_in_the_log_shape():
    out = io.StringIO()
    n = export_jsonl(ROWS, out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert n == len(lines) == 20  # hops are folded into their request
    r14 = next(line for line in lines if line["request_id"] == "r14")
    assert r14 == {
        "timestamp": TS,
        "tier": 3,
        "model": "m",
        "tokens": 0,
        "task_type": "review",
        "estimated_cost": pytest.approx(0.0525),  # its own 0.05 plus the 0.0025 tier-2 hop
        "request_id": "r14",
        "backend": "openai",
        "input_tokens": 0,
        "output_tokens": 0,
        "latency_ms": 9000.0,
        "baseline_cost": 0.05,
        "outcome": "fallback",
        "hops": 2,
    }


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([req("a", 3, "openai", input_tokens=1200, output_tokens=300, cost_usd=0.25)], (1500, 0.25)),
        ([req("a", 3, "openai", cost_usd=None)], (0, None)),
        # one unpriced hop makes the total unknown rather than silently low
        ([hop("h", "a", 3, "openai", cost_usd=None), req("a", 3, "openai", cost_usd=0.25)], (0, None)),
    ],
)
def test_export_tokens_and_cost(rows, expected):
    out = io.StringIO()
    export_jsonl(rows, out)
    [line] = [json.loads(x) for x in out.getvalue().splitlines()]
    assert (line["tokens"], line["estimated_cost"]) == expected
