"""Escalation driven by the answer, and learning from the user, through the engine against real
HTTP upstreams on 127.0.0.1 (tests/fakes): what escalates, what stays, what the ledger records."""

import math

import pytest

from hybridlsp.config import settings_from_mapping
from hybridlsp.engine import Engine
from hybridlsp.request import RunRequest
from tests.unit.engine.test_pipeline import ledger, make_settings  # noqa: F401
from tests.fakes.upstreams import FakeOllama, FakeOpenAI

KEY = "sk-test-abcdefghijklmnopqrstuvwxyz0123"
T1, T2 = "qwen2.5-coder:14b", "llama3.3:70b"
WRONG = "She sells 9 eggs at $2 each, so 9 * 2 = 20 dollars a day."
RIGHT = "She sells 9 eggs at $2 each, so 9 * 2 = 18 dollars a day."
QUESTION = "Janet sells 9 eggs a day at $2 each. How much does she make?"


def settings_for(ollama, cloud=None, **over):
    """The engine tests' settings with no retries: one answer per hop."""
    over["dispatch"] = {"max_retries": 0, **over.get("dispatch", {})}
    return make_settings(ollama, cloud, **over)


async def run(settings, ledger, text=QUESTION, key=True, **req):
    eng = Engine(settings, ledger=ledger, env={"OPENAI_API_KEY": KEY} if key else {})
    try:
        return await eng.run(RunRequest(action="ask", text=text, **req)), eng
    finally:
        await eng.aclose()


def hops(ledger):
    return [(r.tier, r.reason, r.signal) for r in ledger.rows() if r.kind == "hop"]


async def test_a_wrong_calculation_goes_up_a_tier_and_the_ledger_says_why(ledger):
    with FakeOllama(answers={T1: WRONG, T2: RIGHT}) as ollama:
        res, _ = await run(settings_for(ollama), ledger)
    assert (res.tier, res.text) == (2, RIGHT)
    assert [(f.from_, f.reason) for f in res.fallbacks] == [(f"tier1:ollama/{T1}", "low-confidence")]
    assert hops(ledger) == [(1, "low-confidence", "arithmetic")]
    [request] = [r for r in ledger.rows() if r.kind == "request"]
    assert (request.tier, request.outcome, request.validator) == (2, "fallback", "pass")


async def test_a_flagged_answer_stands_when_no_bigger_tier_answers(ledger):
    with FakeOllama(answer=WRONG) as ollama, FakeOpenAI(answer=RIGHT) as cloud:
        cloud.inject("500")  # both local tiers are wrong, and the cloud fails
        res, _ = await run(settings_for(ollama, cloud), ledger)
    assert (res.tier, res.text) == (2, WRONG)
    assert any("low confidence (arithmetic" in n for n in res.notes)
    assert hops(ledger) == [(1, "low-confidence", "arithmetic"), (3, "server-error", "")]
    [request] = [r for r in ledger.rows() if r.kind == "request"]
    assert (request.tier, request.signal, request.validator) == (2, "arithmetic", "pass")  # it stood, doubted


async def test_the_last_local_tier_is_not_doubted_without_a_bigger_one(ledger):
    with FakeOllama(answer=WRONG) as ollama:  # no cloud key: tier 2 is the top of the chain
        res, _ = await run(settings_for(ollama), ledger, key=False)
    assert (res.tier, res.text) == (2, WRONG)
    assert hops(ledger) == [(1, "low-confidence", "arithmetic")]


async def test_off_or_without_the_signal_the_first_answer_stands(ledger):
    with FakeOllama(answers={T1: WRONG, T2: RIGHT}) as ollama:
        off, _ = await run(settings_for(ollama, escalation={"enabled": False}), ledger)
        other, _ = await run(settings_for(ollama, escalation={"signals": ["hedging"]}), ledger)
    assert (off.tier, off.text) == (other.tier, other.text) == (1, WRONG)
    assert hops(ledger) == []


async def test_a_cloud_answer_is_never_escalated(ledger):
    with FakeOllama(answer=RIGHT) as ollama, FakeOpenAI(answer=WRONG) as cloud:
        res, _ = await run(settings_for(ollama, cloud), ledger, text="[cloud] " + QUESTION)
    assert (res.tier, res.text) == (3, WRONG) and hops(ledger) == []


async def test_unsure_tokens_escalate_where_the_backend_sends_log_probabilities(ledger):
    with FakeOllama(answer=RIGHT, token_logprob=math.log(0.2)) as ollama, FakeOpenAI(answer=RIGHT) as cloud:
        res, _ = await run(settings_for(ollama, cloud), ledger)
        sent = [r.json for r in ollama.requests if r.path == "/api/chat"]
    assert res.tier == 3
    assert all(body["logprobs"] is True for body in sent)
    assert hops(ledger) == [(1, "low-confidence", "token-confidence"), (2, "low-confidence", "token-confidence")]


