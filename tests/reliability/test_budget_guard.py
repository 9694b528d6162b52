"""Concurrent cloud requests cannot together overshoot the monthly cap by more than one request.

Without reservations each of 50 requests started together reads the same recorded spend, and all
50 go to the cloud. With `budget.guard` each reserves its most expensive outcome before its cloud
hop; the ones that do not fit go on to tier 2 with the reason "budget".
"""

import asyncio
import sqlite3

import pytest

from hybridlsp.config import merge_settings
from hybridlsp.request import RunRequest
from tests.fakes.upstreams import Fault, FakeOpenAI
from tests.unit.engine.test_pipeline import GOOD, ByModel, engine_for, ledger, make_settings  # noqa: F401

CONCURRENT = 50
PRICE = [10.0, 30.0]  # USD per million input / output tokens
USAGE = (60, 64)  # what the fake cloud reports per request: input tokens, a full output budget
MAX_OUT = 64
ONE_REQUEST = (USAGE[0] * PRICE[0] + USAGE[1] * PRICE[1]) / 1e6  # $0.00252
CAP = 20 * ONE_REQUEST + ONE_REQUEST / 2  # room for 20.5 requests


def _settings(ollama, cloud, cap=CAP):
    return make_settings(
        ollama, cloud,
        budget={"monthly_cloud_usd": cap},
        ledger={"price_overrides": {"gpt-4.1": PRICE}},
        tiers={"tier3": {"backend": "openai", "model": "gpt-4.1", "max_output_tokens": MAX_OUT}},
        cache={"enabled": False},
    )


@pytest.fixture
def ollama():
    with ByModel({"qwen2.5-coder:14b": GOOD, "llama3.3:70b": GOOD}) as fake:
        yield fake


async def test_fifty_concurrent_cloud_requests_stay_within_one_request_of_the_cap(ollama, ledger, figures):  # noqa: F811
    # a slow stream (~0.3 s) keeps all 50 in flight at once
    with FakeOpenAI(answer="Cloud says: " + GOOD, usage=USAGE, token_delay=0.02) as cloud:
        eng = engine_for(_settings(ollama, cloud), ledger)
        reqs = [RunRequest(action="ask", text=f"[cloud] Analyze the trade-offs of design {i}") for i in range(CONCURRENT)]
        results = await asyncio.gather(*(eng.run(r) for r in reqs))
        reserved_after = eng.budget_guard.reserved_usd
        await eng.aclose()
    spend = ledger.month_cloud_spend()
    costs = [r.cost_usd for r in ledger.rows() if r.kind == "request" and r.backend == "openai"]
    on_cloud = [r for r in results if r.tier == 3]
    degraded = [r for r in results if r.tier != 3]
    overshoot = max(0.0, spend - CAP)

    assert cloud.request_count == len(on_cloud) == len(costs) > 0
    assert degraded and all(r.tier == 2 and [f.reason for f in r.fallbacks] == ["budget"] for r in degraded)
    assert all(any("monthly cloud budget" in n for n in r.notes) for r in degraded)
    assert overshoot <= max(costs), f"spent ${spend:.5f} against a ${CAP:.5f} cap"
    assert reserved_after == 0.0
    hops = [r for r in ledger.rows() if r.kind == "hop"]
    assert len(hops) == len(degraded) and {h.reason for h in hops} == {"budget"}
    figures["budget guard"] = (
        f"{CONCURRENT} concurrent [cloud] requests, cap ${CAP:.5f} (~{CAP / ONE_REQUEST:.1f} requests): "
        f"{len(on_cloud)} went to the cloud, {len(degraded)} to tier 2 (reason budget); spent ${spend:.5f}, "
        f"overshoot ${overshoot:.5f} (one request costs ${max(costs):.5f})"
    )


