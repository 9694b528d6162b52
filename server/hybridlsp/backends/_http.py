"""What the HTTP backends share: one client each, the limits on a stream, and one mapping from
HTTP trouble to our errors.

    httpx.ConnectError, closed before an answer  -> BackendUnavailable
    a `StreamLimits` limit passed                -> BackendTimeout(limit=connect|first-token|silence|total)
    httpx.TimeoutException (connect/read/...)    -> BackendTimeout
    cut or unreadable half-way through a stream  -> StreamBroken
    429 (Retry-After: seconds or an HTTP date)   -> RateLimited(retry_after=...)
    5xx                                          -> ServerError
    400/413 that says the prompt is too long     -> ContextLengthExceeded
    401 / 403                                    -> AuthError
    any other 4xx                                -> BadRequest

No retries here: the dispatcher owns the retry policy, so every attempt is one request it can count.
Messages never carry an API key: upstream text is scrubbed before it is put in an error.

A stream is held to four limits (`StreamLimits`, from `dispatch.*`): the connection; the first byte
of the answer, counted from sending the request (Ollama sends its headers with the first token);
the silence between two reads once the body has started; and the whole request. They are deadlines
on the event loop around each read, not httpx's per-read timeout, so a slow drip cannot outlast the
total and a model still loading can be given its load time for the first byte alone.
"""

from __future__ import annotations

import asyncio
import codecs
import email.utils
import json
import logging
import re
import time
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, AsyncIterator

import httpx
from httpx._decoders import LineDecoder  # httpx<1 (pyproject); its line splitting, not a copy of it

from ..config import Settings
from ..errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    BadRequest,
    ContextLengthExceeded,
    RateLimited,
    ServerError,
    StreamBroken,
)
from ._plain import PlainTransport, wants_plain

__all__ = [
    "Upstream",
    "StreamLimits",
    "SSEDecoder",
    "origin",
    "scrub",
    "parse_retry_after",
    "error_for_status",
    "error_for_message",
    "load_json",
    "token_logprobs",
    "read_to_end",
    "iter_lines",
]

USER_AGENT = "hybridlsp/0.1"

_httpx_log = logging.getLogger("httpx")  # where httpx.AsyncClient logs each request it sends

_KEY_RE = re.compile(r"sk-[\w\-*.]{3,}")
_BEARER_RE = re.compile(r"(?i)bearer\s+\S+")
_CONTEXT_RE = re.compile(
    r"context length|context_length|maximum context|context window|too long|num_ctx|too many tokens", re.I
)

FIX_TIMEOUT = "raise dispatch.read_timeout_s / connect_timeout_s, or check the backend is not overloaded"
# What to raise when each limit of `StreamLimits` passes.
FIX_LIMIT = {
    "connect": "check the host is up and reachable, or raise dispatch.connect_timeout_s",
    "first-token": "raise dispatch.first_token_timeout_s (dispatch.cold_load_s for a model still loading), "
    "or check the backend is not overloaded",
    "silence": "the stream went silent; raise dispatch.read_timeout_s, or check the backend is not overloaded",
    "total": "raise dispatch.hop_timeout_s, or ask for a shorter answer",
}
FIX_RATE = "wait and try again, or lower the request rate for this key"
FIX_SERVER = "the upstream failed; try again later"
FIX_CONTEXT = "send less context, or use a model with a larger window"
FIX_BROKEN = "the stream was cut or garbled; try again"
FIX_BAD_REQUEST = "check the model name and settings for this backend"
FIX_AUTH = "check the API key for this backend"


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove key material from upstream text before it reaches a message or a log."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _KEY_RE.sub("sk-***", text)
    return _BEARER_RE.sub("Bearer ***", text)


