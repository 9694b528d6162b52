"""The plain HTTP/1.1 transport (backends/_plain.py) against raw servers on 127.0.0.1: framing,
keep-alive, a stale kept-alive connection, faults raised as httpx's exceptions, and a close that
reaches the server at once."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from hybridlsp.backends._plain import PlainTransport, wants_plain


class RawServer:
    """Answers each request on a connection with the next of `answers` (bytes, or a callable
    taking the writer); counts connections and requests."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed_at: float | None = None
        self.server = None

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader, writer):
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                sizes = [int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")]
                body = await reader.readexactly(sizes[0] if sizes else 0)
                self.requests.append(head + body)
                answer = self.answers.pop(0)
                if callable(answer):
                    await answer(reader, writer)
                else:
                    writer.write(answer)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_at = time.monotonic()
        finally:
            writer.close()


def chunked(*parts: bytes, extra: bytes = b"") -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)
    return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n" + extra + b"\r\n" + body + b"0\r\n\r\n"


def sized(body: bytes, status: bytes = b"200 OK", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\ncontent-length: %d\r\n%s\r\n%s" % (status, len(body), extra, body)


async def lines_of(client, url, path="/api/chat"):
    async with client.stream("POST", url + path, json={"a": 1}) as r:
        return r.status_code, [line async for line in r.aiter_lines()]


async def test_chunked_and_sized_bodies_on_one_kept_alive_connection():
    async with RawServer(chunked(b'{"x": 1}\n{"x"', b': 2}\n'), sized(b'{"ok": true}'), chunked(b"a\n")) as srv:
        async with httpx.AsyncClient(transport=PlainTransport()) as client:
            assert await lines_of(client, srv.url) == (200, ['{"x": 1}', '{"x": 2}'])
            r = await client.get(srv.url + "/api/ps")
            assert r.json() == {"ok": True}
            assert (await lines_of(client, srv.url))[1] == ["a"]
    assert srv.connections == 1
    first = srv.requests[0]
    assert first.startswith(b"POST /api/chat HTTP/1.1\r\n") and b'{"a":1}' in first.replace(b" ", b"")
    assert b"content-length: 7" in first.lower()


async def test_connection_close_and_bodies_read_to_the_close_are_not_reused():
    async with RawServer(sized(b"one", extra=b"connection: close\r\n")) as srv:
        async with httpx.AsyncClient(transport=PlainTransport()) as client:
            assert (await client.get(srv.url + "/")).text == "one"
            srv.answers.append(b"HTTP/1.1 200 OK\r\n\r\nuntil the close")

            async def close_after(reader, writer):
                writer.write(b"HTTP/1.1 200 OK\r\n\r\nuntil the close")
                await writer.drain()
                writer.close()

            srv.answers[-1] = close_after
            assert (await client.get(srv.url + "/")).text == "until the close"
    assert srv.connections == 2


async def test_chunk_extensions_trailers_and_interim_answers():
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    body = b"4;name=value\r\nabcd\r\n0\r\ntrailer: x\r\n\r\n"
    async with RawServer(interim + b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + body, sized(b"next")) as srv:
        async with httpx.AsyncClient(transport=PlainTransport()) as client:
            assert (await client.get(srv.url + "/")).text == "abcd"
            assert (await client.get(srv.url + "/")).text == "next"  # the trailers were read off the connection
    assert srv.connections == 1


async def test_a_kept_alive_connection_the_server_closed_is_replaced():
    async def answer_then_close(reader, writer):
        writer.write(sized(b"first"))
        await writer.drain()
        writer.close()  # without saying connection: close

    async with RawServer(answer_then_close, sized(b"second")) as srv:
        async with httpx.AsyncClient(transport=PlainTransport()) as client:
            assert (await client.get(srv.url + "/")).text == "first"
            await asyncio.sleep(0.05)
            assert (await client.get(srv.url + "/")).text == "second"
    assert srv.connections == 2


async def test_faults_are_httpx_errors():
    async def cut(reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab")
        await writer.drain()
        writer.close()

    async def hang_up(reader, writer):
        writer.close()

    async with RawServer(cut, b"not http at all\r\n\r\n", hang_up) as srv:
        async with httpx.AsyncClient(transport=PlainTransport()) as client:
            with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
                await lines_of(client, srv.url)
            with pytest.raises(httpx.RemoteProtocolError, match="malformed"):
                await client.get(srv.url + "/")
            with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
                await client.get(srv.url + "/")
    async with httpx.AsyncClient(transport=PlainTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(srv.url + "/")  # the server is gone: refused


async def test_read_timeout_on_a_silent_server():
    async def silent(reader, writer):
        await asyncio.sleep(5)

    async with RawServer(silent) as srv:
        async with httpx.AsyncClient(transport=PlainTransport(), timeout=httpx.Timeout(0.2)) as client:
            t0 = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                await client.get(srv.url + "/")
            assert time.monotonic() - t0 < 2


async def test_leaving_a_stream_mid_body_closes_the_connection_before_anything_else_runs():
    """The upstream sees the close even when the loop is then held up (as by the ledger row a
    cancel writes on the loop): the FIN leaves at the close, not at the loop's next turn."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[float] = []

    def serve():
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nx\n\r\n")
        conn.settimeout(5)
        try:
            while conn.recv(65536):
                pass
            seen.append(time.monotonic())  # end of input: the client's FIN
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        async with httpx.AsyncClient(transport=PlainTransport()) as client:
            async with client.stream("POST", url + "/", json={}) as r:
                async for _ in r.aiter_lines():
                    break
            closed = time.monotonic()
            time.sleep(0.3)  # the loop held up right after the close
            thread.join(5)
    finally:
        listener.close()
    assert seen and seen[0] - closed < 0.1, "the upstream saw the close only after the loop's next turn"


def test_wants_plain_only_for_http_without_a_proxy():
    assert wants_plain("http://127.0.0.1:11434", env={"HTTP_PROXY": "http://proxy:3128"})
    assert wants_plain("http://gpu-box:11434", env={})
    assert not wants_plain("http://gpu-box:11434", env={"http_proxy": "http://proxy:3128"})
    assert wants_plain("http://gpu-box:11434", trust_env=False, env={"http_proxy": "http://proxy:3128"})
    assert not wants_plain("https://api.openai.com/v1", env={})


async def test_a_connect_complete_when_sent_is_used_without_waiting_for_the_loop(monkeypatch):
    """To 127.0.0.1 the handshake is done within connect(): no loop turn waits to be told so."""
    loop = asyncio.get_running_loop()
    waited = []
    sock_connect = loop.sock_connect

    async def counted(sock, address):
        waited.append(address)
        return await sock_connect(sock, address)

    monkeypatch.setattr(loop, "sock_connect", counted)
    closing = b"connection: close\r\n"
    async with RawServer(*[sized(b"ok", extra=closing) for _ in range(20)]) as srv:
        async with httpx.AsyncClient(transport=PlainTransport()) as client:
            for _ in range(20):
                assert (await client.get(srv.url + "/")).text == "ok"
    assert srv.connections == 20
    assert len(waited) <= 2, waited


async def test_a_refused_connect_says_so_as_asyncio_does():
    async with RawServer() as srv:
        url = srv.url
    async with httpx.AsyncClient(transport=PlainTransport()) as client:
        with pytest.raises(httpx.ConnectError, match="Connect call failed|Connection refused"):
            await client.get(url + "/")
