"""What the engine does with what a backend says besides the answer, against real HTTP upstreams
on 127.0.0.1: thinking asked for per action and kept out of answers and inside budgets, a cut-off
or refused answer escalated like a failed one, a failed hop priced for what was billed, and the
context check counting the output budget."""

import pytest

from hybridlsp.engine import Engine
from hybridlsp.errors import AllTiersFailed
from hybridlsp.request import RunRequest
from tests.unit.engine.test_pipeline import ledger, make_settings  # noqa: F401
from tests.fakes.upstreams import FakeOllama, FakeOpenAI
from tests.support import git

KEY = "sk-test-abcdefghijklmnopqrstuvwxyz0123"
GOOD = "This function adds the price times quantity of each item and returns the sum."
THINKER = "qwen3:14b"


class ByModel(FakeOllama):
    """An Ollama that answers (and ends) per model, so tier 1 and tier 2 can differ."""

    def __init__(self, answers: dict, finishes: dict | None = None, **kw):
        super().__init__(**kw)
        self.answers, self.finishes = answers, finishes or {}

    async def _send_stream(self, req, *args):
        model = req.json["model"]
        self.answer = self.answers.get(model, self.answer)
        self.finish = self.finishes.get(model)
        await super()._send_stream(req, *args)


def settings(ollama, cloud=None, **over):
    """The engine tests' settings with no retries: one answer per hop."""
    over["dispatch"] = {"max_retries": 0, **over.get("dispatch", {})}
    return make_settings(ollama, cloud, **over)


async def run(s, ledger, req: RunRequest, key: bool = True):
    eng = Engine(s, ledger=ledger, env={"OPENAI_API_KEY": KEY} if key else {})
    try:
        return await eng.run(req)
    finally:
        await eng.aclose()


