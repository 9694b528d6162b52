"""Start-up: `initialize` is answered before the engine, the settings and the backends load (they
are most of start-up), and they load on `initialized`, or on the first message that needs them
when a client never sends it. Spoken as raw JSON-RPC over the real `hybridlsp serve`'s stdio, so
what is imported when is read from the server's own `-X importtime` lines."""

from __future__ import annotations

import asyncio
import sys

from ..reliability.lspwire import Wire

SERVER = [sys.executable, "-X", "importtime", "-m", "hybridlsp", "serve"]
LOADED_LATER = {"hybridlsp.engine", "hybridlsp.config", "pydantic", "httpx", "tiktoken", "hybridlsp.ledger"}


def imported(wire: Wire) -> set[str]:
    """The modules the server's `-X importtime` has reported so far."""
    out = set()
    for line in wire.stderr.decode(errors="replace").splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            out.add(line.rsplit("|", 1)[1].strip())
    return out


async def _initialize(wire: Wire, repo) -> dict:
    """`initialize` alone: no `initialized` after it."""
    return await wire.request("initialize", {"processId": None, "rootUri": repo.as_uri(), "capabilities": {}})


async def _titles(wire: Wire, repo) -> list[str]:
    uri = (repo / "calc.py").as_uri()
    wire.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                          "text": (repo / "calc.py").read_text()}})
    msg = await wire.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "context": {"diagnostics": []},
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 3, "character": 0}}})
    return [a["title"] for a in msg["result"]]


async def test_initialize_is_answered_before_the_engine_loads_and_initialized_loads_it(server_env, repo):
    wire = await Wire.start(server_env, SERVER)
    try:
        caps = (await _initialize(wire, repo))["result"]["capabilities"]
        await asyncio.sleep(0.5)  # anything the server imports on its own by now would show
        early = imported(wire)
        assert "lsprotocol.types" in early and "hybridlsp.lsp.server" in early  # the lines are read
        assert not early & LOADED_LATER, sorted(early & LOADED_LATER)
        assert "argparse" not in early  # `serve` alone has nothing to parse
        # capabilities are those of every handler, though none is loaded yet
        assert caps["codeActionProvider"] == {"codeActionKinds": ["quickfix", "refactor.hybridlsp"], "resolveProvider": True}
        assert caps["inlineCompletionProvider"] == {} or caps["inlineCompletionProvider"] is True
        assert set(caps["executeCommandProvider"]["commands"]) == {"hybridlsp.run", "hybridlsp.feedback"}

        wire.notify("initialized", {})
        titles = await _titles(wire, repo)
        assert any(t.startswith("Explain - local model-a") for t in titles), titles
        assert LOADED_LATER <= imported(wire)
    finally:
        await wire.close()


async def test_a_client_that_never_sends_initialized_is_served(server_env, repo):
    wire = await Wire.start(server_env, SERVER)
    try:
        await _initialize(wire, repo)
        # no `initialized`: the first message that needs the engine loads it
        assert any(t.startswith("Explain - local model-a") for t in await _titles(wire, repo))
    finally:
        await wire.close()


async def test_a_request_before_initialize_is_refused_and_loads_nothing(server_env, repo):
    wire = await Wire.start(server_env, SERVER)
    try:
        msg = await wire.request("textDocument/codeAction", {
            "textDocument": {"uri": (repo / "calc.py").as_uri()}, "context": {"diagnostics": []},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 3, "character": 0}}})
        err = msg["error"]
        assert err["code"] == -32002 and "initialize" in err["message"]  # ServerNotInitialized
        await asyncio.sleep(0.3)
        assert not imported(wire) & LOADED_LATER
        assert "result" in await _initialize(wire, repo)
    finally:
        await wire.close()
