"""A host that refused, stalled or answered 5xx is not asked again: not by the other tier it serves in
the same request, nor by later requests for `dispatch.cooldown_s` - unless it is all that is left.

Tiers 1 and 2 are two models on one fake Ollama, tier 3 the fake OpenAI; every fault is on Ollama's
tier-1 model. Limits are tenths of a second; each request's time is bounded from above, so a
stall costs one limit per request, not one per tier on the host.
"""

import time

import pytest

from hybridlsp.request import RunRequest
from hybridlsp.errors import AllTiersFailed
from tests.fakes.upstreams import Fault, FakeOpenAI
from tests.unit.engine.test_pipeline import GOOD, ByModel, engine_for, ledger, make_settings  # noqa: F401

CLOUD = "Cloud says: " + GOOD
ASK = RunRequest(action="ask", text="Summarize: the build is green.")  # tier 1, then 2, then 3
LIMITS = {"connect_timeout_s": 0.3, "first_token_timeout_s": 0.4, "read_timeout_s": 0.3, "hop_timeout_s": 2,
          "max_retries": 1, "cooldown_s": 30}
SLACK_S = 0.7  # the cloud's answer, and a loaded CPU

FAULTS = [
    # (fault on tier 1, ollama requests, reason, the limit that ends it)
    pytest.param("stall", 1, "timeout", LIMITS["read_timeout_s"], id="silent half-way"),
    pytest.param("hang", 1, "timeout", LIMITS["first_token_timeout_s"], id="no first token"),
    pytest.param("500", 2, "server-error", 0.25, id="500 (retried once)"),
    pytest.param("down", 0, "unavailable", 0.0, id="connection refused"),
]


@pytest.fixture(scope="module", autouse=True)
def _warm(tmp_path_factory):
    """Run one request first: what a process loads on its first one (tiktoken's tables, the actions)
    is not what these tests time."""
    import asyncio

    from hybridlsp.ledger.store import Ledger

    async def once(ollama):
        with Ledger(tmp_path_factory.mktemp("warm") / "ledger.sqlite3") as led:
            eng = engine_for(make_settings(ollama), led)
            await eng.run(RunRequest(action="ask", text="Summarize: warm up."))
            await eng.aclose()

    with ByModel({"qwen2.5-coder:14b": GOOD}) as ollama:
        asyncio.run(once(ollama))


@pytest.fixture
def upstreams():
    with ByModel({"qwen2.5-coder:14b": GOOD, "llama3.3:70b": GOOD}) as ollama, FakeOpenAI(answer=CLOUD) as cloud:
        yield ollama, cloud


def _fault(ollama, fault: str) -> None:
    if fault == "down":
        ollama.down()
    else:
        ollama.inject(*[Fault(fault)] * 2)  # as many as the retries could use: the host stays faulty


@pytest.mark.parametrize("fault, sent, reason, limit_s", FAULTS)
async def test_the_other_tier_on_the_host_is_skipped(upstreams, ledger, figures, fault, sent, reason, limit_s):  # noqa: F811
    ollama, cloud = upstreams
    _fault(ollama, fault)
    eng = engine_for(make_settings(ollama, cloud, dispatch=LIMITS), ledger)
    resets: list[str] = []
    t0 = time.monotonic()
    res = await eng.run(ASK, on_reset=resets.append)
    elapsed = time.monotonic() - t0
    t1 = time.monotonic()
    later = await eng.run(RunRequest(action="ask", text="Summarize: the tests pass."))
    later_s = time.monotonic() - t1
    await eng.aclose()

    assert res.backend == "openai" and res.text == CLOUD and ollama.request_count == sent
    assert [(f.from_.split(":")[0], f.reason) for f in res.fallbacks] == [("tier1", reason), ("tier2", "host-down")]
    assert elapsed <= limit_s + SLACK_S, f"{elapsed:.2f} s"
    hops = [(r.tier, r.reason) for r in ledger.rows() if r.kind == "hop"]
    assert hops[:2] == [(1, reason), (2, "host-down")]
    if fault == "stall":  # text had streamed: the user is told it is dropped, and who answers instead
        assert len(resets) == 1 and "dropped" in resets[0] and "tier1:ollama/qwen2.5-coder:14b" in resets[0]
        assert "escalating to tier3:openai/gpt-4.1, which answers instead" in resets[0]
        assert any("dropped" in n for n in res.notes)
    # the next request, within the cool-down, does not wait on the host again
    assert later.backend == "openai" and ollama.request_count == sent and later_s < SLACK_S
    assert [f.reason for f in later.fallbacks] == ["host-cooldown", "host-cooldown"]
    figures.setdefault("host skip: time to the cloud's answer (s)", "")
    figures["host skip: time to the cloud's answer (s)"] += f"{fault} {elapsed:.2f} (next request {later_s:.2f}); "


async def test_a_stall_costs_one_limit_when_nothing_else_is_left(upstreams, ledger):  # noqa: F811
    ollama, cloud = upstreams
    cloud.down()
    ollama.inject(Fault("stall"), Fault("stall"))
    eng = engine_for(make_settings(ollama, cloud, dispatch=LIMITS), ledger)
    t0 = time.monotonic()
    with pytest.raises(AllTiersFailed) as failed:
        await eng.run(ASK)
    elapsed = time.monotonic() - t0
    await eng.aclose()
    assert ollama.request_count == 1 and elapsed <= LIMITS["read_timeout_s"] + SLACK_S, f"{elapsed:.2f} s"
    assert "went silent" in str(failed.value) and "not asked again" in str(failed.value)


async def test_when_every_host_is_cooling_down_the_chain_is_tried(upstreams, ledger):  # noqa: F811
    """Both hosts failed a moment ago; Ollama is back: it is asked rather than the request failed untried."""
    ollama, cloud = upstreams
    ollama.down()
    cloud.down()
    eng = engine_for(make_settings(ollama, cloud, dispatch=LIMITS), ledger)
    with pytest.raises(AllTiersFailed):
        await eng.run(ASK)
    ollama.up()
    res = await eng.run(ASK)
    await eng.aclose()
    assert (res.tier, res.backend, res.fallbacks) == (1, "ollama", []) and ollama.request_count == 1


async def test_an_answer_ends_the_hosts_cool_down(upstreams, ledger):  # noqa: F811
    ollama, cloud = upstreams
    ollama.down()
    cloud.down()
    eng = engine_for(make_settings(ollama, cloud, dispatch=LIMITS), ledger)
    with pytest.raises(AllTiersFailed):
        await eng.run(ASK)
    ollama.up()
    await eng.run(ASK)  # tried as the only hosts left, and answers
    cloud.up()
    res = await eng.run(RunRequest(action="ask", text="Summarize: the tests pass."))
    await eng.aclose()
    assert res.backend == "ollama" and res.fallbacks == []  # not skipped: the cloud is still cooling, Ollama is not
