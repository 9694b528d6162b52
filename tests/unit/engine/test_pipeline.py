"""The engine end to end against real HTTP upstreams on 127.0.0.1: routing, fallback, ledger."""

import asyncio
import json
import sqlite3
import subprocess
import time

import pytest

from hybridlsp.ledger.records import RequestRecord
from hybridlsp.config import settings_from_mapping
from hybridlsp.engine import Engine
from hybridlsp.request import RunRequest
from hybridlsp.errors import AllTiersFailed
from hybridlsp.ledger.report import compute_report
from hybridlsp.ledger.store import Ledger
from tests.fakes.upstreams import Fault, FakeAnthropic, FakeOllama, FakeOpenAI
from tests.support import need_module

KEY = "sk-test-abcdefghijklmnopqrstuvwxyz0123"
GOOD = "This function adds the price times quantity of each item and returns the sum."


class ByModel(FakeOllama):
    """An Ollama that answers per model, so tier 1 and tier 2 can disagree."""

    def __init__(self, answers: dict, **kw):
        kw.setdefault("loaded", tuple(answers))  # every model it answers for is in memory (/api/ps)
        super().__init__(**kw)
        self.answers = answers

    async def _send_stream(self, req, *args):
        self.answer = self.answers.get(req.json["model"], self.answer)
        await super()._send_stream(req, *args)


def make_settings(ollama=None, cloud=None, **over):
    data = {
        "embedded": {"enabled": False},
        "dispatch": {"max_retries": 1, "retry_after_max_s": 1.0, "cooldown_s": 30, "read_timeout_s": 2,
                     "first_token_timeout_s": 2, "connect_timeout_s": 1},
        "backends": {},
    }
    if ollama is not None:
        data["backends"]["ollama"] = {"host": ollama.url}
    if cloud is not None:
        data["backends"][cloud.backend] = {"base_url": cloud.base_url}
        if cloud.backend == "anthropic":
            data["tiers"] = {"tier3": {"backend": "anthropic", "model": "claude-sonnet-4-5"}}
    for k, v in over.items():
        data.setdefault(k, {}).update(v)
    return settings_from_mapping(data)


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite3") as led:
        yield led


@pytest.fixture
def ollama():
    with ByModel({"qwen2.5-coder:14b": GOOD, "llama3.3:70b": GOOD}) as fake:
        yield fake


@pytest.fixture
def openai():
    with FakeOpenAI(answer="Cloud says: " + GOOD, usage=(120, 40)) as fake:
        yield fake


def engine_for(settings, ledger, key=True, env_extra=None):
    env = {"OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": KEY} if key else {}
    env.update(env_extra or {})
    return Engine(settings, ledger=ledger, env=env)


async def test_simple_ask_runs_on_tier1_and_is_recorded(ollama, ledger):
    eng = engine_for(make_settings(ollama), ledger)
    chunks = []
    res = await eng.run(RunRequest(action="ask", text="Summarize: the build is green."), on_text=chunks.append)
    await eng.aclose()
    assert res.text == GOOD and "".join(chunks) == GOOD and len(chunks) > 3
    assert (res.tier, res.backend, res.model) == (1, "ollama", "qwen2.5-coder:14b")
    assert res.usage.input_tokens == 11 and res.usage.output_tokens == 7  # the backend's own usage
    assert res.usage.cost_usd == 0 and res.usage.baseline_cost_usd > 0
    body = ollama.requests[-1].json
    assert body["options"]["num_ctx"] == 8192 and body["keep_alive"] == "30m"
    rows = ledger.rows()
    assert len(rows) == 1 and rows[0].outcome == "ok" and rows[0].tier == 1


async def test_invalid_local_answer_escalates_to_tier2(ledger):
    with ByModel({"qwen2.5-coder:14b": "I'm not sure.", "llama3.3:70b": GOOD}) as fake:
        eng = engine_for(make_settings(fake), ledger)
        resets = []
        res = await eng.run(RunRequest(action="ask", text="Summarize the log"), on_reset=resets.append)
        await eng.aclose()
    assert res.tier == 2 and res.text == GOOD
    assert [(f.reason) for f in res.fallbacks] == ["invalid-answer"]
    assert resets and "escalating" in resets[0]
    hops = [r for r in ledger.rows() if r.kind == "hop"]
    assert [(h.tier, h.reason) for h in hops] == [(1, "invalid-answer")]


