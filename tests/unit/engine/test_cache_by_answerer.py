"""The answer cache keyed by who answered: a fallback's answer is never served to a request decided
for the tier that failed, and once that tier is back it answers.

Real HTTP fakes on 127.0.0.1: Ollama serves tiers 1 and 2, OpenAI tier 3; the cache is the real
one, in memory and in answers.sqlite3 beside the ledger (a new engine stands for a new process).
"""

import asyncio
from dataclasses import replace

import pytest

from hybridlsp.engine.cache import AnswerStore, answerer
from hybridlsp.config import settings_from_mapping
from hybridlsp.request import RunRequest
from hybridlsp.routing.types import Hop
from tests.fakes.upstreams import FakeOpenAI
from tests.unit.engine.test_pipeline import GOOD, ByModel, engine_for, ledger, make_settings  # noqa: F401

CLOUD = "Cloud says: " + GOOD
ASK = RunRequest(action="ask", text="Summarize: the build is green.")  # decided for tier 1


@pytest.fixture
def upstreams():
    with ByModel({"qwen2.5-coder:14b": GOOD, "llama3.3:70b": GOOD}) as ollama, FakeOpenAI(answer=CLOUD) as cloud:
        yield ollama, cloud


@pytest.mark.parametrize("process", ["same process", "next process"])
async def test_decided_tier_down_then_up_answers_the_repeat(upstreams, ledger, process):  # noqa: F811
    ollama, cloud = upstreams
    settings = make_settings(ollama, cloud, dispatch={"cooldown_s": 0.2})
    eng = engine_for(settings, ledger)
    ollama.down()
    fallback = await eng.run(ASK)
    assert (fallback.decision.tier, fallback.tier, fallback.backend) == (1, 3, "openai")
    ollama.up()
    if process == "next process":
        await eng.aclose()
        eng = engine_for(settings, ledger)  # only answers.sqlite3 is shared
    else:
        await asyncio.sleep(0.25)  # the host's cool-down (dispatch.cooldown_s) passes
    try:
        repeat = await eng.run(ASK)
        again = await eng.run(ASK)
        # the cloud's answer stays under the cloud's model: a request decided for it is served it
        decided_cloud = await eng.run(replace(ASK, tier=3))
    finally:
        await eng.aclose()
    assert (repeat.tier, repeat.backend, repeat.text, repeat.cached) == (1, "ollama", GOOD, False)
    assert ollama.request_count == 1
    assert again.cached and again.backend == "ollama" and again.text == GOOD and ollama.request_count == 1
    assert decided_cloud.cached and decided_cloud.backend == "openai" and cloud.request_count == 1
    outcomes = [r.outcome for r in ledger.rows() if r.kind == "request"]
    assert outcomes == ["fallback", "ok", "cache-hit", "cache-hit"]


async def test_a_request_decided_for_tier_2_is_not_served_tier_1s_answer(upstreams, ledger):  # noqa: F811
    ollama, cloud = upstreams
    eng = engine_for(make_settings(ollama, cloud), ledger)
    first = await eng.run(ASK)
    second = await eng.run(replace(ASK, tier=2))
    await eng.aclose()
    assert (first.tier, second.tier, second.cached) == (1, 2, False)
    assert [r.json["model"] for r in ollama.requests] == ["qwen2.5-coder:14b", "llama3.3:70b"]


@pytest.mark.parametrize(
    "a, b, same",
    [
        ((Hop(1, "ollama", "m"), {}), (Hop(2, "ollama", "m"), {}), True),  # one model, whichever tier
        ((Hop(1, "ollama", "m"), {}), (Hop(1, "ollama", "n"), {}), False),
        ((Hop(1, "ollama", "m"), {}), (Hop(1, "ollama", "m"), {"backends": {"ollama": {"host": "http://gpu:11434"}}}),
         False),  # another Ollama server with a model of the same name
        ((Hop(3, "openai", "m"), {}), (Hop(1, "ollama", "m"), {}), False),
        ((Hop(0, "embedded", "smol.gguf"), {}), (Hop(0, "embedded", "smol.gguf"), {}), True),
    ],
)
def test_who_answered_is_the_backend_instance_and_model(a, b, same):
    (hop_a, over_a), (hop_b, over_b) = a, b
    who_a = answerer(hop_a, settings_from_mapping(over_a))
    who_b = answerer(hop_b, settings_from_mapping(over_b))
    assert (who_a == who_b) is same, (who_a, who_b)


