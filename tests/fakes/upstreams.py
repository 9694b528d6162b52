"""Real HTTP servers on 127.0.0.1 that speak Ollama, OpenAI and Anthropic wire formats.

Each fake runs an asyncio server in a background thread, answers every request with
`Connection: close`, and streams one HTTP chunk per token with a small delay, so streaming and
cancellation are observable from the outside. Response shapes follow recorded upstream answers.

    with FakeOpenAI(answer="Hi there.", usage=(12, 3)) as fake:
        fake.inject("429", Fault("drip", delay=0.05))  # one fault per model call, in order
        ...  point settings at fake.base_url ...
        fake.requests[0].json["model"]; fake.request_count
        await fake.wait_disconnected(1.0); fake.disconnected_at  # time.monotonic() of the hang-up

`requests` and `request_count` are the model calls (everything but the GET routes: health, model
lists, Ollama's /api/ps); those GETs are in `probes`, and take faults from `inject_probe`.

Faults: "close" (read the request, close without a response), "hang" (never answer), "429"
(Retry-After from Fault.retry_after), "500", "400-context", "cut" (stream cut half-way),
"malformed" (garbage line half-way), "stream-error" (the format's in-stream error half-way),
"stall" (half the tokens, then silence with the connection open), "late" (nothing for
Fault.delay seconds, then the answer: a model loading), "drip" (tokens every Fault.delay seconds), and any other status code as a string ("401", "404").
Connection refused is not a per-request fault: use `down()` / `up()` (same port), or `closed_url`;
`unaccepting_url()` gives an address whose connections are never accepted (a connect that hangs).
`answers` gives some models an answer of their own; with `token_logprob` set, a request that asks
for log-probabilities gets that value for every token, in the upstream's own shape.
"""

from __future__ import annotations

import asyncio
import http
import json
import re
import socket
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

__all__ = [
    "Fault",
    "Recorded",
    "FakeUpstream",
    "FakeOllama",
    "FakeOpenAI",
    "FakeAnthropic",
    "free_port",
    "unaccepting_url",
]

