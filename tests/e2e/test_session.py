"""Settings, feedback, inline completion and the stdout channel, over real sessions."""

import asyncio
import json
import re
from pathlib import Path

import pytest
from lsprotocol import types as t
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled
from pytest_lsp import client_capabilities

from hybridlsp.ledger.store import Ledger

from .conftest import SERVER, session
from .test_run import explain


async def _titles(lsp, uri: str) -> list[str]:
    return [a.title for a in await lsp.actions(uri, (4, 4))]


async def test_settings_change_and_an_invalid_value_is_refused(lsp):
    uri = lsp.open(lsp.root / "calc.py")
    lsp.client.workspace_did_change_configuration(
        t.DidChangeConfigurationParams(settings={"hybridlsp": {"tiers": {"tier1": {"model": "model-c"}}}})
    )
    await until_titles(lsp, uri, "Explain - local model-c")

    shown = lsp.client.protocol.wait_for_notification_async(t.WINDOW_SHOW_MESSAGE)
    lsp.client.workspace_did_change_configuration(
        t.DidChangeConfigurationParams(settings={"hybridlsp": {"tiers": {"tier1": {"model": "model-d", "numCtx": 12}}}})
    )
    message = await shown
    assert message.type == t.MessageType.Error and "tiers.tier1.num_ctx" in message.message
    assert any("tiers.tier1.num_ctx" in m.message for m in lsp.client.log_messages)
    assert any(title.startswith("Explain - local model-c ") for title in await _titles(lsp, uri))  # kept


async def test_null_settings_are_pulled_with_workspace_configuration(lsp):
    uri = lsp.open(lsp.root / "calc.py")
    lsp.client.set_configuration({"tiers": {"tier2": {"model": "model-p"}}}, section="hybridlsp")
    lsp.client.workspace_did_change_configuration(t.DidChangeConfigurationParams(settings=None))
    await until_titles(lsp, uri, "Review - local model-p")


async def until_titles(lsp, uri: str, prefix: str) -> None:
    for _ in range(200):
        if any(title.startswith(prefix) for title in await _titles(lsp, uri)):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no title starts with {prefix!r}: {await _titles(lsp, uri)}")


async def test_initialization_options_apply_and_invalid_ones_are_refused(server_env, repo):
    options = {"tiers": {"tier2": {"model": "model-x"}}}
    async with session(server_env, client_capabilities("visual_studio_code"), repo, options) as lsp:
        uri = lsp.open(repo / "calc.py")
        assert any(title.startswith("Review - local model-x ") for title in await _titles(lsp, uri))
        assert lsp.client.messages == []

    bad = {"routing": {"defaultTier": 9}}
    async with session(server_env, client_capabilities("neovim"), repo, bad) as lsp:
        uri = lsp.open(repo / "calc.py")
        assert any(title.startswith("Review - local model-b ") for title in await _titles(lsp, uri))
        # the settings are read once `initialize` is answered, before any later message is handled:
        # the refusal arrived before the code actions' answer
        (message,) = lsp.client.messages
        assert "routing.default_tier" in message.message and message.type == t.MessageType.Error


async def test_feedback_lands_in_the_ledger(lsp, fake_ollama, server_env):
    fake_ollama.answer = "Divides a by b and returns the result."
    uri = lsp.open(lsp.root / "calc.py")
    res = await lsp.run(explain(uri))
    verdict = {"request_id": res["request_id"], "verdict": "bad", "note": "missed the zero case"}
    await lsp.client.workspace_execute_command_async(
        t.ExecuteCommandParams(command="hybridlsp.feedback", arguments=[verdict])
    )
    with Ledger(Path(server_env["HYBRIDLSP_HOME"]) / "ledger.sqlite3") as ledger:
        assert [(f.request_id, f.verdict, f.note) for f in ledger.feedback()] == [
            (res["request_id"], "bad", "missed the zero case")
        ]
    with pytest.raises(JsonRpcException):
        await lsp.client.workspace_execute_command_async(
            t.ExecuteCommandParams(command="hybridlsp.feedback", arguments=[{"request_id": "nope", "verdict": "good"}])
        )


