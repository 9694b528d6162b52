"""The shared HTTP helpers: status mapping, Retry-After, key scrubbing, SSE decoding."""

import email.utils
import time

import httpx
import pytest

from hybridlsp.backends._http import SSEDecoder, error_for_message, parse_retry_after, scrub
from hybridlsp.errors import (
    AuthError,
    BadRequest,
    ContextLengthExceeded,
    RateLimited,
    ServerError,
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
    lines = [": keep-alive", "", "event: message_start", "data: {\"a\":", "data: 1}", "", "data: [DONE]", ""]
    events = [e for e in (decoder.feed(line) for line in lines) if e is not None]
    assert events == [("message_start", '{"a":\n1}'), ("message", "[DONE]")]