async def test_reservations_are_released_when_the_cloud_fails_or_the_request_is_cancelled(ollama, ledger):  # noqa: F811
    with FakeOpenAI(answer=GOOD, usage=USAGE) as cloud:
        # no cool-down: the cloud's host, which answered 5xx, is asked again by the second request
        settings = merge_settings(_settings(ollama, cloud, cap=1.0), {"dispatch": {"cooldown_s": 0}})
        eng = engine_for(settings, ledger)
        cloud.inject("500", "500")
        res = await eng.run(RunRequest(action="ask", text="[cloud] Analyze the trade-offs", tier=3))
        assert res.tier == 2 and eng.budget_guard.reserved_usd == 0.0
        cloud.inject(Fault("drip", delay=0.2))
        started = asyncio.Event()
        task = asyncio.create_task(eng.run(RunRequest(action="ask", text="[cloud] Analyze it", tier=3),
                                           on_text=lambda t: started.set()))
        await asyncio.wait_for(started.wait(), 5)
        assert eng.budget_guard.reserved_usd > 0  # held while the cloud streams
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await eng.aclose()  # once the cancelled request's row is written, its hold is released
        assert eng.budget_guard.reserved_usd == 0.0


async def test_a_cancelled_request_keeps_its_hold_until_its_cost_is_in_the_ledger(ollama, ledger):  # noqa: F811
    """Its row waits for a write lock another process holds: until the row is in, the spend the
    next request reads lacks that cost, so the hold must still count it."""
    with FakeOpenAI(answer=GOOD, usage=USAGE) as cloud:
        eng = engine_for(_settings(ollama, cloud, cap=1.0), ledger)
        cloud.inject(Fault("drip", delay=0.2))
        started = asyncio.Event()
        task = asyncio.create_task(eng.run(RunRequest(action="ask", text="[cloud] Analyze it", tier=3),
                                           on_text=lambda t: started.set()))
        await asyncio.wait_for(started.wait(), 5)
        held = eng.budget_guard.reserved_usd
        other = sqlite3.connect(ledger.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.05)
            assert eng.budget_guard.reserved_usd == held > 0
        finally:
            other.execute("COMMIT")
            other.close()
        await eng.aclose()
        assert eng.budget_guard.reserved_usd == 0.0
    (row,) = [r for r in ledger.rows() if r.kind == "request"]
    assert row.outcome == "cancelled" and row.cost_usd > 0


async def test_a_request_that_cannot_fit_goes_local_even_when_nothing_is_spent(ollama, ledger):  # noqa: F811
    """A cap smaller than one request's most expensive outcome: routing sees $0 spent, the guard
    sees the reservation would pass the cap."""
    with FakeOpenAI(answer=GOOD, usage=USAGE) as cloud:
        eng = engine_for(_settings(ollama, cloud, cap=ONE_REQUEST / 4), ledger)
        res = await eng.run(RunRequest(action="ask", text="[cloud] Analyze the trade-offs", tier=3))
        await eng.aclose()
    assert res.tier == 2 and cloud.request_count == 0
    assert res.fallbacks[0].reason == "budget" and "would pass it" in " ".join(res.notes)


_CHILD = r"""
import asyncio, json, sys
from hybridlsp.config import settings_from_mapping
from hybridlsp.engine import Engine
from hybridlsp.request import RunRequest
from hybridlsp.ledger.store import Ledger

cfg, ledger_path, n, tag = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]

async def main():
    with Ledger(ledger_path) as ledger:
        eng = Engine(settings_from_mapping(cfg), ledger=ledger, env={"OPENAI_API_KEY": sys.argv[5]})
        reqs = [RunRequest(action="ask", text=f"[cloud] Analyze the trade-offs of {tag} design {i}") for i in range(n)]
        results = await asyncio.gather(*(eng.run(r) for r in reqs))
        await eng.aclose()
    print(json.dumps([r.tier for r in results]))

asyncio.run(main())
"""


