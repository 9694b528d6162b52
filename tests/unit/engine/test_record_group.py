"""The record stage writes the rows of requests that finish together in one transaction, each
request's rows whole or not at all."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from hybridlsp.engine.record import Recorder
from hybridlsp.ledger import Ledger
from hybridlsp.ledger.records import HopRecord, RequestRecord


def _request(request_id: str) -> RequestRecord:
    return RequestRecord(action="ask", tier=1, backend="ollama", model="m", input_tokens=3, output_tokens=2,
                         latency_ms=5.0, cost_usd=0.0, baseline_cost_usd=0.0, request_id=request_id)


def _hop(parent: str) -> HopRecord:
    return HopRecord(parent_id=parent, action="ask", tier=1, backend="ollama", model="m", reason="timeout")


@pytest.fixture
def ledger(tmp_path):
    led = Ledger(tmp_path / "ledger.sqlite3")
    statements: list[str] = []
    led._db.set_trace_callback(statements.append)  # sqlite's own statement log
    led.statements = statements
    yield led
    led._db.close()


def _writes(led, request_id: str):
    return [partial(led.record_hop, _hop(request_id)), partial(led.record_request, _request(request_id))]


async def test_requests_finishing_together_share_one_commit(ledger):
    rec = Recorder(ledger, lambda: None)
    ledger.statements.clear()
    notes: list[list[str]] = [[] for _ in range(20)]
    await asyncio.gather(*(rec.write(_writes(ledger, f"r{i}"), notes[i]) for i in range(20)))
    assert ledger.statements.count("COMMIT") == 1
    rows = ledger._db.execute("SELECT kind, count(*) FROM requests GROUP BY kind").fetchall()
    assert {k: n for k, n in rows} == {"request": 20, "hop": 20}
    assert notes == [[] for _ in range(20)]


async def test_a_request_whose_rows_fail_is_undone_alone(ledger):
    rec = Recorder(ledger, lambda: None)
    await rec.write(_writes(ledger, "taken"), [])
    results = await asyncio.gather(
        rec.write(_writes(ledger, "a"), []),
        rec.write(_writes(ledger, "taken"), []),  # its hop is new, its request row a duplicate
        rec.write(_writes(ledger, "b"), []),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], ValueError) and "already in the ledger" in str(results[1])
    parents = [r[0] for r in ledger._db.execute("SELECT parent_id FROM requests WHERE kind = 'hop'")]
    assert sorted(parents) == ["a", "b", "taken"]  # the failed request's new hop was undone with it


async def test_a_ledger_another_process_holds_costs_a_note_not_the_answer(tmp_path):
    led = Ledger(tmp_path / "ledger.sqlite3", busy_timeout_ms=100)
    other = Ledger(tmp_path / "ledger.sqlite3")
    other._db.execute("BEGIN IMMEDIATE")  # another process writing, for longer than the busy timeout
    try:
        notes: list[str] = []
        await Recorder(led, lambda: None).write(_writes(led, "r1"), notes)
        assert notes and "not recorded in the ledger" in notes[0]
    finally:
        other._db.execute("ROLLBACK")
    assert led._db.execute("SELECT count(*) FROM requests").fetchone()[0] == 0
