"""A bare JSON-RPC client over a server's stdio, stamping each message as it is read.

Deliberately not pygls' client: what it costs to parse and convert messages on the client side
is not the language server's doing, and an editor's client is usually not Python. Each message
is stamped with `time.perf_counter()` right after its body is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LspProcess", "CAPABILITIES", "Progress"]

CAPABILITIES: dict = {
    "window": {"workDoneProgress": True},
    "textDocument": {
        "codeAction": {
            "dataSupport": True,
            "resolveSupport": {"properties": ["edit"]},
            "codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["", "quickfix", "refactor"]}},
        },
    },
}


@dataclass
class Progress:
    """$/progress for one token: (time read, value) in order, and when the first text came."""

    values: list[tuple[float, dict]] = field(default_factory=list)
    first_text: asyncio.Future | None = None


class LspProcess:
    def __init__(self, proc: asyncio.subprocess.Process, started_at: float):
        self.proc = proc
        self.started_at = started_at  # perf_counter() just before the process was spawned
        self._next_id = 0
        self._pending: dict[Any, asyncio.Future] = {}
        self.progress: dict[Any, Progress] = {}
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None,
                    stderr=None) -> LspProcess:
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=stderr if stderr is not None else asyncio.subprocess.DEVNULL, env=env, cwd=cwd,
            limit=1 << 24,
        )
        return cls(proc, started)

    # -- sending ---------------------------------------------------------------------------------

    def _send(self, msg: dict) -> None:
        body = json.dumps(msg).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def notify(self, method: str, params: Any = None) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def send_request(self, method: str, params: Any = None, msg_id: Any = None) -> tuple[Any, float, asyncio.Future]:
        """Send without waiting: (id, time sent, future of (time read, response))."""
        if msg_id is None:
            self._next_id += 1
            msg_id = self._next_id
        fut = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        sent = time.perf_counter()
        self._send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return msg_id, sent, fut

    async def request(self, method: str, params: Any = None, timeout: float = 30.0) -> tuple[float, dict]:
        """(seconds from send to response read, the response message)."""
        _, sent, fut = self.send_request(method, params)
        await self.proc.stdin.drain()
        t, msg = await asyncio.wait_for(fut, timeout)
        return t - sent, msg

    def watch(self, token: Any) -> Progress:
        p = self.progress[token] = Progress(first_text=asyncio.get_running_loop().create_future())
        return p

    # -- session ---------------------------------------------------------------------------------

    async def initialize(self, root: str, capabilities: dict | None = None,
                         timeout: float = 60.0) -> tuple[float, dict]:
        from pathlib import Path

        uri = Path(root).as_uri()
        params = {
            "processId": os.getpid(),
            "rootUri": uri,
            "capabilities": CAPABILITIES if capabilities is None else capabilities,
            "workspaceFolders": [{"uri": uri, "name": Path(root).name}],
        }
        took, msg = await self.request("initialize", params, timeout)
        self.notify("initialized", {})
        return took, msg

    def open(self, uri: str, text: str, language: str = "python") -> None:
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": language, "version": 1,
                                                              "text": text}})

    async def close(self, timeout: float = 10.0) -> None:
        with contextlib.suppress(Exception):
            await self.request("shutdown", None, timeout)
            self.notify("exit")
            await self.proc.stdin.drain()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    # -- receiving -------------------------------------------------------------------------------

    async def _read(self) -> None:
        out = self.proc.stdout
        try:
            while True:
                length = None
                while True:
                    line = await out.readline()
                    if not line:
                        raise EOFError
                    if line in (b"\r\n", b"\n"):
                        break
                    name, _, value = line.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await out.readexactly(length)
                t = time.perf_counter()
                self._dispatch(t, json.loads(body))
        except (EOFError, asyncio.IncompleteReadError):
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(EOFError("the server closed its output"))

    def _dispatch(self, t: float, msg: dict) -> None:
        method = msg.get("method")
        if method is not None and "id" in msg:
            # a request from the server (progress/create, registerCapability, configuration): accept
            self._send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
            return
        if method == "$/progress":
            params = msg["params"]
            p = self.progress.get(params["token"])
            if p is not None:
                value = params["value"]
                p.values.append((t, value))
                if value.get("kind") == "report" and value.get("message") and not p.first_text.done():
                    p.first_text.set_result(t)
            return
        if method is None:
            fut = self._pending.pop(msg.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result((t, msg))
