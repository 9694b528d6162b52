"""A plain HTTP/1.1 transport for httpx, used for `http://` upstreams (a local Ollama, llama.cpp's
server, a tier-2 box on the LAN).

Why not httpx's own (httpcore over anyio): under 100 simultaneous streams from a local Ollama, its
layers took about half the server's CPU a request - as much as the whole direct-httpx client of the
benchmark's floor. A local model server needs little of what they handle: no TLS, no proxy, no
HTTP/2, no upgrade. This transport speaks HTTP/1.1 over an asyncio stream: one request at a time
on a connection, bodies framed by content-length, chunked encoding or the connection's close, and
connections kept alive for the next request when the server allows it. httpx's types stay in front
of it (`Request`, `Response`), so backends and error handling see the same ones; failures are
raised as the httpx exceptions httpcore would raise. `Upstream.stream` (_http.py) hands it a
streamed POST directly, without `httpx.AsyncClient.send` around it.

`https://` and proxied upstreams keep httpx's transport (see `wants_plain`).
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
from collections.abc import AsyncIterator

import httpx

from ._hosts import is_loopback

__all__ = ["PlainTransport", "wants_plain"]

MAX_HEAD = 64 * 1024  # status line and headers
READ_SIZE = 64 * 1024
IDLE_PER_ORIGIN = 64  # kept-alive connections remembered per host:port
_PROXY_VARS = ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")


def wants_plain(base_url: str, trust_env: bool = True, env=os.environ) -> bool:
    """True for an http:// base URL that no proxy setting applies to (a loopback host never goes
    through one here; any other host does when a proxy variable is set and trusted)."""
    if not base_url.lower().startswith("http://"):
        return False
    if is_loopback(base_url) or not trust_env:
        return True
    return not any(env.get(v) for v in _PROXY_VARS)


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        """Close now: the FIN leaves at once (as httpcore's close does), not at the loop's next turn,
        which may come only after the work that follows a cancel (the ledger row written on the
        loop) - the upstream stops generating when it sees it."""
        transport = self.writer.transport
        if transport.is_closing():
            return
        try:
            if transport.can_write_eof():
                transport.write_eof()
        except OSError:
            pass
        transport.close()

    @property
    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()


async def _within(aw, seconds: float | None, exc: type[httpx.TimeoutException], what: str, request):
    if seconds is None:
        return await aw
    try:
        async with asyncio.timeout(seconds):
            return await aw
    except TimeoutError:
        raise exc(what, request=request) from None


def _ip_family(host: str) -> int | None:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family
    return None


async def _open(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """`asyncio.open_connection(host, port)`. To an IP address, the connect is looked at as soon as
    it is sent: to a loopback or LAN host it is often complete by then (on loopback the handshake
    is done within the call), and the socket is used at once instead of after the loop has been
    told to watch it, reported it writable and been told to stop: 30 us of CPU a connection less,
    a connection a request to an upstream that closes each. A connect still under way is awaited
    as asyncio does it; a host name is resolved by asyncio."""
    family = _ip_family(host)
    if family is None:
        return await asyncio.open_connection(host, port, limit=MAX_HEAD)
    address = (host, port) if family == socket.AF_INET else (host, port, 0, 0)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        try:
            sock.connect(address)
        except BlockingIOError:  # under way
            done = select.poll()
            done.register(sock, select.POLLOUT)
            if not done.poll(0):
                await asyncio.get_running_loop().sock_connect(sock, address)
            elif err := sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                raise OSError(err, f"Connect call failed {address}")  # asyncio's words for it
        return await asyncio.open_connection(sock=sock, limit=MAX_HEAD)
    except BaseException:
        sock.close()
        raise


class PlainTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncClient(transport=PlainTransport())` for http:// URLs."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self._closed = False

    # -- connections ---------------------------------------------------------------------------
    def _take(self, key: tuple[str, int]) -> _Conn | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.usable:
                return conn
            conn.close()
        return None

    def _release(self, key: tuple[str, int], conn: _Conn) -> None:
        idle = self._idle.setdefault(key, [])
        if self._closed or len(idle) >= IDLE_PER_ORIGIN or not conn.usable:
            conn.close()
        else:
            idle.append(conn)

    async def _connect(self, host: str, port: int, timeout: float | None, request) -> _Conn:
        try:
            reader, writer = await _within(_open(host, port), timeout, httpx.ConnectTimeout,
                                           f"no connection to {host}:{port} within {timeout} s", request)
        except OSError as e:
            raise httpx.ConnectError(str(e) or type(e).__name__, request=request) from None
        return _Conn(reader, writer)

    # -- one exchange ----------------------------------------------------------------------------
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"this transport speaks http:// only, not {request.url.scheme}://",
                                            request=request)
        timeouts = request.extensions.get("timeout") or {}
        host = request.url.host
        port = request.url.port or 80
        key = (host, port)
        try:
            body = request.content  # a body given as bytes is read already
        except httpx.RequestNotRead:
            body = await request.aread()
        data = _head(request, len(body)) + body
        conn = self._take(key)
        if conn is not None:
            try:
                return await self._exchange(key, conn, request, data, timeouts)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as e:
                if getattr(e, "answered", False):
                    raise
                # a kept-alive connection the server had closed meanwhile: once more on a new one
        conn = await self._connect(host, port, timeouts.get("connect"), request)
        return await self._exchange(key, conn, request, data, timeouts)

    async def _exchange(self, key, conn: _Conn, request, data: bytes, timeouts) -> httpx.Response:
        try:
            conn.writer.write(data)
            await _within(conn.writer.drain(), timeouts.get("write"), httpx.WriteTimeout, "write timed out", request)
        except OSError as e:
            conn.close()
            raise httpx.WriteError(str(e) or type(e).__name__, request=request) from None
        try:
            while True:
                status, reason, headers = await _within(_read_head(conn.reader), timeouts.get("read"),
                                                        httpx.ReadTimeout, "no answer within the read timeout",
                                                        request)
                if not 100 <= status < 200 or status == 101:
                    break  # 1xx (100 Continue, 103 Early Hints) come before the answer: skip them
        except httpx.TimeoutException:
            conn.close()
            raise
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError, ValueError) as e:
            conn.close()
            if isinstance(e, asyncio.IncompleteReadError) and not e.partial:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.",
                                                request=request) from None
            raise _answered(httpx.RemoteProtocolError(f"malformed or cut response head ({type(e).__name__})",
                                                      request=request)) from None
        names = {k.lower(): v for k, v in headers}
        keep = _keeps_alive(request, names)
        if request.method == "HEAD" or status in (204, 304):
            body = _Body(self, key, conn, None, 0, keep, request, timeouts.get("read"))
        elif b"chunked" in names.get(b"transfer-encoding", b"").lower():
            body = _Body(self, key, conn, "chunked", 0, keep, request, timeouts.get("read"))
        elif b"content-length" in names:
            try:
                size = int(names[b"content-length"])
            except ValueError:
                conn.close()
                raise _answered(httpx.RemoteProtocolError("bad content-length", request=request)) from None
            body = _Body(self, key, conn, "length", size, keep, request, timeouts.get("read"))
        else:
            body = _Body(self, key, conn, "close", 0, False, request, timeouts.get("read"))
        return httpx.Response(status, headers=headers, stream=body,
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


def _answered(e: httpx.HTTPError) -> httpx.HTTPError:
    e.answered = True  # the server said something: not a stale connection, so no second try
    return e


def _head(request: httpx.Request, length: int) -> bytes:
    target = request.url.raw_path
    lines = [b"%s %s HTTP/1.1" % (request.method.encode(), target)]
    seen_length = False
    for name, value in request.headers.raw:
        low = name.lower()
        if low == b"content-length":
            seen_length = True
        elif low == b"transfer-encoding":
            continue  # the body is sent whole, with its length
        lines.append(name + b": " + value)
    if not seen_length and (length or request.method in ("POST", "PUT", "PATCH")):
        lines.append(b"content-length: %d" % length)
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw[:-4].split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    if not version.startswith(b"HTTP/1."):
        raise ValueError(f"not an HTTP/1 status line: {lines[0][:40]!r}")
    code, _, reason = rest.partition(b" ")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError(f"malformed header line: {line[:40]!r}")
        headers.append((name.strip(), value.strip()))
    return int(code), reason, headers


def _keeps_alive(request: httpx.Request, names: dict[bytes, bytes]) -> bool:
    if b"close" in names.get(b"connection", b"").lower():
        return False
    return b"close" not in request.headers.get("connection", "").lower().encode()


class _Body(httpx.AsyncByteStream):
    def __init__(self, transport: PlainTransport, key, conn: _Conn, framing: str | None, size: int, keep: bool,
                 request, read_s: float | None):
        self._transport, self._key, self._conn = transport, key, conn
        self._framing, self._size, self._keep = framing, size, keep
        self._request, self._read_s = request, read_s
        self._done = framing is None or (framing == "length" and size == 0)
        if self._done:
            self._finish()

    def _finish(self) -> None:
        self._done = True
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._keep:
            self._transport._release(self._key, conn)
        else:
            conn.close()

    async def _read(self, aw):
        if self._read_s is None:
            return await aw
        return await _within(aw, self._read_s, httpx.ReadTimeout, "no data within the read timeout", self._request)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._done:
            return
        reader = self._conn.reader
        try:
            if self._framing == "chunked":
                while True:
                    line = await self._read(reader.readline())
                    if not line.endswith(b"\n"):
                        raise asyncio.IncompleteReadError(line, None)
                    size = int(line.split(b";", 1)[0].strip() or b"x", 16)
                    if size == 0:
                        while (await self._read(reader.readline())).strip():  # trailers, then the blank line
                            pass
                        break
                    chunk = await self._read(reader.readexactly(size + 2))
                    yield chunk[:-2]
            elif self._framing == "length":
                left = self._size
                while left:
                    chunk = await self._read(reader.read(min(left, READ_SIZE)))
                    if not chunk:
                        raise asyncio.IncompleteReadError(b"", left)
                    left -= len(chunk)
                    yield chunk
            else:  # to the connection's close
                while chunk := await self._read(reader.read(READ_SIZE)):
                    yield chunk
        except (asyncio.IncompleteReadError, ValueError) as e:
            self._keep = False
            self._finish()
            raise httpx.RemoteProtocolError(
                f"peer closed connection without sending complete message body ({type(e).__name__})",
                request=self._request) from None
        except (ConnectionError, OSError) as e:
            self._keep = False
            self._finish()
            raise httpx.ReadError(str(e) or type(e).__name__, request=self._request) from None
        except BaseException:
            self._keep = False  # cancelled or abandoned mid-body: the connection goes with it
            self._finish()
            raise
        self._finish()

    async def aclose(self) -> None:
        if not self._done:
            self._keep = False  # mid-body: drop the connection, so the upstream stops generating
            self._finish()
