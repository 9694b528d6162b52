"""The shared HTTP helpers: status mapping, Retry-After, key scrubbing, SSE decoding."""

import email.utils
import time

import httpx
import pytest

from hybridlsp.backends._http import SSEDecoder, Upstream, error_for_message, parse_retry_after, scrub
from hybridlsp.config import settings_from_mapping
from hybridlsp.errors import (
    AuthError,
    BackendTimeout,
    BackendUnavailable,
    BadRequest,
    ContextLengthExceeded,
    RateLimited,
    ServerError,
    StreamBroken,
)


@pytest.mark.parametrize(
    "status, message, expected",
    [
        (429, "slow down", RateLimited),
        (500, "boom", ServerError),
        (502, "bad gateway", ServerError),
        (529, "Overloaded", ServerError),
        (400, "This model's maximum context length is 8192 tokens", ContextLengthExceeded),
        (400, "prompt is too long: 210000 tokens > 200000 maximum", ContextLengthExceeded),
        (400, "input exceeds num_ctx", ContextLengthExceeded),
        (400, "context_length_exceeded", ContextLengthExceeded),
        (413, "request too long", ContextLengthExceeded),
        (400, "unknown field 'foo'", BadRequest),
        (401, "bad key", AuthError),
        (403, "forbidden", AuthError),
        (404, "model not found", BadRequest),
        (422, "unprocessable", BadRequest),
    ],
)
def test_status_maps_to_one_error_class(status, message, expected):
    err = error_for_message("openai", status, message)
    assert type(err) is expected
    assert err.backend == "openai"
    assert f"HTTP {status}" in str(err)
    assert err.fix


def test_rate_limited_carries_retry_after():
    err = error_for_message("openai", 429, "slow down", retry_after=3.0)
    assert isinstance(err, RateLimited) and err.retry_after == 3.0


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers, expected):
    assert parse_retry_after(httpx.Headers(headers)) == expected


def test_retry_after_http_date():
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(httpx.Headers({"retry-after": date}), now=now) == pytest.approx(30, abs=1)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(httpx.Headers({"retry-after": past}), now=now) == 0.0


@pytest.mark.parametrize(
    "text, secrets, leaked",
    [
        ("Incorrect API key provided: sk-proj-abcdef123456", (), "sk-proj-abcdef123456"),
        ("key sk-ant-api03-XYZxyz_123-456 rejected", (), "sk-ant-api03-XYZxyz_123-456"),
        ("partially masked sk-abc***************wxyz.", (), "wxyz"),
        ("header was Authorization: Bearer gsk_live_123456", (), "gsk_live_123456"),
        ("echo: my-own-key-value-42 is wrong", ("my-own-key-value-42",), "my-own-key-value-42"),
    ],
)
def test_scrub_removes_key_material(text, secrets, leaked):
    assert leaked not in scrub(text, secrets)


def test_error_message_never_repeats_the_key():
    key = "zz-secret-key-0123456789"
    err = error_for_message("anthropic", 401, f"invalid x-api-key {key}", (key,))
    assert key not in str(err) and key not in err.detail


def test_sse_decoder_joins_fields_and_skips_comments():
    decoder = SSEDecoder()
    lines = [": keep-alive", "", "event: message_start", 'data: {"a":', "data: 1}", "", "data: [DONE]", ""]
    events = [e for e in (decoder.feed(line) for line in lines) if e is not None]
    assert events == [("message_start", '{"a":\n1}'), ("message", "[DONE]")]


def _upstream(handler) -> Upstream:
    return Upstream(
        "ollama",
        "http://127.0.0.1:9",
        settings_from_mapping({}),
        unavailable_fix="start it",
        transport=httpx.MockTransport(handler),
    )


@pytest.mark.parametrize(
    "exc, expected",
    [
        (httpx.ConnectError("refused"), BackendUnavailable),
        (httpx.ConnectTimeout("slow"), BackendTimeout),
        (httpx.PoolTimeout("busy"), BackendTimeout),
        (httpx.ReadTimeout("silent"), BackendTimeout),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), BackendUnavailable),
        (httpx.WriteError("broken pipe"), BackendUnavailable),
    ],
)
async def test_failure_before_the_answer_maps_by_type(exc, expected):
    def handler(request):
        raise exc

    up = _upstream(handler)
    with pytest.raises(expected) as info:
        async with up.stream("/api/chat", {}):
            pass
    await up.aclose()
    assert type(info.value) is expected and info.value.backend == "ollama" and info.value.fix


class _CutStream(httpx.AsyncByteStream):
    def __init__(self, exc: Exception):
        self.exc = exc

    async def __aiter__(self):
        yield b'{"message": {"content": "Hi"}}\n'
        raise self.exc


@pytest.mark.parametrize(
    "exc, expected",
    [
        (httpx.ReadError("reset"), StreamBroken),
        (httpx.RemoteProtocolError("incomplete chunked read"), StreamBroken),
        (httpx.ReadTimeout("silent"), BackendTimeout),
    ],
)
async def test_failure_half_way_maps_by_type(exc, expected):
    up = _upstream(lambda request: httpx.Response(200, stream=_CutStream(exc)))
    lines = []
    with pytest.raises(expected):
        async with up.stream("/api/chat", {}) as response:
            async for line in response.aiter_lines():
                lines.append(line)
    await up.aclose()
    assert lines == ['{"message": {"content": "Hi"}}']