def parse_retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait, from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _upstream_message(body: str) -> str:
    """The human part of an error body in any of the three wire formats, else the raw text."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("type") or err)
        if isinstance(err, str):
            return err
    return body.strip()


def error_for_message(
    backend: str,
    status: int,
    message: str,
    secrets: tuple[str, ...] = (),
    *,
    retry_after: float | None = None,
    auth_fix: str = FIX_AUTH,
    bad_request_fix: str = FIX_BAD_REQUEST,
) -> BackendError:
    """Map an HTTP status (or the status an in-stream error event stands for) to one error class."""
    text = scrub(message, secrets)[:300]
    detail = f"HTTP {status}: {text}" if text else f"HTTP {status}"
    if status == 429:
        return RateLimited(backend, detail, FIX_RATE, retry_after=retry_after)
    if status >= 500:
        return ServerError(backend, detail, FIX_SERVER)
    if status in (400, 413) and _CONTEXT_RE.search(message):
        return ContextLengthExceeded(backend, detail, FIX_CONTEXT)
    if status in (401, 403):
        return AuthError(backend, detail, auth_fix)
    return BadRequest(backend, detail, bad_request_fix)


def error_for_status(
    backend: str, response: httpx.Response, body: str, secrets: tuple[str, ...] = (), **fixes: str
) -> BackendError:
    retry_after = parse_retry_after(response.headers) if response.status_code == 429 else None
    return error_for_message(
        backend, response.status_code, _upstream_message(body), secrets, retry_after=retry_after, **fixes
    )


async def read_to_end(lines: AsyncIterator[str], most: int = 16, within_s: float = 0.25) -> None:
    """Read what follows a stream's final event - normally only the end of the chunked body - so
    httpx puts the connection back in its pool for the next request. Left unread, the connection
    is dropped and the next request opens a new one (a connect, a socket and its teardown each
    time). An upstream that sends more than `most` further lines, or holds the body open longer
    than `within_s`, is left, and its connection dropped, as before."""
    extra = 0
    try:
        async with asyncio.timeout(within_s):
            async for line in lines:
                if line.strip():
                    extra += 1
                    if extra > most:
                        return
    except TimeoutError:
        return


async def iter_lines(response: httpx.Response) -> AsyncIterator[str]:
    """The lines of a streamed response, as `response.aiter_lines()` gives them, read straight from
    its byte stream: httpx stacks three more async generators (raw, bytes, text) under its lines,
    a resumption of each for every chunk. A compressed body goes through httpx's own decoding."""
    if "content-encoding" in response.headers or response.is_stream_consumed or response.is_closed:
        async for line in response.aiter_lines():  # decoding, or httpx's StreamConsumed/StreamClosed
            yield line
        return
    response.is_stream_consumed = True
    decode = codecs.getincrementaldecoder(response.encoding or "utf-8")(errors="replace").decode
    split = LineDecoder()  # httpx's own: the lines break exactly where `aiter_lines` breaks them
    async for raw in response.stream:
        text = decode(raw)
        if text:
            for line in split.decode(text):
                yield line
    text = decode(b"", True)
    for line in split.decode(text) if text else ():
        yield line
    for line in split.flush():
        yield line
    await response.aclose()  # as aiter_raw does at the end of the body