def staged_repo(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.py").write_text("x = 1\n")
    git(tmp_path, "add", "a.py")
    git(tmp_path, "commit", "-q", "-m", "Add a")
    (tmp_path / "a.py").write_text("x = 2\n")
    git(tmp_path, "add", "a.py")
    return tmp_path


# ---- thinking: asked for per action, never in the answer, inside the budget --------------------

THINKING_TIERS = {"tier1": {"backend": "ollama", "model": THINKER, "thinking_tokens": 512}}


async def test_commit_message_asks_a_thinking_model_not_to_think(ledger, tmp_path):
    with ByModel({THINKER: "Bump x to 2"}, models=(THINKER,), thinking_models=(THINKER,),
                 thinking="Let me look at the diff. " * 20) as fake:
        res = await run(settings(fake, tiers=THINKING_TIERS), ledger,
                        RunRequest(action="commit-message", workspace=str(staged_repo(tmp_path))), key=False)
    sent = fake.requests[-1].json
    assert res.text == "Bump x to 2" and res.tier == 1
    assert sent["think"] is False and sent["options"]["num_predict"] == 160  # the action's own budget


async def test_review_lets_a_thinking_model_think_within_a_larger_budget(ledger):
    answer = '{"findings": []}'
    with ByModel({THINKER: answer}, models=(THINKER,), thinking_models=(THINKER,),
                 thinking="Check each branch for a missing return.") as fake:
        res = await run(settings(fake, tiers=THINKING_TIERS), ledger,
                        RunRequest(action="review", text="def f(x):\n    if x:\n        return 1\n"), key=False)
    chat = [r.json for r in fake.requests if r.path == "/api/chat"][-1]
    assert chat["think"] is True
    assert chat["options"]["num_predict"] == 800 + 512  # the answer's budget plus the thinking allowance
    assert "missing return" not in res.text


async def test_a_lone_closing_think_tag_and_what_precedes_it_never_reach_the_message(ledger, tmp_path):
    # DeepSeek-R1's template opens the block inside the prompt: the answer only ever closes it
    with ByModel({"qwen2.5-coder:14b": "The diff bumps x.\n</think>\n\nBump x to 2"}) as fake:
        res = await run(settings(fake), ledger,
                        RunRequest(action="commit-message", workspace=str(staged_repo(tmp_path))), key=False)
    assert res.text == "Bump x to 2" and res.tier == 1


async def test_thinking_counts_as_output_when_the_upstream_reports_no_usage(ledger):
    with FakeOllama() as fake, FakeOpenAI(answer="Cloud: " + GOOD, thinking="word " * 300) as cloud:
        cloud.send_usage = False
        res = await run(settings(fake, cloud), ledger, RunRequest(action="ask", text="[cloud] Analyze the trade-offs"))
    assert res.tier == 3
    (row,) = [r for r in ledger.rows() if r.kind == "request"]
    assert row.tokens_counted and row.output_tokens >= 300  # the 300 thinking words were generated and billed


# ---- a cut-off or refused answer goes through the check and escalation like a failed one -------

async def test_a_cut_off_answer_escalates(ledger):
    with ByModel({"qwen2.5-coder:14b": GOOD, "llama3.3:70b": GOOD},
                 finishes={"qwen2.5-coder:14b": "length"}) as fake:
        res = await run(settings(fake), ledger, RunRequest(action="ask", text="Summarize the log"), key=False)
    assert res.tier == 2 and [f.reason for f in res.fallbacks] == ["truncated"]
    hops = [r for r in ledger.rows() if r.kind == "hop"]
    assert [(h.tier, h.reason) for h in hops] == [(1, "truncated")]


async def test_a_cut_off_answer_that_streamed_is_taken_back_before_the_next_tier_answers(ledger):
    streamed, resets = [], []
    with ByModel({"qwen2.5-coder:14b": "The log shows", "llama3.3:70b": GOOD},
                 finishes={"qwen2.5-coder:14b": "length"}) as fake:
        eng = Engine(settings(fake), ledger=ledger, env={})
        try:
            res = await eng.run(RunRequest(action="ask", text="Summarize the log"),
                                on_text=streamed.append, on_reset=resets.append)
        finally:
            await eng.aclose()
    assert res.tier == 2 and res.text == GOOD
    assert len(resets) == 1 and "cut off" in resets[0]  # the client drops "The log shows" first


async def test_when_every_answer_is_cut_off_the_request_fails_saying_so(ledger):
    # a cut-off answer failed like one that failed its check: never passed on as if it were whole
    with ByModel({}, finishes={"qwen2.5-coder:14b": "length", "llama3.3:70b": "length"}, answer=GOOD) as fake:
        with pytest.raises(AllTiersFailed) as info:
            await run(settings(fake), ledger, RunRequest(action="ask", text="Summarize the log"), key=False)
    assert [why for _, why in info.value.hops][:2] == [
        "the answer was cut off by its 1,024-token output budget",
        "the answer was cut off by its 2,048-token output budget"]


async def test_a_refusal_escalates(ledger):
    with FakeOllama(answer=GOOD) as fake, FakeOpenAI(refusal="I can't help with that.") as cloud:
        res = await run(settings(fake, cloud), ledger, RunRequest(action="ask", text="[cloud] Analyze the trade-offs"))
    assert res.tier == 2 and res.text == GOOD
    assert res.fallbacks[0].reason == "refusal"


# ---- a failed hop is priced for what the provider billed --------------------------------------

async def test_a_cloud_hop_cut_mid_stream_is_priced_for_input_and_partial_output(ledger):
    with FakeOllama(answer=GOOD) as fake, FakeOpenAI(answer="word " * 40, usage=(500, 40)) as cloud:
        cloud.inject("cut")
        res = await run(settings(fake, cloud), ledger, RunRequest(action="ask", text="[cloud] Analyze the trade-offs"))
    assert res.tier == 2
    (hop,) = [r for r in ledger.rows() if r.kind == "hop"]
    assert (hop.tier, hop.reason) == (3, "stream-broken")
    assert hop.input_tokens > 0 and hop.output_tokens > 0 and hop.cost_usd > 0
    assert res.usage.cost_usd >= hop.cost_usd


async def test_a_cloud_hop_refused_before_answering_costs_nothing(ledger):
    with FakeOllama(answer=GOOD) as fake, FakeOpenAI() as cloud:
        cloud.inject("500")
        res = await run(settings(fake, cloud), ledger, RunRequest(action="ask", text="[cloud] Analyze the trade-offs"))
    (hop,) = [r for r in ledger.rows() if r.kind == "hop"]
    assert hop.reason == "server-error" and not hop.cost_usd
    assert res.tier == 2


# ---- the context check includes the output budget ---------------------------------------------

async def test_a_window_must_hold_the_prompt_and_the_output_budget(ledger):
    # ~600 prompt tokens fit 1024 alone, but not with tier 1's 1024-token output budget
    tiers = {"tier1": {"backend": "ollama", "model": "qwen2.5-coder:14b", "num_ctx": 1024}}
    with FakeOllama(answer=GOOD) as fake:
        res = await run(settings(fake, tiers=tiers), ledger,
                        RunRequest(action="ask", text="Summarize: " + "word " * 600), key=False)
    assert res.tier == 2 and res.fallbacks[0].reason == "context-length"
    assert [r.json["model"] for r in fake.requests if r.path == "/api/chat"] == ["llama3.3:70b"]