STREAM_FAULTS = {"cut", "malformed", "stream-error", "stall", "late", "drip"}


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def unaccepting_url() -> Iterator[str]:
    """An http:// address on 127.0.0.1 whose connections are never accepted: its listen queue is
    full, so the kernel drops the next connection's SYN and the connect waits until it times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    try:
        for _ in range(8):  # fill the queue (its length is the backlog plus one or two)
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(server.getsockname())
            except BlockingIOError:
                pass
            fillers.append(c)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        for c in fillers:
            c.close()
        server.close()


@dataclass(frozen=True)
class Fault:
    kind: str
    retry_after: str = "2"  # for "429": seconds or an HTTP date, sent as-is
    delay: float = 0.05  # for "drip": seconds between tokens; for "late": before the answer


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Conn:
    """One accepted connection: set `finished` before closing so our own close is not a hang-up."""

    eof: asyncio.Future
    finished: bool = False
    gone: bool = False


def _pieces(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text) or [""]


class FakeUpstream:
    """HTTP plumbing, fault queue and recording; subclasses supply one wire format."""

    backend = ""
    stream_path = ""
    content_type = "application/json"
    context_message = "context length exceeded"  # what this upstream says for "400-context"

    def __init__(
        self,
        answer: str = "Hello from the fake upstream.",
        usage: tuple[int, int] = (11, 7),
        token_delay: float = 0.002,
        expected_key: str | None = None,
        models: tuple[str, ...] = ("model-a", "model-b"),
        answers: dict[str, str] | None = None,
        token_logprob: float | None = None,
        chunks: list[str] | None = None,
    ):
        self.answer = answer
        self.answers = dict(answers or {})  # model -> its own answer
        self.token_logprob = token_logprob
        self.chunks = chunks  # the answer's stream pieces, as given (default: one per word)
        self.usage = usage
        self.token_delay = token_delay
        self.expected_key = expected_key  # None: accept any key
        self.models = models
        self.requests: list[Recorded] = []
        self.probes: list[Recorded] = []
        self.disconnected = threading.Event()
        self.disconnected_at: float | None = None
        self.disconnects = 0
        self._faults: deque[Fault] = deque()
        self._probe_faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"fake-{self.backend}", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._handlers: set[asyncio.Task] = set()
        self._stopping: asyncio.Event | None = None
        self.port = 0
        self.closed_url = f"http://127.0.0.1:{free_port()}"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeUpstream:
        self._thread.start()
        self._call(self._init_async())
        self.up()
        return self

    def stop(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def up(self) -> None:
        """Listen (again, on the same port after `down()`)."""
        self._call(self._listen())

    def down(self) -> None:
        """Stop listening: new connections are refused until `up()`."""
        self._call(self._unlisten())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What the backend's base_url / host setting should be."""
        return self.url

    # -- test controls ---------------------------------------------------------------------------

    def inject(self, *faults: str | Fault) -> None:
        """Queue faults; each model call takes the next one (none left: a normal answer)."""
        with self._lock:
            self._faults.extend(f if isinstance(f, Fault) else Fault(f) for f in faults)

    def inject_probe(self, *faults: str | Fault) -> None:
        """Queue faults for the GET routes (health, /api/ps), apart from the model calls'."""
        with self._lock:
            self._probe_faults.extend(f if isinstance(f, Fault) else Fault(f) for f in faults)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.probes.clear()
            self._faults.clear()
            self._probe_faults.clear()
            self.disconnected.clear()
            self.disconnected_at = None
            self.disconnects = 0

    async def wait_disconnected(self, timeout: float) -> bool:
        """Wait (without blocking the caller's loop) until a client hangs up mid-response."""
        return await asyncio.to_thread(self.disconnected.wait, timeout)

    # -- wire format hooks -----------------------------------------------------------------------

    def get_routes(self) -> dict[str, Any]:
        return {}

    def error_body(self, status: int, message: str, kind: str) -> dict:
        raise NotImplementedError

    def stream_frames(self, req: Recorded, pieces: list[str]) -> tuple[list[bytes], list[bytes], list[bytes]]:
        """(frames before the tokens, one frame per token, frames after the tokens)."""
        raise NotImplementedError

    def _logprobs(self, req: Recorded, piece: str) -> list[dict] | None:
        if self.token_logprob is None or not (req.json or {}).get("logprobs"):
            return None
        return [{"token": piece, "logprob": self.token_logprob, "bytes": list(piece.encode()), "top_logprobs": []}]

    def malformed_frame(self) -> bytes:
        raise NotImplementedError

    def stream_error_frame(self) -> bytes:
        raise NotImplementedError

    def check_auth(self, req: Recorded) -> tuple[int, str] | None:
        return None

    # -- server internals ------------------------------------------------------------------------

    def _call(self, coro) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=5)

    async def _init_async(self) -> None:
        self._stopping = asyncio.Event()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _shutdown(self) -> None:
        await self._unlisten()
        self._stopping.set()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    def _next_fault(self, probe: bool) -> Fault | None:
        with self._lock:
            queue = self._probe_faults if probe else self._faults
            return queue.popleft() if queue else None

    def _on_eof(self, conn: _Conn) -> None:
        if not conn.eof.cancelled():
            conn.eof.exception()  # a reset is a hang-up too; retrieve it so asyncio does not log it
        if conn.finished:
            return
        conn.gone = True
        with self._lock:
            self.disconnected_at = time.monotonic()
            self.disconnects += 1
        self.disconnected.set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handlers.add(task)
        try:
            req = await self._read_request(reader)
            if req is None:
                return
            probe = req.method == "GET" and req.path in self.get_routes()
            with self._lock:
                (self.probes if probe else self.requests).append(req)
            # A read that ends (EOF or reset) while we still owe an answer means the client hung up.
            conn = _Conn(asyncio.ensure_future(reader.read(1)))
            conn.eof.add_done_callback(lambda _: self._on_eof(conn))
            try:
                await self._respond(req, writer, conn, self._next_fault(probe))
            finally:
                conn.finished = True
                conn.eof.cancel()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Shutdown cancels handlers; asyncio's start_server logs a cancelled handler as an error.
            pass
        finally:
            writer.close()
            self._handlers.discard(task)

    async def _read_request(self, reader: asyncio.StreamReader) -> Recorded | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
        return Recorded(method, target.split("?")[0], headers, body)

    async def _respond(self, req: Recorded, writer: asyncio.StreamWriter, conn: _Conn, fault: Fault | None) -> None:
        kind = fault.kind if fault else ""
        if kind == "close":
            return
        if kind == "hang":
            await self._until_hung_up(conn)
            return
        if kind == "429":
            await self._send_error(
                writer, 429, "Rate limit reached for requests", "rate", {"retry-after": fault.retry_after}
            )
            return
        if kind == "400-context":
            await self._send_error(writer, 400, self.context_message, "context")
            return
        if kind.isdigit():
            await self._send_error(writer, int(kind), f"injected HTTP {kind}", "status")
            return
        denied = self.check_auth(req)
        if denied:
            await self._send_error(writer, denied[0], denied[1], "auth")
            return
        if req.method == "GET":
            route = self.get_routes().get(req.path)
            if route is None:
                await self._send_error(writer, 404, f"no route {req.path}", "status")
            else:
                await self._send_json(writer, 200, route())
            return
        if req.method != "POST" or req.path != self.stream_path:
            await self._send_error(writer, 404, f"no route {req.method} {req.path}", "status")
            return
        await self._send_stream(req, writer, conn, kind, fault)

    async def _until_hung_up(self, conn: _Conn) -> None:
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({conn.eof, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()

    async def _send_error(self, writer, status: int, message: str, kind: str, extra: dict | None = None) -> None:
        await self._send_json(writer, status, self.error_body(status, message, kind), extra)

    async def _send_json(self, writer, status: int, obj: Any, extra: dict | None = None) -> None:
        body = json.dumps(obj).encode()
        head = {"content-type": "application/json", "content-length": str(len(body)), **(extra or {})}
        writer.write(self._status_line(status, head) + body)
        await writer.drain()

    @staticmethod
    def _status_line(status: int, headers: dict[str, str]) -> bytes:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        lines = [f"HTTP/1.1 {status} {phrase}", "connection: close", *(f"{k}: {v}" for k, v in headers.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send_stream(self, req: Recorded, writer, conn: _Conn, kind: str, fault: Fault | None) -> None:
        answer = self.answers.get((req.json or {}).get("model", ""), self.answer)
        pieces = list(self.chunks) if self.chunks else _pieces(answer)
        before, tokens, after = self.stream_frames(req, pieces)
        half = len(tokens) // 2
        if kind == "cut":
            frames, after = before + tokens[:half], None
        elif kind == "malformed":
            frames = before + tokens[:half] + [self.malformed_frame()] + tokens[half:] + after
        elif kind == "stream-error":
            frames = before + tokens[:half] + [self.stream_error_frame()]
        elif kind == "stall":
            frames, after = before + tokens[:half], None
        else:
            frames = before + tokens + after
        delay = fault.delay if kind == "drip" else self.token_delay
        if kind == "late":
            await asyncio.sleep(fault.delay)
        writer.write(self._status_line(200, {"content-type": self.content_type, "transfer-encoding": "chunked"}))
        for frame in frames:
            if conn.gone:
                return
            writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            await writer.drain()
            await asyncio.sleep(delay)
        if kind == "cut":
            # Hang up without the terminating chunk: the body is visibly incomplete.
            writer.transport.abort()
            return
        if kind == "stall":
            # Silence with the connection open, until the client gives up (or the fake stops).
            await self._until_hung_up(conn)
            return
        writer.write(b"0\r\n\r\n")
        await writer.drain()


def _sse(event: str | None, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "").encode() + f"data: {payload}\n\n".encode()


class FakeOllama(FakeUpstream):
    backend = "ollama"
    stream_path = "/api/chat"
    content_type = "application/x-ndjson"
    context_message = "the input length exceeds the context length"

    def __init__(self, *args: Any, loaded: tuple[str, ...] = ("model-a",), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.loaded = loaded

    def get_routes(self) -> dict[str, Any]:
        def tags() -> dict:
            return {
                "models": [
                    {
                        "name": m,
                        "model": m,
                        "modified_at": "2025-01-01T00:00:00Z",
                        "size": 4_700_000_000,
                        "digest": "0" * 64,
                        "details": {"format": "gguf", "family": "qwen2", "parameter_size": "7.6B"},
                    }
                    for m in self.models
                ]
            }

        def ps() -> dict:
            return {
                "models": [
                    {
                        "name": m,
                        "model": m,
                        "size": 5_000_000_000,
                        "digest": "0" * 64,
                        "expires_at": "2099-01-01T00:00:00Z",
                        "size_vram": 5_000_000_000,
                    }
                    for m in self.loaded
                ]
            }

        return {"/api/tags": tags, "/api/ps": ps}

    def error_body(self, status: int, message: str, kind: str) -> dict:
        return {"error": message}

    def _line(self, model: str, text: str, done: bool = False, **extra: Any) -> bytes:
        obj = {
            "model": model,
            "created_at": "2025-01-01T00:00:00.000000Z",
            "message": {"role": "assistant", "content": text},
            "done": done,
            **extra,
        }
        return json.dumps(obj).encode() + b"\n"

    def stream_frames(self, req, pieces):
        model = (req.json or {}).get("model", "")
        final = self._line(
            model,
            "",
            True,
            done_reason="stop",
            total_duration=1_000_000,
            load_duration=100_000,
            prompt_eval_count=self.usage[0],
            prompt_eval_duration=200_000,
            eval_count=self.usage[1],
            eval_duration=700_000,
        )
        tokens = []
        for p in pieces:
            lp = self._logprobs(req, p)
            tokens.append(self._line(model, p, logprobs=lp) if lp else self._line(model, p))
        return [], tokens, [final]

    def malformed_frame(self) -> bytes:
        return b'{"model": "x", "message": {"content": \n'

    def stream_error_frame(self) -> bytes:
        return b'{"error": "an error was encountered while running the model"}\n'


class FakeOpenAI(FakeUpstream):
    backend = "openai"
    stream_path = "/v1/chat/completions"
    content_type = "text/event-stream"
    context_message = (
        "This model's maximum context length is 128000 tokens. However, your messages resulted in "
        "130000 tokens. Please reduce the length of the messages."
    )

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def check_auth(self, req: Recorded) -> tuple[int, str] | None:
        sent = req.headers.get("authorization", "")
        if self.expected_key is not None and sent != f"Bearer {self.expected_key}":
            # The real API echoes (part of) the wrong key; echo all of it so scrubbing is tested.
            shown = sent.removeprefix("Bearer ")
            return (
                401,
                f"Incorrect API key provided: {shown}. You can find your API key at https://platform.openai.com/account/api-keys.",
            )
        return None

    def get_routes(self) -> dict[str, Any]:
        return {
            "/v1/models": lambda: {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 1700000000, "owned_by": "system"} for m in self.models
                ],
            }
        }

    def error_body(self, status: int, message: str, kind: str) -> dict:
        code = {"rate": "rate_limit_exceeded", "context": "context_length_exceeded", "auth": "invalid_api_key"}
        etype = {"rate": "requests", "status": "server_error" if status >= 500 else "invalid_request_error"}
        return {
            "error": {
                "message": message,
                "type": etype.get(kind, "invalid_request_error"),
                "param": "messages" if kind == "context" else None,
                "code": code.get(kind),
            }
        }

    def _chunk(self, model: str, delta: dict | None, finish: str | None = None, usage: dict | None = None,
               logprobs: list | None = None) -> dict:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": {"content": logprobs, "refusal": None} if logprobs else None,
                   "finish_reason": finish}],
            "usage": usage,
        }

    def stream_frames(self, req, pieces):
        body = req.json or {}
        model = body.get("model", "")
        before = [_sse(None, self._chunk(model, {"role": "assistant", "content": "", "refusal": None}))]
        tokens = [_sse(None, self._chunk(model, {"content": p}, logprobs=self._logprobs(req, p))) for p in pieces]
        after = [_sse(None, self._chunk(model, {}, "stop"))]
        if (body.get("stream_options") or {}).get("include_usage"):
            inp, out = self.usage
            after.append(
                _sse(
                    None,
                    self._chunk(
                        model,
                        None,
                        usage={
                            "prompt_tokens": inp,
                            "completion_tokens": out,
                            "total_tokens": inp + out,
                            "prompt_tokens_details": {"cached_tokens": 0},
                            "completion_tokens_details": {"reasoning_tokens": 0},
                        },
                    ),
                )
            )
        after.append(_sse(None, "[DONE]"))
        return before, tokens, after

    def malformed_frame(self) -> bytes:
        return b'data: {"id": "chatcmpl-fake", "choices": [{"delta": {"content": \n\n'

    def stream_error_frame(self) -> bytes:
        return _sse(
            None,
            {
                "error": {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            },
        )


class FakeAnthropic(FakeUpstream):
    backend = "anthropic"
    stream_path = "/v1/messages"
    content_type = "text/event-stream"
    context_message = "prompt is too long: 210000 tokens > 200000 maximum"

    def check_auth(self, req: Recorded) -> tuple[int, str] | None:
        if self.expected_key is not None and req.headers.get("x-api-key") != self.expected_key:
            return 401, "invalid x-api-key"
        return None

    def get_routes(self) -> dict[str, Any]:
        return {
            "/v1/models": lambda: {
                "data": [
                    {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                    for m in self.models
                ],
                "has_more": False,
                "first_id": None,
                "last_id": None,
            }
        }

    def error_body(self, status: int, message: str, kind: str) -> dict:
        etype = {
            429: "rate_limit_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            413: "request_too_large",
            529: "overloaded_error",
        }
        default = "api_error" if status >= 500 else "invalid_request_error"
        return {"type": "error", "error": {"type": etype.get(status, default), "message": message}}

    def stream_frames(self, req, pieces):
        body = req.json or {}
        tool = bool(body.get("tools"))
        inp, out = self.usage
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": body.get("model", ""),
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": inp,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": 1,
                },
            },
        }
        block = (
            {"type": "tool_use", "id": "toolu_fake", "name": body["tools"][0]["name"], "input": {}}
            if tool
            else {"type": "text", "text": ""}
        )
        before = [
            _sse("message_start", start),
            _sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
            _sse("ping", {"type": "ping"}),
        ]
        delta = (
            (lambda p: {"type": "input_json_delta", "partial_json": p})
            if tool
            else (lambda p: {"type": "text_delta", "text": p})
        )
        tokens = [
            _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta(p)}) for p in pieces
        ]
        after = [
            _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "tool_use" if tool else "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": out},
                },
            ),
            _sse("message_stop", {"type": "message_stop"}),
        ]
        return before, tokens, after

    def malformed_frame(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": \n\n'

    def stream_error_frame(self) -> bytes:
        return _sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