async def test_inline_completion_is_local_debounced_and_supersedes_stale_requests(server_env, repo, fake_ollama, fake_openai):
    caps = client_capabilities("visual_studio_code")
    caps.text_document.inline_completion = t.InlineCompletionClientCapabilities()
    fake_ollama.answer = "    return a * b"
    path = repo / "ops.py"
    path.write_text("def multiply(a, b):\n")
    async with session(server_env, caps, repo) as lsp:
        uri = lsp.open(path)
        params = t.InlineCompletionParams(
            context=t.InlineCompletionContext(trigger_kind=t.InlineCompletionTriggerKind.Automatic),
            text_document=t.TextDocumentIdentifier(uri),
            position=t.Position(1, 0),
        )
        stale = asyncio.ensure_future(lsp.client.text_document_inline_completion_async(params))
        await asyncio.sleep(0.03)  # inside the debounce window
        fresh = await lsp.client.text_document_inline_completion_async(params)
        with pytest.raises(JsonRpcRequestCancelled):
            await stale
        (item,) = fresh.items
        assert item.insert_text == "    return a * b"
        assert item.range == t.Range(t.Position(1, 0), t.Position(1, 0))
        (request,) = fake_ollama.requests  # the stale one never reached the model
        assert request.json["model"] == "model-a" and fake_openai.request_count == 0


async def test_an_inline_completion_that_fails_its_check_is_no_suggestion_and_logged(server_env, repo, fake_ollama):
    caps = client_capabilities("visual_studio_code")
    caps.text_document.inline_completion = t.InlineCompletionClientCapabilities()
    fake_ollama.answer = "    return (a *"  # does not parse: every local tier fails the check
    path = repo / "ops.py"
    path.write_text("def multiply(a, b):\n")
    async with session(server_env, caps, repo) as lsp:
        uri = lsp.open(path)
        params = t.InlineCompletionParams(
            context=t.InlineCompletionContext(trigger_kind=t.InlineCompletionTriggerKind.Invoked),
            text_document=t.TextDocumentIdentifier(uri), position=t.Position(1, 0))
        result = await lsp.client.text_document_inline_completion_async(params)
        assert list(result.items) == []
        (logged,) = [m for m in lsp.client.log_messages if "inline completion failed" in m.message]
        assert "failed the check: the completion does not parse as python" in logged.message
        assert "tier1:ollama/model-a" in logged.message


class _Wire:
    """A raw LSP connection: frames on stdout are parsed strictly, anything else fails the test."""

    def __init__(self, proc):
        self.proc = proc
        self.next_id = 0
        self.seen: list[dict] = []

    def send(self, method: str, params, request: bool = True) -> int | None:
        msg = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            msg["id"] = self.next_id
        body = json.dumps(msg).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        return msg.get("id")

    async def read(self) -> dict | None:
        headers = {}
        while True:
            line = await self.proc.stdout.readline()
            if line == b"" and not headers:
                return None
            assert re.fullmatch(rb"(Content-Length|Content-Type): [^\r\n]*\r\n|\r\n", line), f"not protocol: {line!r}"
            if line == b"\r\n":
                break
            name, _, value = line.decode().partition(": ")
            headers[name] = value.strip()
        message = json.loads(await self.proc.stdout.readexactly(int(headers["Content-Length"])))
        self.seen.append(message)
        return message

    async def response(self, msg_id: int) -> dict:
        while True:
            message = await self.read()
            assert message is not None, "stdout closed early"
            if message.get("id") == msg_id and "method" not in message:
                return message
            if "method" in message and "id" in message:  # a request from the server: answer it
                self.proc.stdin.write(_reply(message["id"]))


def _reply(msg_id) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "result": None}).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


async def test_stdout_carries_only_protocol(server_env, repo, fake_ollama):
    fake_ollama.answer = "Divides a by b and returns the result."
    proc = await asyncio.create_subprocess_exec(
        *SERVER, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=server_env,
    )
    wire = _Wire(proc)
    caps = {"window": {"workDoneProgress": True}}
    init = await wire.response(wire.send("initialize", {"processId": None, "rootUri": repo.as_uri(), "capabilities": caps}))
    assert init["result"]["capabilities"]["codeActionProvider"]["resolveProvider"] is True
    wire.send("initialized", {}, request=False)
    uri = (repo / "calc.py").as_uri()
    item = {"uri": uri, "languageId": "python", "version": 1, "text": (repo / "calc.py").read_text()}
    wire.send("textDocument/didOpen", {"textDocument": item}, request=False)
    rng = {"start": {"line": 4, "character": 4}, "end": {"line": 4, "character": 4}}
    actions = await wire.response(
        wire.send("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": rng, "context": {"diagnostics": []}})
    )
    assert len(actions["result"]) == 4
    run = await wire.response(wire.send("hybridlsp/run", {**explain(uri), "workDoneToken": "w"}))
    assert run["result"]["text"] == fake_ollama.answer
    await wire.response(wire.send("shutdown", None))
    wire.send("exit", None, request=False)
    while await wire.read() is not None:
        pass
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    await proc.stderr.read()  # logs went there
    assert any(m.get("method") == "$/progress" for m in wire.seen)