async def test_sure_tokens_do_not(ledger):
    with FakeOllama(answer=RIGHT, token_logprob=math.log(0.95)) as ollama:
        res, _ = await run(settings_for(ollama), ledger)
    assert res.tier == 1 and hops(ledger) == []


class TwoMinds(FakeOllama):
    """A local model whose second sample of each question answers otherwise."""

    async def _send_stream(self, req, *args):
        hot = req.json.get("options", {}).get("temperature", 0) > 0.5
        self.answer = "#### 20" if hot else "She makes 9 * 2 = 18, so #### 18"
        await super()._send_stream(req, *args)


async def test_two_samples_that_disagree_escalate_when_opted_in(ledger):
    esc = {"second_sample": True, "signals": ["samples-disagree"], "sample_temperature": 0.9}
    with TwoMinds() as ollama, FakeOpenAI(answer="#### 18") as cloud:
        res, _ = await run(settings_for(ollama, cloud, escalation=esc), ledger)
        temps = [r.json["options"]["temperature"] for r in ollama.requests if r.path == "/api/chat"]
    assert res.tier == 3 and res.text == "#### 18"
    assert temps == [0.2, 0.9, 0.2, 0.9]  # each local tier: the answer, then the second sample
    assert hops(ledger)[0] == (1, "low-confidence", "samples-disagree")


async def test_two_samples_are_not_asked_for_unless_opted_in(ledger):
    with FakeOllama(answer=RIGHT) as ollama:
        res, _ = await run(settings_for(ollama), ledger)
        chats = [r for r in ollama.requests if r.path == "/api/chat"]
    assert res.tier == 1 and len(chats) == 1


async def test_learning_from_the_user_records_outcomes_and_resets(ledger, tmp_path):
    state = tmp_path / "learner.json"
    with FakeOllama(answers={T1: WRONG, T2: RIGHT}) as ollama:
        settings = settings_for(ollama, escalation={"learn": True}, routing={"difficulty": "none"})
        res, eng = await run(settings, ledger)
        assert "adapted to you" in res.decision.reasons[0]
        assert state.is_file()  # the outcome of the tier tried: tier 1 was not enough
        first = res.decision.tier
        assert eng.learning.user.outcomes == 1
        # the same question again on a bigger tier, chosen: corrects nothing more, learns nothing itself
        again, eng2 = await run(settings, ledger, text="[cloud] " + QUESTION, key=False)
    assert first == 1 and again.tier == 2  # no cloud key: the best local tier
    import subprocess, sys, os

    env = {**os.environ, "HYBRIDLSP_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "hybridlsp", "tune", "--reset"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not state.exists() and "forgot" in out.stdout


async def test_a_doubted_answer_that_stood_is_not_served_from_the_cache(ledger):
    with FakeOllama(answer=WRONG) as ollama, FakeOpenAI(answer=RIGHT) as cloud:
        cloud.inject("500", "500")
        eng = Engine(settings_for(ollama, cloud, cache={"enabled": True, "persist": False}), ledger=ledger,
                     env={"OPENAI_API_KEY": KEY})
        try:
            # doubted on tier 1 and tier 2, the cloud fails: tier 2's answer stands, doubted
            first = await eng.run(RunRequest(action="ask", text=QUESTION))
            # the same messages decided for tier 2 would find it under tier 2's cache key
            again = await eng.run(RunRequest(action="ask", text="[tier2] " + QUESTION))
        finally:
            await eng.aclose()
    assert first.tier == 2 and first.text == WRONG and not again.cached


def test_route_decides_with_the_adapted_estimate_when_learning(tmp_path, monkeypatch):
    import io

    from hybridlsp.engine.route import Router
    from hybridlsp.engine.route_many import route_jsonl

    monkeypatch.setenv("HYBRIDLSP_HOME", str(tmp_path))
    on = Router(settings_from_mapping({"escalation": {"learn": True}}), env={})
    off = Router(settings_from_mapping({}), env={})
    req = RunRequest(action="ask", text=QUESTION)
    assert "adapted to you" in on.decide(req, 20).reasons[0]
    assert "adapted to you" not in off.decide(req, 20).reasons[0]
    out = io.StringIO()
    route_jsonl(on, ['{"prompt": "%s"}' % QUESTION], out.write, lambda w: None)
    assert "adapted to you" in out.getvalue()