async def test_two_processes_sharing_the_ledger_stay_within_one_request_of_the_cap(ollama, tmp_path):
    # two editors' servers, or a server and the command line: reservations live in the ledger, so
    # neither process can take room the other has reserved
    import json
    import os
    import sys

    from hybridlsp.ledger.store import Ledger
    from tests.unit.engine.test_pipeline import KEY

    with FakeOpenAI(answer="Cloud says: " + GOOD, usage=USAGE, token_delay=0.02) as cloud:
        settings = _settings(ollama, cloud)
        cfg = settings.model_dump(include={"embedded", "dispatch", "backends", "budget", "ledger", "tiers", "cache"})
        path = tmp_path / "shared.sqlite3"
        Ledger(path).close()  # created and migrated once, before the two race
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", _CHILD, json.dumps(cfg), str(path), str(CONCURRENT // 2), tag, KEY,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
            for tag in ("a", "b")
        ]
        outs = [await asyncio.wait_for(p.communicate(), 120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1].decode()[-2000:] for o in outs]
    tiers = [t for out, _ in outs for t in json.loads(out)]
    with Ledger(path) as ledger:
        spend = ledger.month_cloud_spend()
        assert ledger.reserved_cloud() == 0.0
    assert cloud.request_count == tiers.count(3) > 0 and tiers.count(2) > 0
    assert spend - CAP <= ONE_REQUEST, f"spent ${spend:.5f} against a ${CAP:.5f} cap"


async def test_a_ledger_that_stays_locked_skips_the_cloud_hop_with_the_reason(ollama, tmp_path):
    # another process holds the ledger's write lock past busy_timeout: the cap cannot be checked,
    # so the cloud hop is skipped (fail closed), and the request still gets a local answer
    import sqlite3

    from hybridlsp.ledger.store import Ledger

    path = tmp_path / "busy.sqlite3"
    with Ledger(path, busy_timeout_ms=200) as ledger, FakeOpenAI(answer=GOOD, usage=USAGE) as cloud:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            eng = engine_for(_settings(ollama, cloud, cap=1.0), ledger)
            res = await eng.run(RunRequest(action="ask", text="[cloud] Analyze the trade-offs", tier=3))
        finally:
            other.execute("ROLLBACK")
            other.close()
        await eng.aclose()
    assert res.tier == 2 and cloud.request_count == 0 and res.fallbacks[0].reason == "budget"
    assert any("could not be checked" in n for n in res.notes)
    assert any("not recorded in the ledger (database is locked)" in n for n in res.notes)


async def test_releasing_a_hold_does_not_wait_on_the_loop_for_another_process(ollama, ledger):  # noqa: F811
    """Another process holds the ledger's write lock: the reservation's row is deleted off the loop
    once the lock is free, while the server goes on answering, and the engine waits for it on close."""
    from hybridlsp.backends.base import ChatRequest, Message
    from hybridlsp.budget.guard import BudgetGuard
    from hybridlsp.routing.types import Hop

    with FakeOpenAI(answer=GOOD, usage=USAGE) as cloud:
        settings = _settings(ollama, cloud, cap=1.0)
    guard = BudgetGuard(lambda: settings, ledger)
    hold = guard.hold(100)
    request = ChatRequest(model="gpt-4.1", messages=(Message("user", "Analyze it"),), max_tokens=MAX_OUT)
    assert await hold.admit(Hop(3, "openai", "gpt-4.1"), request) is None
    assert guard.reserved_usd > 0 and ledger.reserved_cloud() > 0
    other = sqlite3.connect(ledger.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        hold.release()
        await asyncio.sleep(0.05)  # the loop runs meanwhile
        assert loop.time() - t0 < 1.0
        assert guard.reserved_usd == 0.0  # this process's own figure drops at once
    finally:
        other.execute("COMMIT")
        other.close()
    await asyncio.wait_for(guard.settle(), 10)
    assert ledger.reserved_cloud() == 0.0