def load_json(backend: str, text: str) -> dict:
    """One NDJSON line or SSE data field; anything that is not a JSON object means the stream is garbled."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise StreamBroken(backend, f"malformed line in stream: {scrub(text)[:80]!r}", FIX_BROKEN)
    return value


def origin(url: str | httpx.URL) -> str:
    """`scheme://host:port` of a URL: what two backends on the same server have in common."""
    u = httpx.URL(str(url))
    port = u.port or {"http": 80, "https": 443}.get(u.scheme, 0)
    return f"{u.scheme}://{u.host}:{port}"


@dataclass(frozen=True)
class StreamLimits:
    """How long one streamed request may take at each stage, in seconds."""

    connect_s: float
    first_token_s: float  # from sending the request to the first byte of the answer's body
    silence_s: float  # between two reads once the body has started
    total_s: float  # the whole request, start to end

    @classmethod
    def from_settings(cls, settings: Settings) -> StreamLimits:
        d = settings.dispatch
        return cls(d.connect_timeout_s, d.first_token_timeout_s, d.read_timeout_s, d.hop_timeout_s)

    def extended(self, seconds: float) -> StreamLimits:
        """More time before the first token, and so in all (a model still loading)."""
        return replace(self, first_token_s=self.first_token_s + seconds, total_s=self.total_s + seconds)


class _Deadlines(httpx.AsyncByteStream):
    """A response body whose reads stop at the first-token, silence and total deadlines.

    One timer a stream rather than an `asyncio.timeout` a read (a timer made, pushed on the loop's
    heap and cancelled for every chunk): each read only moves the deadline, and the timer, when it
    fires before the deadline now in force (a read moved it meanwhile), is set again for it. It
    expires the way `asyncio.timeout` does: it cancels the reading task, and the read turns the
    cancellation back into the limit's `BackendTimeout` unless someone else cancelled too."""

    def __init__(self, inner: httpx.AsyncByteStream, upstream: Upstream, limits: StreamLimits, start: float):
        self._inner = inner
        self._upstream = upstream
        self._limits = limits
        self._first_by = start + limits.first_token_s
        self._total_by = start + limits.total_s
        self._when = 0.0  # the deadline of the read under way
        self._reading = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._expired = False
        self._task: asyncio.Task | None = None  # the task reading now: the one an expiry cancels

    def _next(self, first: bool, now: float) -> tuple[str, float]:
        """The limit the next read is held to, and when it passes."""
        stage, by = ("first-token", self._first_by) if first else ("silence", now + self._limits.silence_s)
        return (stage, by) if by < self._total_by else ("total", self._total_by)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = self._when
        self._timer = loop.call_at(self._when, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if not self._reading:
            return  # between two reads: the next one sets the timer again
        if self._when > self._timer_at:
            self._arm(loop)  # a read since moved the deadline on
        else:
            self._expired = True
            self._task.cancel()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        reads = aiter(self._inner)
        first = True
        try:
            while True:
                limit, self._when = self._next(first, loop.time())
                if self._timer is None or self._timer_at > self._when:
                    self._arm(loop)
                self._task = task = asyncio.current_task(loop)  # given the loop: no getpid() a read
                cancelling = task.cancelling()
                self._reading = True
                try:
                    chunk = await anext(reads)
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    if self._expired and task.uncancel() <= cancelling:
                        raise self._upstream.stalled(limit, self._limits) from None
                    raise
                finally:
                    self._reading = False
                if chunk:
                    first = False
                yield chunk
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    async def aclose(self) -> None:
        await self._inner.aclose()


class SSEDecoder:
    """Server-sent events, fed one line at a time (as `httpx.Response.aiter_lines` gives them)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> tuple[str, str] | None:
        """Return (event, data) when `line` ends an event, else None."""
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = (self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return event
        if line.startswith(":"):  # comment / keep-alive
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None


class Upstream:
    """One `httpx.AsyncClient` for one backend instance, and the error mapping around every call."""

    def __init__(
        self,
        backend: str,
        base_url: str,
        settings: Settings,
        *,
        unavailable_fix: str,
        auth_fix: str = FIX_AUTH,
        bad_request_fix: str = FIX_BAD_REQUEST,
        transport: httpx.AsyncBaseTransport | None = None,
        trust_env: bool = True,
    ):
        self.backend = backend
        self.unavailable_fix = unavailable_fix
        self._fixes = {"auth_fix": auth_fix, "bad_request_fix": bad_request_fix}
        self.limits = StreamLimits.from_settings(settings)
        d = settings.dispatch
        # for the short GETs (health, /api/ps); a stream is held to `self.limits` instead
        timeout = httpx.Timeout(
            connect=d.connect_timeout_s, read=d.read_timeout_s, write=d.read_timeout_s, pool=d.connect_timeout_s
        )
        if transport is None and wants_plain(str(base_url), trust_env):
            transport = PlainTransport()  # why: see _plain.py (half the server's CPU a request)
        self._plain = transport if isinstance(transport, PlainTransport) else None
        self._posts: dict[str, tuple] = {}  # path -> what `_post` builds on
        try:
            self.client = httpx.AsyncClient(
                base_url=base_url,
                timeout=timeout,
                transport=transport,
                trust_env=trust_env,
                headers={"user-agent": USER_AGENT},
            )
        except (httpx.InvalidURL, ValueError, TypeError) as e:
            raise BackendUnavailable(backend, f"invalid base URL {base_url!r}: {e}", unavailable_fix) from None

    @property
    def origin(self) -> str:
        """`scheme://host:port` this upstream talks to (see `origin`)."""
        return origin(self.client.base_url)

    def stalled(self, limit: str, limits: StreamLimits) -> BackendTimeout:
        what = {
            "connect": f"no connection to {self.origin} within {limits.connect_s:g} s",
            "first-token": f"no answer within {limits.first_token_s:g} s of the request",
            "silence": f"the stream went silent for {limits.silence_s:g} s",
            "total": f"the request took longer than {limits.total_s:g} s in all",
        }[limit]
        return BackendTimeout(self.backend, what, FIX_LIMIT[limit], limit=limit)

    def _transport_error(self, exc: httpx.HTTPError, started: bool, limits: StreamLimits | None = None) -> BackendError:
        name, text = type(exc).__name__, scrub(str(exc))
        if limits is not None and isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return self.stalled("connect", limits)
        if isinstance(exc, httpx.TimeoutException):
            what = "no data within the read timeout" if started else f"timed out ({name})"
            return BackendTimeout(self.backend, what, FIX_TIMEOUT)
        if started:
            return StreamBroken(self.backend, f"stream cut half-way ({name}: {text})", FIX_BROKEN)
        if isinstance(exc, httpx.ConnectError):
            return BackendUnavailable(
                self.backend, f"cannot connect to {self.client.base_url} ({text})", self.unavailable_fix
            )
        return BackendUnavailable(
            self.backend, f"connection closed before an answer ({name}: {text})", self.unavailable_fix, connected=True
        )

    @asynccontextmanager
    async def stream(
        self,
        path: str,
        body: dict,
        headers: dict[str, str] | None = None,
        secrets: tuple[str, ...] = (),
        *,
        limits: StreamLimits | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """POST `body` and yield the streaming response once its status is 2xx.

        Reads from the response are held to `limits` (default: this upstream's, from the settings);
        one that passes raises `BackendTimeout` naming it. Leaving the block - normally, by error,
        by `aclose()` or by cancellation - closes the response, which drops the connection
        mid-stream so the upstream stops generating.
        """
        limits = limits or self.limits
        start = asyncio.get_running_loop().time()
        # httpx's read timeout is per read; the deadlines below replace it for a stream
        timeout = httpx.Timeout(connect=limits.connect_s, read=None, write=limits.silence_s, pool=limits.connect_s)
        head_by = start + min(limits.first_token_s, limits.total_s)
        head_limit = "first-token" if limits.first_token_s <= limits.total_s else "total"
        started = False
        try:
            async with AsyncExitStack() as stack:
                try:
                    async with asyncio.timeout_at(head_by):
                        if self._plain is not None and headers is None and not self.client.cookies \
                                and not self.client.is_closed:
                            sent = self._send_plain(self._post(path, body, timeout))
                        else:
                            sent = self.client.stream("POST", path, json=body, headers=headers, timeout=timeout)
                        response = await stack.enter_async_context(sent)
                except TimeoutError:
                    raise self.stalled(head_limit, limits) from None
                response.stream = _Deadlines(response.stream, self, limits, start)
                if response.status_code >= 400:
                    raw = (await response.aread()).decode("utf-8", "replace")
                    raise error_for_status(self.backend, response, raw, secrets, **self._fixes)
                started = True
                yield response
        except httpx.HTTPError as e:
            err = self._transport_error(e, started, limits)
            err.answer_began = started
            raise err from e
        except BackendError as e:
            # an in-stream error event, a garbled line or a stall: the upstream had accepted the request
            e.answer_began = e.answer_began or started
            raise

    def _post(self, path: str, body: dict, timeout: httpx.Timeout) -> httpx.Request:
        """The request `client.build_request("POST", path, json=body, timeout=timeout)` builds, the
        same URL, headers in the same order, and body bytes: the URL and the headers are the ones
        `build_request` built for the path once, only the body and its length change."""
        made = self._posts.get(path)
        if made is None:
            probe = self.client.build_request("POST", path, json={}, timeout=timeout)
            raw = probe.headers.raw
            at = next(i for i, (k, _) in enumerate(raw) if k.lower() == b"content-length")
            made = self._posts[path] = (probe.url, raw[:at], raw[at][0], raw[at + 1:])
        url, before, length, after = made
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
        request = httpx.Request("POST", url, headers=[*before, (length, b"%d" % len(content)), *after],
                                stream=httpx.ByteStream(content), extensions={"timeout": timeout.as_dict()})
        request.read()  # as httpx reads a body given as bytes: `request.content` is there for the transport
        return request

    @asynccontextmanager
    async def _send_plain(self, request: httpx.Request) -> AsyncIterator[httpx.Response]:
        """`client.stream` for a request `_post` built, handed to the plain transport directly:
        httpx's client adds auth, redirect and event-hook machinery around each request, none of
        which applies here (no auth, redirects not followed, no hooks), and a cookie jar, kept as it does."""
        response = await self._plain.handle_async_request(request)
        response.request = request
        if "set-cookie" in response.headers:
            self.client.cookies.extract_cookies(response)
        if _httpx_log.isEnabledFor(logging.INFO):
            _httpx_log.info('HTTP Request: %s %s "%s %d %s"', request.method, request.url, response.http_version,
                            response.status_code, response.reason_phrase)
        try:
            yield response
        finally:
            await response.aclose()

    async def get_json(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        secrets: tuple[str, ...] = (),
        *,
        timeout_s: float | None = None,
    ) -> Any:
        """GET a JSON answer; `timeout_s` bounds each stage (connect, each read) instead of the default."""
        return await self._json("GET", path, None, headers, secrets, timeout_s)

    async def post_json(
        self, path: str, body: dict, headers: dict[str, str] | None = None, secrets: tuple[str, ...] = (),
        *, timeout_s: float | None = None,
    ) -> Any:
        """A small metadata request answered in one JSON document (Ollama's /api/show)."""
        return await self._json("POST", path, body, headers, secrets, timeout_s)

    async def _json(self, method: str, path: str, body, headers, secrets, timeout_s: float | None) -> Any:
        limits = self.limits if timeout_s is None else replace(self.limits, connect_s=timeout_s)
        try:
            timeout = httpx.USE_CLIENT_DEFAULT if timeout_s is None else timeout_s
            response = await self.client.request(method, path, json=body, headers=headers, timeout=timeout)
        except httpx.HTTPError as e:
            raise self._transport_error(e, False, limits) from e
        if response.status_code >= 400:
            raise error_for_status(self.backend, response, response.text, secrets, **self._fixes)
        try:
            return response.json()
        except ValueError:
            raise BadRequest(self.backend, f"{method} {path}: answer is not JSON", self.unavailable_fix) from None

    async def aclose(self) -> None:
        await self.client.aclose()


def token_logprobs(entries) -> tuple[float, ...]:
    """[{"token": ..., "logprob": ...}, ...] as Ollama and OpenAI-compatible servers send them."""
    if not isinstance(entries, list):
        return ()
    out = []
    for e in entries:
        lp = e.get("logprob") if isinstance(e, dict) else None
        if isinstance(lp, (int, float)):
            out.append(float(lp))
    return tuple(out)