async def test_local_refusing_falls_back_to_cloud_and_breaker_skips_next_time(ollama, openai, ledger):
    # a 429 is about the key, not the host (tests/reliability/test_host_skip.py): both Ollama tiers
    # are asked, and two failures in a row open Ollama's circuit
    ollama.inject(*[Fault("429", retry_after="60")] * 10)
    s = make_settings(ollama, openai, dispatch={"max_retries": 0, "failures_to_trip": 2})
    eng = engine_for(s, ledger)
    res = await eng.run(RunRequest(action="ask", text="Summarize this"))
    assert res.tier == 3 and res.text.startswith("Cloud says")
    assert [f.reason for f in res.fallbacks] == ["rate-limited", "rate-limited"]
    assert ollama.request_count == 2
    res2 = await eng.run(RunRequest(action="ask", text="Summarize that"))
    await eng.aclose()
    assert res2.tier == 3 and ollama.request_count == 2  # circuit open: not asked again
    assert [f.reason for f in res2.fallbacks] == ["circuit-open", "circuit-open"]
    assert res.usage.cost_usd > 0  # cloud tokens priced


async def test_429_retry_after_within_bound_is_retried_once(ollama, ledger):
    ollama.inject(Fault("429", retry_after="0.2"))
    eng = engine_for(make_settings(ollama), ledger)
    t0 = time.monotonic()
    res = await eng.run(RunRequest(action="ask", text="Summarize"))
    await eng.aclose()
    assert res.tier == 1 and ollama.request_count == 2 and time.monotonic() - t0 >= 0.2


async def test_429_retry_after_too_long_escalates_without_waiting(ollama, openai, ledger):
    ollama.inject(Fault("429", retry_after="60"), Fault("429", retry_after="60"))
    eng = engine_for(make_settings(ollama, openai), ledger)
    t0 = time.monotonic()
    res = await eng.run(RunRequest(action="ask", text="Summarize"))
    await eng.aclose()
    assert res.tier == 3 and time.monotonic() - t0 < 5
    assert [f.reason for f in res.fallbacks] == ["rate-limited", "rate-limited"]


# (a timeout or a 5xx skips tier 2 on the same host: tests/reliability/test_host_skip.py)
@pytest.mark.parametrize("fault,reason", [("400-context", "context-length"), ("cut", "stream-broken"),
                                          ("malformed", "stream-broken")])
async def test_each_fault_escalates_with_its_reason(ollama, ledger, fault, reason):
    ollama.inject(fault)
    eng = engine_for(make_settings(ollama, dispatch={"read_timeout_s": 0.5, "first_token_timeout_s": 0.5}), ledger)
    res = await eng.run(RunRequest(action="ask", text="Summarize"))
    await eng.aclose()
    assert res.tier == 2 and res.fallbacks[0].reason == reason


async def test_secret_never_reaches_the_cloud_even_when_asked(ollama, openai, ledger):
    eng = engine_for(make_settings(ollama, openai), ledger)
    prompt = "[cloud] Analyze this config: AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    res = await eng.run(RunRequest(action="ask", text=prompt))
    await eng.aclose()
    assert res.tier == 2 and res.decision.private
    assert openai.request_count == 0
    assert any("secret" in r for r in res.decision.reasons)


async def test_local_only_path_stays_local(ollama, openai, ledger, tmp_path):
    env = tmp_path / ".env"
    env.write_text("DEBUG=1\n")
    eng = engine_for(make_settings(ollama, openai), ledger)
    res = await eng.run(RunRequest(action="explain", text="DEBUG=1", path=str(env), prompt="[cloud]"))
    await eng.aclose()
    assert res.tier in (1, 2) and openai.request_count == 0


async def test_cloud_without_key_uses_best_local_tier_with_note(ollama, openai, ledger):
    eng = engine_for(make_settings(ollama, openai), ledger, key=False)
    res = await eng.run(RunRequest(action="ask", text="[cloud] Analyze the trade-offs"))
    await eng.aclose()
    assert res.tier == 2 and openai.request_count == 0
    assert any("no API key" in n for n in res.notes + list(res.decision.reasons))


