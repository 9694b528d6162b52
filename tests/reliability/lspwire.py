"""A raw LSP connection to `hybridlsp serve` over stdio, for sending what no well-behaved client sends.

Unlike pytest-lsp's client it neither structures params nor results: any JSON goes out, every
response comes back as the JSON object it is. One reader task matches responses to requests (so a
request that is never answered times out without corrupting the stream), answers requests from the
server with `null`, keeps notifications, and checks every frame on stdout is protocol. stderr is
drained (a full pipe would block the server) and kept.

`Background` runs a connection on its own event loop thread, for synchronous hypothesis tests.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import sys
import threading
from typing import Any

__all__ = ["Wire", "Background", "SERVER", "CAPABILITIES", "NoAnswer"]

SERVER = [sys.executable, "-m", "hybridlsp", "serve"]

CAPABILITIES = {
    "textDocument": {
        "codeAction": {"resolveSupport": {"properties": ["edit"]}, "disabledSupport": True},
        "inlineCompletion": {},
    },
    "window": {"workDoneProgress": True, "showDocument": {"support": True}},
    "workspace": {"configuration": True, "applyEdit": True},
}

_HEADER = re.compile(rb"(Content-Length|Content-Type): [^\r\n]*\r\n|\r\n")


class NoAnswer(AssertionError):
    pass


def _client_result(msg: dict) -> Any:
    """What a well-behaved editor answers to a request from the server."""
    method = msg["method"]
    if method == "window/showDocument":
        return {"success": True}
    if method == "workspace/applyEdit":
        return {"applied": True}
    if method == "workspace/configuration":
        return [None for _ in (msg.get("params") or {}).get("items", [])]
    return None  # workDoneProgress/create, showMessageRequest (no choice), ...


class Wire:
    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self.ids = itertools.count(1)
        self.pending: dict[Any, asyncio.Future] = {}
        self.notifications: list[dict] = []
        self.server_requests: list[dict] = []
        self.stderr = bytearray()
        self.protocol_error: str | None = None
        self._tasks = [asyncio.ensure_future(self._read()), asyncio.ensure_future(self._drain())]

    @classmethod
    async def start(cls, env: dict, command: list[str] = SERVER) -> Wire:
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, limit=2**26,
        )
        return cls(proc)

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None and self.protocol_error is None

    # -- sending ---------------------------------------------------------------------------------

    def send_raw(self, body: bytes) -> None:
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def _send(self, msg: dict) -> None:
        self.send_raw(json.dumps(msg).encode())

    def notify(self, method: str, params: Any = None) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def request(self, method: str, params: Any = None, timeout: float = 15.0) -> dict:
        """The response message: `{"result": ...}` or `{"error": {...}}`; NoAnswer after `timeout`."""
        msg_id = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.pending[msg_id] = fut
        self._send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        await self.proc.stdin.drain()
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise NoAnswer(f"no answer to {method} within {timeout} s (server alive: {self.alive})") from None
        finally:
            self.pending.pop(msg_id, None)

    async def initialize(self, root_uri: str | None, options: Any = None, capabilities: dict = CAPABILITIES) -> dict:
        init = await self.request("initialize", {
            "processId": None, "rootUri": root_uri, "capabilities": capabilities,
            "initializationOptions": options,
            "workspaceFolders": [{"uri": root_uri, "name": "root"}] if root_uri else None,
        })
        self.notify("initialized", {})
        return init

    async def close(self, timeout: float = 10.0) -> int:
        """shutdown, exit; the exit code."""
        if self.proc.returncode is None:
            try:
                await self.request("shutdown", None, timeout=timeout)
                self.notify("exit", None)
                await asyncio.wait_for(self.proc.wait(), timeout)
            except (NoAnswer, asyncio.TimeoutError, ConnectionError):
                if self.proc.returncode is None:
                    self.proc.kill()
                await self.proc.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return self.proc.returncode

    # -- reading ---------------------------------------------------------------------------------

    async def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = await out.readline()
                if not line:
                    return
                if not _HEADER.fullmatch(line):
                    self.protocol_error = f"not protocol on stdout: {line[:200]!r}"
                    return
                if line == b"\r\n":
                    break
                name, _, value = line.decode().partition(": ")
                if name == "Content-Length":
                    length = int(value)
            msg = json.loads(await out.readexactly(length))
            if "method" in msg and "id" in msg:  # a request from the server
                self.server_requests.append(msg)
                self._send({"jsonrpc": "2.0", "id": msg["id"], "result": _client_result(msg)})
            elif "method" in msg:
                self.notifications.append(msg)
            else:
                fut = self.pending.get(msg.get("id"))
                if fut is not None and not fut.done():
                    fut.set_result(msg)

    async def _drain(self) -> None:
        while chunk := await self.proc.stderr.read(65536):
            self.stderr += chunk


class Background:
    """An event loop on a thread: `call(coro)` runs a coroutine there and waits for its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="lsp-background", daemon=True)
        self._thread.start()

    def call(self, coro, timeout: float = 120.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()
