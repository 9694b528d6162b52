"""`Upstream.stream` on the plain transport skips httpx.AsyncClient's per-request machinery, and
`iter_lines` skips three of httpx's generators a chunk: the bytes on the wire and the lines read
must be the ones httpx's own path gives."""

from __future__ import annotations

import asyncio
import gzip

import httpx
from hypothesis import given, settings as hsettings, strategies as st

from hybridlsp.backends._http import Upstream, iter_lines
from hybridlsp.config import settings_from_mapping
from tests.unit.test_plain_transport import RawServer, chunked

BODIES = [
    {"model": "model-a", "stream": True, "messages": [{"role": "user", "content": "héllo \u2028 \"q\" 🙂"}]},
    {},
    {"options": {"num_predict": 350, "temperature": 0.2, "stop": ["\n\n"]}, "keep_alive": "30m"},
]


def upstream(url: str) -> Upstream:
    return Upstream("ollama", url, settings_from_mapping({}), unavailable_fix="start it", trust_env=False)


async def _send(up: Upstream, body: dict, headers) -> list[str]:
    async with up.stream("/api/chat", body, headers) as response:
        return [line async for line in iter_lines(response)]


async def test_the_fast_path_sends_the_bytes_httpx_sends():
    answers = [chunked(b'{"n": 1}\n')] * (2 * len(BODIES))
    async with RawServer(*answers) as srv:
        up = upstream(srv.url)
        assert up._plain is not None
        for body in BODIES:
            assert await _send(up, body, None) == ['{"n": 1}']  # the fast path
            assert await _send(up, body, {}) == ['{"n": 1}']  # headers given: httpx.AsyncClient.stream
        await up.aclose()
    fast, through_httpx = srv.requests[0::2], srv.requests[1::2]
    assert fast == through_httpx
    assert len(up._posts) == 1  # the URL and headers were built once for the path


async def test_a_cookie_the_upstream_sets_is_sent_back_as_httpx_would():
    set_cookie = chunked(b"{}\n", extra=b"set-cookie: session=abc; Path=/\r\n")
    async with RawServer(set_cookie, chunked(b"{}\n")) as srv:
        up = upstream(srv.url)
        await _send(up, {"a": 1}, None)
        await _send(up, {"a": 1}, None)
        await up.aclose()
    assert b"\r\ncookie: session=abc" in srv.requests[1].lower()


async def test_a_closed_upstream_refuses_as_httpx_does():
    up = upstream("http://127.0.0.1:9")
    await up.aclose()
    try:
        await _send(up, {}, None)
    except RuntimeError as e:
        assert "closed" in str(e)
    else:
        raise AssertionError("a closed client sent a request")


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]):
        self.chunks = chunks

    async def __aiter__(self):
        for c in self.chunks:
            yield c


def _response(chunks: list[bytes], headers=()) -> httpx.Response:
    return httpx.Response(200, headers=list(headers), stream=_Chunks(chunks),
                          request=httpx.Request("POST", "http://127.0.0.1/api/chat"))


async def _both(chunks: list[bytes], headers=()) -> tuple[list[str], list[str]]:
    ours = [line async for line in iter_lines(_response(chunks, headers))]
    theirs = [line async for line in _response(chunks, headers).aiter_lines()]
    return ours, theirs


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points + [len(data)]:
        pieces.append(data[last:p])
        last = p
    return [p for p in pieces if p]


TEXT = st.text(alphabet=st.sampled_from(list('ab{}":é🙂\n\r\x0b\x1c\x85\u2028 ')), max_size=60)


@hsettings(max_examples=300, deadline=None)
@given(text=TEXT, cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
       charset=st.sampled_from([None, "utf-8", "latin-1"]))
def test_iter_lines_splits_as_aiter_lines(text: str, cuts: list[int], charset):
    data = text.encode("utf-8")  # multi-byte characters get cut too: the decoder must carry them over
    headers = [("content-type", f"application/x-ndjson; charset={charset}")] if charset else []
    ours, theirs = asyncio.run(_both(_cut(data, cuts), headers))
    assert ours == theirs


async def test_iter_lines_leaves_a_compressed_body_to_httpx():
    packed = gzip.compress(b'{"a": 1}\n{"b": 2}\n')
    ours, theirs = await _both([packed[:5], packed[5:]], [("content-encoding", "gzip")])
    assert ours == theirs == ['{"a": 1}', '{"b": 2}']


async def test_iter_lines_closes_the_response_at_the_end_and_marks_it_read():
    r = _response([b"x\ny"])
    assert [line async for line in iter_lines(r)] == ["x", "y"]
    assert r.is_stream_consumed and r.is_closed
    try:
        [line async for line in iter_lines(r)]
    except httpx.StreamConsumed:
        pass
    else:
        raise AssertionError("a consumed stream was read twice")