def test_answers_queued_together_are_written_in_one_transaction(tmp_path):
    """The store's writer thread writes every answer queued meanwhile with one commit, not one each."""
    store = AnswerStore(tmp_path / "answers.sqlite3")
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    with store._lock:  # the writer thread waits here, as behind a slow disk, while five answers come in
        for i in range(5):
            store.put(f"k{i}", {"text": f"answer {i}"}, 60.0)
    store.close()  # waits for the queued writes
    again = AnswerStore(tmp_path / "answers.sqlite3")
    assert [again.get(f"k{i}", 60.0) for i in range(5)] == [{"text": f"answer {i}"} for i in range(5)]
    again.close()
    assert sum(s.startswith("INSERT") for s in statements) == 5
    assert statements.count("BEGIN") == 1 and statements.count("COMMIT") == 1


def test_a_lookup_does_not_wait_for_the_writer_blocked_by_another_process(tmp_path, monkeypatch):
    """Another process holds the file's write lock: the writer thread waits for it (here up to 5 s),
    and a lookup, made on the server's event loop, must answer meanwhile from the file as it is."""
    import sqlite3
    import time

    import hybridlsp.engine.cache as cache_mod

    path = tmp_path / "answers.sqlite3"
    first = AnswerStore(path)
    first.put("old", {"text": "kept"}, 60.0)
    first.close()
    monkeypatch.setattr(cache_mod, "_BUSY_S", 5.0)
    store = AnswerStore(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        store.put("new", {"text": "queued"}, 60.0)
        deadline = time.monotonic() + 5
        while not store._lock.locked() and time.monotonic() < deadline:  # the writer is in, waiting
            time.sleep(0.005)
        assert store._lock.locked()
        t0 = time.monotonic()
        assert store.get("old", 60.0) == {"text": "kept"}
        assert store.get("new", 60.0) is None  # not written yet
        waited = time.monotonic() - t0
    finally:
        other.execute("COMMIT")
        other.close()
    store.close()  # the writer gets the lock now and writes the queued answer
    assert waited < 1.0, f"the lookup waited {waited:.2f} s for the writer"
    again = AnswerStore(path)
    assert again.get("new", 60.0) == {"text": "queued"}
    again.close()


def _stored(path, keys) -> list[str]:
    again = AnswerStore(path, clock=lambda: 0.0)
    try:
        return [k for k in keys if again.get(k, 1e9) is not None]
    finally:
        again.close()


def test_the_file_keeps_the_newest_answers_up_to_its_cap_and_drops_the_expired(tmp_path):
    path, now = tmp_path / "answers.sqlite3", [1000.0]

    def put(key: str) -> None:  # a store's first write prunes (then every 64th)
        store = AnswerStore(path, max_rows=3, clock=lambda: now[0])
        store.put(key, {"text": key}, 60.0)
        store.close()
        now[0] += 1

    keys = [f"k{i}" for i in range(5)]
    for k in keys:
        put(k)
    assert _stored(path, keys) == ["k2", "k3", "k4"]
    put("k5")
    assert _stored(path, [*keys, "k5"]) == ["k3", "k4", "k5"]
    now[0] += 120  # every one of them expired by the next prune
    put("k6")
    assert _stored(path, [*keys, "k5", "k6"]) == ["k6"]


def test_below_its_cap_the_file_is_not_sorted_to_find_a_surplus(tmp_path):
    store = AnswerStore(tmp_path / "answers.sqlite3", max_rows=10)
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    store.put("k0", {"text": "answer"}, 60.0)  # the first write of a store prunes
    store.close()
    assert any(s.startswith("DELETE FROM answers WHERE created <") for s in statements)
    assert not any("ORDER BY created" in s for s in statements)