async def test_key_goes_only_to_its_own_provider(ollama, openai, ledger):
    eng = engine_for(make_settings(ollama, openai), ledger)
    await eng.run(RunRequest(action="ask", text="[cloud] Analyze the trade-offs"))
    await eng.run(RunRequest(action="ask", text="Summarize"))
    await eng.aclose()
    assert openai.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    assert all(KEY not in json.dumps(r.headers) + r.body.decode() for r in ollama.requests)


async def test_anthropic_cloud_tier(ollama, ledger):
    with FakeAnthropic(answer=GOOD, usage=(50, 20)) as anth:
        eng = engine_for(make_settings(ollama, anth), ledger)
        res = await eng.run(RunRequest(action="ask", text="[cloud] Analyze the trade-offs"))
        await eng.aclose()
    assert res.backend == "anthropic" and res.usage.input_tokens == 50 and res.usage.cost_usd > 0
    assert anth.requests[-1].headers["x-api-key"] == KEY


async def test_cache_answers_repeats_at_zero_cost(ollama, ledger):
    eng = engine_for(make_settings(ollama), ledger)
    req = RunRequest(action="explain", text="def f(x):\n    return x * 2\n", language="python")
    a = await eng.run(req)
    b = await eng.run(req)
    await eng.aclose()
    assert not a.cached and b.cached and b.text == a.text and ollama.request_count == 1
    outcomes = [r.outcome for r in ledger.rows() if r.kind == "request"]
    assert sorted(outcomes) == ["cache-hit", "ok"]


async def test_cache_is_shared_with_the_next_process(ollama, ledger, tmp_path):
    # the CLI and the git hook start a new process per request: a second engine on the same data
    # directory answers a repeat from answers.sqlite3, at no cost
    req = RunRequest(action="explain", text="def f(x):\n    return x * 2\n", language="python")
    first = engine_for(make_settings(ollama), ledger)
    a = await first.run(req)
    await first.aclose()
    assert (tmp_path / "answers.sqlite3").is_file()
    second = engine_for(make_settings(ollama), ledger)
    b = await second.run(req)
    await second.aclose()
    assert not a.cached and b.cached and b.text == a.text and ollama.request_count == 1
    assert (b.backend, b.model, b.tier) == (a.backend, a.model, a.tier) and b.usage.cost_usd == 0.0
    # the file holds the answer under a hash of the request, never the prompt
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("answers.sqlite3*"))
    assert a.text.encode() in raw and b"return x * 2" not in raw
    assert (tmp_path / "answers.sqlite3").stat().st_mode & 0o077 == 0  # readable by this user only


async def test_private_answers_are_never_written_to_the_shared_file(ollama, ledger):
    req = RunRequest(action="ask", text="What does DB_PASSWORD=Sup3rS3cretValue99 unlock?")
    first = engine_for(make_settings(ollama), ledger)
    a = await first.run(req)
    again = await first.run(req)  # the same process still remembers it
    await first.aclose()
    assert a.decision.private and again.cached
    second = engine_for(make_settings(ollama), ledger)
    b = await second.run(req)
    await second.aclose()
    assert not b.cached and ollama.request_count == 2


async def test_shared_cache_can_be_turned_off_and_expires(ollama, ledger, tmp_path):
    req = RunRequest(action="explain", text="x = 1\n", language="python")
    off = make_settings(ollama, cache={"persist": False})
    for _ in range(2):
        eng = engine_for(off, ledger)
        await eng.run(req)
        await eng.aclose()
    assert ollama.request_count == 2 and not (tmp_path / "answers.sqlite3").exists()
    expiring = make_settings(ollama, cache={"ttl_s": 0.0})
    for _ in range(2):
        eng = engine_for(expiring, ledger)
        await eng.run(req)
        await eng.aclose()
    assert ollama.request_count == 4


async def test_a_damaged_answer_file_is_a_miss_not_an_error(ollama, ledger, tmp_path):
    (tmp_path / "answers.sqlite3").write_bytes(b"not a database" * 100)
    req = RunRequest(action="explain", text="y = 2\n", language="python")
    eng = engine_for(make_settings(ollama), ledger)
    a = await eng.run(req)
    b = await eng.run(req)  # memory still works
    await eng.aclose()
    assert a.text and not a.cached and b.cached and ollama.request_count == 1


