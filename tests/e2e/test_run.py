"""`hybridlsp/run`: its result, streaming through `$/progress`, and cancellation that closes the
upstream connection within 50 ms, whichever way the client cancels."""

import asyncio
import re
import time

import pytest
from lsprotocol import types as t
from pygls.exceptions import JsonRpcInvalidParams, JsonRpcRequestCancelled
from pytest_lsp import client_capabilities

from tests.fakes.upstreams import Fault

from .conftest import session

CANCEL_WITHIN_S = 0.050


def explain(uri: str, **extra) -> dict:
    rng = {"start": {"line": 4, "character": 4}, "end": {"line": 4, "character": 4}}
    return {"action": "explain", "textDocument": {"uri": uri}, "range": rng, **extra}


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def reports(lsp, token: str) -> list:
    return [v for v in lsp.client.progress_reports.get(token, []) if isinstance(v, t.WorkDoneProgressReport)]


async def test_result_shape(lsp, fake_ollama):
    fake_ollama.answer = "Divides a by b and returns the result."
    fake_ollama.usage = (120, 9)
    uri = lsp.open(lsp.root / "calc.py")
    res = await lsp.run(explain(uri))
    assert res["text"] == "Divides a by b and returns the result."
    decision = res["decision"]
    assert (decision["tier"], decision["backend"], decision["model"]) == (1, "ollama", "model-a")
    assert decision["reasons"] and all(isinstance(r, str) for r in decision["reasons"])
    usage = res["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (120, 9)
    assert usage["cost_usd"] >= 0 and usage["baseline_cost_usd"] > 0
    assert res["fallbacks"] == []
    assert re.fullmatch(r"[0-9a-f]{32}", res["request_id"])
    assert res["answered_by"] == {"tier": 1, "backend": "ollama", "model": "model-a"}
    assert "findings" not in res


async def test_fallbacks_are_reported(lsp, fake_ollama):
    fake_ollama.answer = "Divides a by b and returns the result."
    fake_ollama.inject("close")  # tier 1 hangs up without answering: tier 2 takes it
    uri = lsp.open(lsp.root / "calc.py")
    res = await lsp.run(explain(uri))
    (fallback,) = res["fallbacks"]
    assert fallback["from"] == "tier1:ollama/model-a" and fallback["to"] == "tier2:ollama/model-b"
    assert fallback["reason"]
    assert res["answered_by"]["model"] == "model-b"


async def test_review_result_carries_findings_and_tier_override(lsp, fake_ollama, fake_openai):
    fake_openai.answer = '{"findings": [{"line": 5, "severity": "warning", "message": "b may be 0"}]}'
    uri = lsp.open(lsp.root / "calc.py")
    res = await lsp.run({"action": "review", "textDocument": {"uri": uri}, "tier": 3})
    assert res["decision"]["tier"] == 3 and res["answered_by"]["model"] == "gpt-4.1"
    assert res["findings"] == [{"line": 4, "end_line": 4, "severity": "warning", "message": "b may be 0", "fix": None}]
    assert fake_ollama.request_count == 0
    # the client shows them: no server diagnostics on top of the client's own (no duplicates)
    assert not lsp.client.diagnostics.get(uri)


async def test_ask_needs_no_document(lsp, fake_ollama):
    fake_ollama.answer = "A regular expression for digits is \\d+."
    res = await lsp.run({"action": "ask", "prompt": "give me a regex for digits"})
    assert res["text"] == fake_ollama.answer and res["decision"]["tier"] == 1


async def test_invalid_params_are_refused(lsp):
    with pytest.raises(JsonRpcInvalidParams, match="action must be one of"):
        await lsp.run({"action": "summon", "textDocument": {"uri": "file:///x.py"}})
    with pytest.raises(JsonRpcInvalidParams, match="tier must be 1, 2 or 3"):
        await lsp.run({"action": "ask", "prompt": "hi", "tier": 7})


async def test_streamed_deltas_arrive_before_the_result(lsp, fake_ollama):
    fake_ollama.answer = " ".join(f"word{i}" for i in range(30)) + "."
    fake_ollama.token_delay = 0.02
    uri = lsp.open(lsp.root / "calc.py")
    token = "stream-1"
    lsp.client.progress_reports[token] = []
    run = asyncio.ensure_future(lsp.run(explain(uri, workDoneToken=token)))
    await until(lambda: len(reports(lsp, token)) >= 3)
    assert not run.done()  # streaming, not replayed at the end
    res = await run
    begin, *middle, end = lsp.client.progress_reports[token]
    assert isinstance(begin, t.WorkDoneProgressBegin) and begin.cancellable
    assert isinstance(end, t.WorkDoneProgressEnd)
    assert "".join(r.message for r in middle) == fake_ollama.answer == res["text"]


async def test_a_fallback_restart_is_an_empty_report(lsp, fake_ollama):
    """Tier 1's stream is cut half-way; tier 2 answers again from the start."""
    fake_ollama.answer = " ".join(f"word{i}" for i in range(30)) + "."
    fake_ollama.inject("cut")
    uri = lsp.open(lsp.root / "calc.py")
    token = "restart-1"
    lsp.client.progress_reports[token] = []
    res = await lsp.run(explain(uri, workDoneToken=token))
    messages = [r.message for r in reports(lsp, token)]
    assert "" in messages
    restart = len(messages) - 1 - messages[::-1].index("")
    assert "".join(messages[restart + 1 :]) == res["text"]
    assert res["answered_by"]["model"] == "model-b"


async def _start_streaming(lsp, fake, send):
    """Start a run whose upstream drips tokens; return once text is flowing."""
    fake.answer = " ".join(f"word{i}" for i in range(200))
    fake.inject(Fault("drip", delay=0.1))
    task = asyncio.ensure_future(send())
    await until(lambda: fake.request_count == 1 and any(reports(lsp, tok) for tok in lsp.client.progress_reports))
    return task


async def _assert_upstream_closed(fake, cancelled_at: float, task) -> None:
    assert await fake.wait_disconnected(2.0), "the upstream connection stayed open"
    assert fake.disconnected_at - cancelled_at < CANCEL_WITHIN_S, f"{(fake.disconnected_at - cancelled_at) * 1000:.1f} ms"
    with pytest.raises(JsonRpcRequestCancelled):
        await task
    await asyncio.sleep(0.2)
    assert fake.request_count == 1  # a cancel is not a failure: no fallback to the next tier


async def test_cancel_request_closes_the_upstream(lsp, fake_ollama):
    uri = lsp.open(lsp.root / "calc.py")
    lsp.client.progress_reports["c1"] = []
    task = await _start_streaming(lsp, fake_ollama, lambda: lsp.run(explain(uri, workDoneToken="c1"), msg_id="run-1"))
    cancelled_at = time.monotonic()
    lsp.cancel("run-1")
    await _assert_upstream_closed(fake_ollama, cancelled_at, task)


async def test_work_done_progress_cancel_closes_the_upstream(lsp, fake_ollama):
    uri = lsp.open(lsp.root / "calc.py")
    lsp.client.progress_reports["c2"] = []
    task = await _start_streaming(lsp, fake_ollama, lambda: lsp.run(explain(uri, workDoneToken="c2")))
    cancelled_at = time.monotonic()
    lsp.client.window_work_done_progress_cancel(t.WorkDoneProgressCancelParams(token="c2"))
    await _assert_upstream_closed(fake_ollama, cancelled_at, task)
    assert isinstance(lsp.client.progress_reports["c2"][-1], t.WorkDoneProgressEnd)


async def test_cancelling_a_resolve_closes_the_upstream(lsp, fake_ollama):
    uri = lsp.open(lsp.root / "calc.py")
    action = await lsp.action(uri, "Explain", (4, 4))
    task = await _start_streaming(
        lsp, fake_ollama, lambda: lsp.client.protocol.send_request_async(t.CODE_ACTION_RESOLVE, action, msg_id="resolve-1")
    )
    cancelled_at = time.monotonic()
    lsp.cancel("resolve-1")
    await _assert_upstream_closed(fake_ollama, cancelled_at, task)


async def test_cancelling_the_run_command_closes_the_upstream(server_env, repo, fake_ollama):
    """pygls 2 keeps a workspace/executeCommand body running after the client cancels it; the
    server cancels the command's task itself."""
    caps = client_capabilities("visual_studio_code")
    caps.text_document.code_action.resolve_support = None
    async with session(server_env, caps, repo) as lsp:
        uri = lsp.open(repo / "calc.py")
        action = await lsp.action(uri, "Explain", (4, 4))
        params = t.ExecuteCommandParams(command=action.command.command, arguments=action.command.arguments)
        task = await _start_streaming(
            lsp, fake_ollama,
            lambda: lsp.client.protocol.send_request_async(t.WORKSPACE_EXECUTE_COMMAND, params, msg_id="cmd-1"),
        )
        cancelled_at = time.monotonic()
        lsp.cancel("cmd-1")
        await _assert_upstream_closed(fake_ollama, cancelled_at, task)


async def test_commit_message_needs_no_document(lsp, fake_ollama):
    fake_ollama.answer = "Add double helper"
    res = await lsp.run({"action": "commit-message"})
    assert res["text"] == "Add double helper"
    assert "+def double(x):" in fake_ollama.requests[-1].json["messages"][-1]["content"]


async def test_a_doubted_local_answer_escalates_and_says_why(lsp, fake_ollama):
    # tier 1 explains with a function calc.py does not have: the unknown-names signal sends it up
    fake_ollama.answers = {"model-a": "It calls `safe_divide` to divide a by b.",
                           "model-b": "Divides `a` by `b` and returns `result`."}
    uri = lsp.open(lsp.root / "calc.py")
    res = await lsp.run(explain(uri))
    assert res["answered_by"]["model"] == "model-b" and res["text"] == fake_ollama.answers["model-b"]
    (fallback,) = res["fallbacks"]
    assert (fallback["from"], fallback["reason"]) == ("tier1:ollama/model-a", "low-confidence")
