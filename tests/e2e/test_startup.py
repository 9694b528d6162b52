"""Start-up: `initialize` is answered before the engine, the settings and the backends load (they
are most of start-up), and they load on `initialized`, or on the first message that needs them
when a client never sends it. Spoken as raw JSON-RPC over the real `hybridlsp serve`'s stdio, so
what is imported when is read from the server's own `-X importtime` lines."""

from __future__ import annotations

import asyncio
import json
import sys


LOADED_LATER = ("hybridlsp.engine", "hybridlsp.config", "pydantic", "httpx", "tiktoken", "hybridlsp.ledger")


class Raw:
    """An LSP client with nothing in between: framed JSON out, framed JSON in."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self.stderr = bytearray()
        self._drain = asyncio.create_task(self._read_stderr())

    async def _read_stderr(self) -> None:
        while chunk := await self.proc.stderr.read(65536):
            self.stderr += chunk

    def send(self, method: str, params: dict | None = None, id: int | None = None) -> None:
        msg = {"jsonrpc": "2.0", "method": method, "params": params or {}}
        if id is not None:
            msg["id"] = id
        body = json.dumps(msg).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def answer(self, id: int, timeout: float = 30) -> dict:
        """The response to request `id` (notifications before it are skipped)."""
        async def read() -> dict:
            while True:
                length = 0
                while (line := await self.proc.stdout.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                msg = json.loads(await self.proc.stdout.readexactly(length))
                if msg.get("id") == id and "method" not in msg:
                    return msg
        return await asyncio.wait_for(read(), timeout)

    def imported(self) -> set[str]:
        """The modules `-X importtime` has reported so far."""
        out = set()
        for line in self.stderr.decode(errors="replace").splitlines():
            if line.startswith("import time:") and line.count("|") == 2:
                out.add(line.rsplit("|", 1)[1].strip())
        return out

    async def close(self) -> None:
        self.send("shutdown", id=999)
        await self.answer(999)
        self.send("exit")
        await asyncio.wait_for(self.proc.wait(), 30)
        await self._drain


async def _start(env: dict, cwd) -> Raw:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-X", "importtime", "-m", "hybridlsp", "serve", cwd=cwd, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    return Raw(proc)


def _initialize(raw: Raw, repo) -> None:
    raw.send("initialize", {"processId": None, "rootUri": repo.as_uri(), "capabilities": {}}, id=1)


def _code_actions(raw: Raw, repo, id: int) -> None:
    uri = (repo / "calc.py").as_uri()
    text = (repo / "calc.py").read_text()
    raw.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}})
    raw.send("textDocument/codeAction", {"textDocument": {"uri": uri},
                                         "range": {"start": {"line": 0, "character": 0}, "end": {"line": 3, "character": 0}},
                                         "context": {"diagnostics": []}}, id=id)


def _titles(msg: dict) -> list[str]:
    return [a["title"] for a in msg["result"]]


async def test_initialize_is_answered_before_the_engine_loads_and_initialized_loads_it(server_env, repo):
    raw = await _start(server_env, repo)
    try:
        _initialize(raw, repo)
        caps = (await raw.answer(1))["result"]["capabilities"]
        await asyncio.sleep(0.5)  # anything the server imports on its own by now would show
        early = raw.imported()
        assert "lsprotocol.types" in early and "hybridlsp.lsp.server" in early  # the lines are read
        assert not early & set(LOADED_LATER), sorted(early & set(LOADED_LATER))
        # capabilities are those of every handler, though none is loaded yet
        assert caps["codeActionProvider"] == {"codeActionKinds": ["quickfix", "refactor.hybridlsp"], "resolveProvider": True}
        assert caps["inlineCompletionProvider"] == {} or caps["inlineCompletionProvider"] is True
        assert set(caps["executeCommandProvider"]["commands"]) == {"hybridlsp.run", "hybridlsp.feedback"}

        raw.send("initialized")
        _code_actions(raw, repo, id=2)
        titles = _titles(await raw.answer(2))
        assert any(t.startswith("Explain - local model-a") for t in titles), titles
        assert set(LOADED_LATER) <= raw.imported()
    finally:
        await raw.close()


async def test_a_client_that_never_sends_initialized_is_served(server_env, repo):
    raw = await _start(server_env, repo)
    try:
        _initialize(raw, repo)
        await raw.answer(1)
        _code_actions(raw, repo, id=2)  # no `initialized`: the first message that needs the engine loads it
        assert any(t.startswith("Explain - local model-a") for t in _titles(await raw.answer(2)))
    finally:
        await raw.close()


async def test_a_request_before_initialize_is_refused_and_loads_nothing(server_env, repo):
    raw = await _start(server_env, repo)
    try:
        _code_actions(raw, repo, id=5)
        err = (await raw.answer(5))["error"]
        assert err["code"] == -32002 and "initialize" in err["message"]  # ServerNotInitialized
        await asyncio.sleep(0.3)
        assert not raw.imported() & set(LOADED_LATER)
        _initialize(raw, repo)
        await raw.answer(1)
    finally:
        await raw.close()
