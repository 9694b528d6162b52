"""The benchmark harness: verdicts from every figure with a goal, ranges judged on the worst run,
RESULTS.md's summary, and the loopback guard in this process and the ones it starts."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from bench import __main__ as harness
from bench._common import Figure, Result, combine, loopback_only


def result(*figures: Figure, limits: str = "", raw: list[str] | None = None) -> Result:
    return Result(10, "route --jsonl vs counting tokens", list(figures), raw or [], limits)


@pytest.mark.parametrize("figures, met", [
    ([Figure("questions", 1.1, "x", "<=", 1.25), Figure("whole command", 1.5, "x", "<=", 1.25)], False),
    ([Figure("questions", 1.1, "x", "<=", 1.25), Figure("whole command", 1.2, "x", "<=", 1.25)], True),
    ([Figure("max", 50.0, " ms", "<", 50.0)], False),  # strict: the limit itself misses
    ([Figure("ratio", 0.95, "x", ">=", 0.95)], True),
    ([Figure("ratio", 0.949, "x", ">=", 0.95)], False),
    ([Figure("saved", 84.0, " %")], None),  # no goal: no verdict
])
def test_the_verdict_counts_every_figure_with_a_goal(figures, met):
    assert result(*figures).met is met


def test_a_figure_without_a_goal_does_not_decide_the_verdict():
    r = result(Figure("ratio", 1.0, "x", "<=", 1.25), Figure("floor", 999.0, " ms"))
    assert r.met is True
    assert r.goal == "ratio <= 1.25x"
    assert r.figure == "ratio 1.00x; floor 999.00 ms"


def test_runs_combine_into_ranges_judged_on_the_worst():
    runs = [result(Figure("questions", v, "x", "<=", 1.25), Figure("floor", f, " ms"), raw=[f"run {i}"],
                   limits="" if v <= 1.25 else f"limited in run {i}")
            for i, (v, f) in enumerate([(1.18, 30.0), (1.26, 31.0), (1.20, 29.0)], 1)]
    out = combine(runs)
    assert out.runs == 3
    assert out.figure == "questions 1.18-1.26x; floor 29.00-31.00 ms"
    assert out.met is False  # two lucky runs do not hide the third
    assert out.limits == "limited in run 2"  # the explanation of the worst run
    assert "run 2" in out.raw and "run 1" not in out.raw
    assert "| 2 | 1.26x | 31.00 ms |" in out.raw


def test_a_higher_is_better_figure_is_judged_on_its_lowest_run():
    out = combine([result(Figure("ratio", v, "x", ">=", 0.95, digits=3)) for v in (1.01, 0.94, 0.99)])
    assert out.figures[0].worst == 0.94
    assert out.met is False


def test_a_failed_run_makes_the_result_not_measured():
    failed = Result(10, "route --jsonl vs counting tokens", note="failed to run: OSError: boom", limits="traceback")
    out = combine([result(Figure("ratio", 1.0, "x", "<=", 1.25)), failed])
    assert out.verdict == "not measured"
    assert out.met is None


def test_a_refused_connection_fails_the_verdict():
    r = result(Figure("ratio", 1.0, "x", "<=", 1.25))
    r.refused = ["203.0.113.7"]
    assert r.met is False


def test_results_md_lists_every_miss_with_what_limits_it():
    missed = result(Figure("whole command", 1.5, "x", "<=", 1.25), limits="imports: 120 ms more")
    met = Result(4, "textDocument/codeAction", [Figure("round trip p99", 2.0, " ms", "<", 10.0)])
    text = harness.render([met, missed], harness.machine(), datetime.now(timezone.utc), (0.5, 0.5, 0.5), 10.0)
    assert "| 10 | route --jsonl vs counting tokens | whole command 1.50x | whole command <= 1.25x | **MISSED** |" in text
    assert "| 4 | textDocument/codeAction | round trip p99 2.00 ms | round trip p99 < 10 ms | met |" in text
    misses = text.split("## Goals missed, and what limits each", 1)[1].split("## Details", 1)[0]
    assert "[10] route --jsonl" in misses and "imports: 120 ms more" in misses and "[4]" not in misses
    assert "it refused none." in text


def _listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server


def test_the_guard_refuses_other_hosts_and_lets_loopback_through():
    with _listener() as server, loopback_only() as refused:
        socket.create_connection(server.getsockname(), timeout=5).close()  # loopback: allowed
        with pytest.raises(OSError, match="only loopback"):
            socket.create_connection(("203.0.113.7", 80), timeout=5)  # TEST-NET-3: never routed anyway
        with pytest.raises(OSError, match="only loopback"):
            socket.getaddrinfo("example.com", 443)
    assert refused == ["203.0.113.7", "example.com"]
    socket.getaddrinfo("127.0.0.1", 80)  # the guard is gone after the block


def test_the_guard_holds_in_the_processes_a_benchmark_starts():
    child = ("import socket\n"
             "try:\n"
             "    socket.create_connection(('203.0.113.9', 80), timeout=5)\n"
             "except OSError as e:\n"
             "    print(e)\n")
    with loopback_only() as refused:
        out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60).stdout
    assert "only loopback" in out
    assert refused == ["203.0.113.9"]


def test_the_older_result_form_still_plugs_in():
    """Benchmarks written against the older signature keep working: their verdict is their own."""
    old = [Result(11, "escalation signals", f"precision {p}", "precision >= 0.8", p >= 0.8, [f"raw {p}"],
                  "" if p >= 0.8 else f"too low in a run: {p}") for p in (0.9, 0.7, 0.85)]
    assert old[0].met is True and old[0].figure == "precision 0.9" and old[0].goal == "precision >= 0.8"
    out = combine(old)
    assert out.met is False and out.figure == "precision 0.7" and out.limits == "too low in a run: 0.7"
    assert "2. precision 0.7: MISSED" in out.raw and "raw 0.7" in out.raw
    keywords = Result(11, "learning", "not measured", "gain > 0", None, raw=["no data"], limits="needs the data")
    assert keywords.verdict == "not measured" and keywords.raw == ["no data"]
    text = harness.render([keywords], harness.machine(), datetime.now(timezone.utc), (0.5, 0.5, 0.5), 1.0)
    assert "- **[11] learning** (goal gain > 0):" in text and "needs the data" in text