async def test_completions_are_never_cached(ollama, ledger):
    ollama.answers["qwen2.5-coder:14b"] = "    return x * 2\n"
    eng = engine_for(make_settings(ollama), ledger)
    req = RunRequest(action="complete", text="def f(x):\n", language="python", path="f.py",
                     document="def f(x):\n", start_line=0, end_line=0)
    a = await eng.run(req)
    await eng.run(req)
    await eng.aclose()
    assert a.text.strip() == "return x * 2" and ollama.request_count == 2


async def test_completion_that_does_not_parse_escalates(ledger):
    with ByModel({"qwen2.5-coder:14b": "    return (x * \n", "llama3.3:70b": "    return x * 2\n"}) as fake:
        eng = engine_for(make_settings(fake), ledger)
        res = await eng.run(RunRequest(action="complete", text="def f(x):\n", language="python", path="f.py",
                                       document="def f(x):\n"))
        await eng.aclose()
    assert res.tier == 2 and res.fallbacks[0].reason == "invalid-answer"


async def test_review_findings_are_parsed_with_document_lines(ledger):
    answer = json.dumps({"findings": [{"line": 12, "severity": "error", "message": "division by zero when empty",
                                       "fix": "    return total_price(items) / max(len(items), 1)"}]})
    with ByModel({"llama3.3:70b": answer}) as fake:
        eng = engine_for(make_settings(fake), ledger)
        code = "def average_price(items):\n    return total_price(items) / len(items)\n"
        res = await eng.run(RunRequest(action="review", text=code, start_line=10, end_line=11, language="python"))
        await eng.aclose()
    assert res.tier == 2
    assert [(f.line, f.severity) for f in res.findings] == [(11, "error")]
    assert "division by zero" in res.text
    assert fake.requests[-1].json["format"]["required"] == ["findings"]  # structured output asked for


def _repo(tmp_path, content: str):
    env = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@e.invalid", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@e.invalid", "PATH": "/usr/bin:/bin"}
    run = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, env=env, check=True, capture_output=True)  # noqa
    run("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    run("add", "a.py")
    run("commit", "-q", "-m", "Add a")
    (tmp_path / "a.py").write_text(content)
    run("add", "a.py")
    return tmp_path


async def test_commit_message_from_staged_diff(ollama, ledger, tmp_path):
    repo = _repo(tmp_path, "x = 2\n")
    ollama.answers["qwen2.5-coder:14b"] = "Commit message: Bump x to 2\n\nThe old value was too small."
    eng = engine_for(make_settings(ollama), ledger)
    res = await eng.run(RunRequest(action="commit-message", workspace=str(repo)))
    await eng.aclose()
    assert res.text == "Bump x to 2\n\nThe old value was too small."
    sent = ollama.requests[-1].json["messages"][-1]["content"]
    assert "+x = 2" in sent and "-x = 1" in sent and "Add a" in sent  # diff and recent subjects


async def test_overlong_commit_subject_escalates(ledger, tmp_path):
    repo = _repo(tmp_path, "x = 2\n")
    with ByModel({"qwen2.5-coder:14b": "Change " * 20, "llama3.3:70b": "Set x to 2"}) as fake:
        eng = engine_for(make_settings(fake), ledger)
        res = await eng.run(RunRequest(action="commit-message", workspace=str(repo)))
        await eng.aclose()
    assert res.text == "Set x to 2" and res.tier == 2


async def test_huge_staged_diff_is_condensed_not_failed(ollama, ledger, tmp_path):
    big = "".join(f"value_{i} = {i}  # a fairly long line of generated-looking content\n" for i in range(20_000))
    repo = _repo(tmp_path, big)
    ollama.answers["qwen2.5-coder:14b"] = "Add twenty thousand values"
    eng = engine_for(make_settings(ollama), ledger, key=False)
    res = await eng.run(RunRequest(action="commit-message", workspace=str(repo)))
    await eng.aclose()
    assert res.text == "Add twenty thousand values"
    assert any("condensed" in n for n in res.notes)
    assert all(len(r.body) < 60_000 for r in ollama.requests)  # no request carries the whole diff


def _big_diff(tmp_path):
    big = "".join(f"value_{i} = {i}  # a fairly long line of generated-looking content\n" for i in range(20_000))
    return _repo(tmp_path, big)


async def test_condense_calls_are_recorded_as_hops_of_the_request(ollama, ledger, tmp_path):
    repo = _big_diff(tmp_path)
    ollama.answers = {"qwen2.5-coder:14b": "Add twenty thousand values", "llama3.3:70b": "Add twenty thousand values"}
    eng = engine_for(make_settings(ollama), ledger, key=False)
    res = await eng.run(RunRequest(action="commit-message", workspace=str(repo)))
    await eng.aclose()
    rows = ledger.rows()
    (request,) = [r for r in rows if r.kind == "request"]
    condensed = [r for r in rows if r.kind == "hop" and r.parent_id == request.id]
    summaries = len(ollama.requests) - 1  # every request but the last was a summary
    assert request.id == res.request_id and summaries >= 2
    assert [r.reason for r in condensed] == ["condense"] * summaries
    assert all(r.input_tokens > 0 and r.output_tokens > 0 for r in condensed)
    assert res.fallbacks == [] and request.outcome == "ok"  # a condensed request did not fall back
    assert compute_report(rows, []).metric("fallback rate").value == 0.0


async def test_condense_calls_go_through_the_budget_hold(ollama, openai, ledger, tmp_path):
    """Tier 1 on a cloud backend with a cap nearly spent: no summary call may reach the cloud."""
    ledger.record_request(RequestRecord(action="ask", tier=3, backend="openai", model="gpt-4.1", input_tokens=1,
                                        output_tokens=1, latency_ms=1, cost_usd=4.9999, baseline_cost_usd=4.9999))
    repo = _big_diff(tmp_path)
    ollama.answers["llama3.3:70b"] = "Add twenty thousand values"
    settings = make_settings(ollama, openai, tiers={"tier1": {"backend": "openai", "model": "gpt-4.1"}},
                             budget={"monthly_cloud_usd": 5.0})
    eng = engine_for(settings, ledger)
    res = await eng.run(RunRequest(action="commit-message", workspace=str(repo)))
    await eng.aclose()
    assert openai.request_count == 0 and res.tier == 2
    hops = [r for r in ledger.rows() if r.kind == "hop" and r.parent_id == res.request_id]
    assert {"budget", "condense"} <= {r.reason for r in hops}
    assert all(r.backend == "ollama" for r in hops if r.reason == "condense")


async def test_everything_down_is_a_clear_error(ledger):
    with FakeOllama() as fake:
        fake.down()
        eng = engine_for(make_settings(fake), ledger, key=False)
        with pytest.raises(AllTiersFailed, match="ollama"):
            await eng.run(RunRequest(action="ask", text="hi"))
        await eng.aclose()


async def test_cancel_closes_the_upstream_stream_quickly(ollama, ledger):
    ollama.inject(Fault("drip", delay=0.2))
    eng = engine_for(make_settings(ollama), ledger)
    got_first = asyncio.Event()
    task = asyncio.create_task(eng.run(RunRequest(action="ask", text="Summarize"),
                                       on_text=lambda t: got_first.set()))
    await asyncio.wait_for(got_first.wait(), 5)
    t0 = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await ollama.wait_disconnected(1.0)
    assert ollama.disconnected_at - t0 < 0.05
    await eng.aclose()


async def test_budget_spent_degrades_cloud_to_tier2(ollama, openai, ledger):
    ledger.record_request(RequestRecord(action="ask", tier=3, backend="openai", model="gpt-4.1", input_tokens=1, output_tokens=1,
                          latency_ms=1, cost_usd=5.0, baseline_cost_usd=5.0))
    eng = engine_for(make_settings(ollama, openai, budget={"monthly_cloud_usd": 5.0}), ledger)
    res = await eng.run(RunRequest(action="ask", text="[cloud] Analyze the trade-offs"))
    await eng.aclose()
    assert res.tier == 2 and openai.request_count == 0
    assert any("monthly cloud budget" in r for r in res.decision.reasons)


async def test_feedback_lands_in_the_ledger(ollama, ledger):
    eng = engine_for(make_settings(ollama), ledger)
    res = await eng.run(RunRequest(action="ask", text="Summarize"))
    await eng.feedback(res.request_id, "bad", "wrong")
    await eng.aclose()
    assert [f.verdict for f in ledger.feedback()] == ["bad"]


async def test_feedback_waits_for_a_locked_ledger_off_the_loop(ollama, ledger):
    """Another process holds the ledger's write lock: the verdict is written once it is free,
    and the server's loop goes on meanwhile."""
    import sqlite3

    eng = engine_for(make_settings(ollama), ledger)
    res = await eng.run(RunRequest(action="ask", text="Summarize"))
    loop = asyncio.get_running_loop()
    other = sqlite3.connect(ledger.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        t0 = loop.time()
        task = asyncio.create_task(eng.feedback(res.request_id, "good"))
        await asyncio.sleep(0.1)
        assert loop.time() - t0 < 1.0 and not task.done()
    finally:
        other.execute("COMMIT")
        other.close()
    await asyncio.wait_for(task, 10)
    await eng.aclose()
    assert [f.verdict for f in ledger.feedback()] == ["good"]


@pytest.mark.embedded
async def test_embedded_model_answers_when_ollama_is_down(ledger):
    need_module("llama_cpp", "the embedded extra is not installed: pip install -e '.[embedded]'")
    with FakeOllama() as fake:
        fake.down()
        s = make_settings(fake, embedded={"enabled": True, "max_output_tokens": 24})
        eng = engine_for(s, ledger, key=False)
        chunks = []
        res = await eng.run(RunRequest(action="ask", text="Summarize in one sentence: the tests pass."),
                            on_text=chunks.append)
        await eng.aclose()
    assert res.tier == 0 and res.backend == "embedded" and res.text.strip()
    assert "".join(chunks).strip() and res.usage.output_tokens > 0 and res.usage.cost_usd == 0
    assert [f.reason for f in res.fallbacks] == ["unavailable", "host-down"]  # tier 2 is on the same host
    assert [r.backend for r in ledger.rows() if r.kind == "request"] == ["embedded"]


async def test_local_only_request_does_not_escalate_to_cloud(openai, ledger):
    with ByModel({"qwen2.5-coder:14b": "    return (x *\n", "llama3.3:70b": "    return (x *\n"}) as fake:
        eng = engine_for(make_settings(fake, openai), ledger)
        with pytest.raises(AllTiersFailed) as info:
            await eng.run(RunRequest(action="complete", text="def f(x):\n", language="python", path="f.py",
                                     document="def f(x):\n", tier=1, local_only=True))
        await eng.aclose()
    assert openai.request_count == 0
    # every local tier answered and failed its check: that is the failure, with each tier's reason
    assert [(who.split(":")[0], why) for who, why in info.value.hops] == [
        ("tier1", "failed the check: the completion does not parse as python"),
        ("tier2", "failed the check: the completion does not parse as python"),
    ]
    assert [r.outcome for r in ledger.rows() if r.kind == "request"] == ["error"]


async def test_completion_sees_the_rest_of_the_cursor_line(ollama, ledger):
    ollama.answers["qwen2.5-coder:14b"] = "x * 2"
    doc = "def f(x):\n    return  + 1\n"
    eng = engine_for(make_settings(ollama), ledger)
    await eng.run(RunRequest(action="complete", text="def f(x):\n    return ", language="python", path="f.py",
                             document=doc, start_line=0, end_line=1, end_char=11))
    await eng.aclose()
    sent = ollama.requests[-1].json["messages"][-1]["content"]
    assert "Code after the cursor (do not repeat it):\n + 1" in sent


async def _cloud_run_streaming(eng: Engine) -> asyncio.Task:
    """A [cloud] ask started on `eng`, once its first text has arrived."""
    got_first = asyncio.Event()
    task = asyncio.create_task(eng.run(RunRequest(action="ask", text="[cloud] Analyze the trade-offs"),
                                       on_text=lambda t: got_first.set()))
    await asyncio.wait_for(got_first.wait(), 5)
    return task


async def test_cancelled_cloud_request_is_recorded_with_what_it_used(openai, ledger):
    openai.inject(Fault("drip", delay=0.2))
    with FakeOllama() as fake:
        eng = engine_for(make_settings(fake, openai), ledger)
        task = await _cloud_run_streaming(eng)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await eng.aclose()
    (row,) = [r for r in ledger.rows() if r.kind == "request"]
    assert (row.outcome, row.backend, row.tier) == ("cancelled", "openai", 3)
    assert row.input_tokens > 0 and row.output_tokens >= 1 and row.cost_usd > 0


async def test_a_cancel_never_holds_the_loop_while_the_ledger_is_locked(openai, ledger):
    """Another process holds the ledger's write lock: the cancelled request's row waits for it in
    a worker thread, the loop goes on, and closing the engine waits for the row."""
    openai.inject(Fault("drip", delay=0.2))
    with FakeOllama() as fake:
        eng = engine_for(make_settings(fake, openai), ledger)
        task = await _cloud_run_streaming(eng)
        other = sqlite3.connect(ledger.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the write lock, as a second writer holds it
        try:
            t0 = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.05)  # the loop turns while the row waits for the lock
            assert time.monotonic() - t0 < 1.0
            assert other.execute("SELECT count(*) FROM requests").fetchone() == (0,)  # still waiting
        finally:
            other.execute("COMMIT")
            other.close()
        await eng.aclose()
    (row,) = [r for r in ledger.rows() if r.kind == "request"]
    assert (row.outcome, row.backend) == ("cancelled", "openai") and row.cost_usd > 0


async def test_prompt_larger_than_a_local_window_is_not_sent_there(ollama, ledger):
    s = make_settings(ollama, tiers={"tier1": {"backend": "ollama", "model": "qwen2.5-coder:14b", "num_ctx": 512}})
    eng = engine_for(s, ledger, key=False)
    res = await eng.run(RunRequest(action="ask", text="Summarize: " + "word " * 700))
    await eng.aclose()
    assert res.tier == 2 and res.fallbacks[0].reason == "context-length"
    assert [r.json["model"] for r in ollama.requests if r.path == "/api/chat"] == ["llama3.3:70b"]


async def test_an_action_routed_away_from_the_embedded_model_says_so_when_nothing_answers(ledger):
    with FakeOllama() as fake:
        fake.down()
        s = make_settings(fake, embedded={"enabled": True})
        eng = engine_for(s, ledger, key=False)
        with pytest.raises(AllTiersFailed) as info:
            await eng.run(RunRequest(action="review", text="def f(x):\n    return 1 / x\n", language="python"))
        await eng.aclose()
    assert info.value.hops[-1] == ("embedded", "not asked: it does not do review (embedded.actions); "
                                               "start Ollama or set a cloud API key")
    assert info.value.attempts and all(a.hop.tier != 0 for a in info.value.attempts)  # the model was not run


def _staged_repo(path):
    env = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@e.invalid", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@e.invalid", "PATH": "/usr/bin:/bin"}
    (path / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    for args in (["init", "-q"], ["add", "calc.py"], ["commit", "-q", "-m", "Add calc"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)
    (path / "calc.py").write_text("def add(a, b):\n    return a + b\n\n\ndef divide(a, b):\n"
                                  "    if b == 0:\n        raise ZeroDivisionError('b is 0')\n    return a / b\n")
    subprocess.run(["git", "add", "calc.py"], cwd=path, check=True)


@pytest.mark.embedded
async def test_embedded_commit_message_names_the_change_and_lists_the_facts(ledger, tmp_path):
    need_module("llama_cpp", "llama-cpp-python is not installed: pip install 'hybridlsp[embedded]'")
    from hybridlsp.actions import commit_message

    _staged_repo(tmp_path)
    with FakeOllama() as fake:
        fake.down()
        eng = engine_for(make_settings(fake, embedded={"enabled": True}), ledger, key=False)
        res = await eng.run(RunRequest(action="commit-message", workspace=str(tmp_path)))
        await eng.aclose()
    assert res.tier == 0 and res.backend == "embedded"
    subject, _, body = res.text.partition("\n\n")
    assert len(subject) <= 72 and ("divide" in subject or "calc" in subject)
    assert body == "- calc.py: added divide; +6 -0 lines"
    assert commit_message.validate(res.text, commit_message.ActionContext()) == res.text
    # the model's own subject, or (with a note saying so) the one built from the diff
    assert subject.startswith(("divide: ", "calc.py: ")) or any("built from the diff" in n for n in res.notes)
