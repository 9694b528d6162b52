"""The shared HTTP helpers: status mapping, Retry-After, key scrubbing, SSE decoding."""

import asyncio
import email.utils
import os
import subprocess
import sys
import time

import httpx
import pytest

from hybridlsp.backends._http import (
    SSEDecoder,
    StreamLimits,
    Upstream,
    error_for_message,
    origin,
    parse_retry_after,
    scrub,
)
from hybridlsp.config import settings_from_mapping
from hybridlsp.errors import (
    AuthError,
    ConfigError,
    BackendTimeout,
    BackendUnavailable,
    BadRequest,
    ContextLengthExceeded,
    RateLimited,
    ServerError,
    StreamBroken,
)
from tests.fakes.fixtures import fake_ollama  # noqa: F401
from tests.fakes.upstreams import unaccepting_url


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


# ---- stream limits ---------------------------------------------------------------------------
# A scripted body: (seconds to wait, bytes to send) pairs, through httpx's MockTransport. Limits are
# a tenth of a second or so; each case bounds how long the failure took from above, not only below.


class _Script(httpx.AsyncByteStream):
    def __init__(self, steps):
        self.steps = steps

    async def __aiter__(self):
        for wait, data in self.steps:
            await asyncio.sleep(wait)
            yield data


def _limited(steps, head_wait: float = 0.0) -> Upstream:
    async def handler(request):
        await asyncio.sleep(head_wait)
        return httpx.Response(200, stream=_Script(steps))

    return _upstream(handler)


LIMITS = StreamLimits(connect_s=0.5, first_token_s=0.2, silence_s=0.15, total_s=0.6)
LINE = b'{"message": {"content": "x"}}\n'


@pytest.mark.parametrize(
    "steps, head_wait, limits, expected, within_s",
    [
        pytest.param([(0.0, LINE)] * 5, 0.0, LIMITS, None, 0.3, id="prompt answer"),
        pytest.param([(0.15, LINE)] + [(0.1, LINE)] * 3, 0.0, LIMITS, None, 0.7, id="first token just in time"),
        pytest.param([(0.0, LINE)] * 5, 0.5, LIMITS, "first-token", 0.45, id="headers late (Ollama loading)"),
        pytest.param([(0.5, LINE)], 0.0, LIMITS, "first-token", 0.45, id="headers, then no body"),
        pytest.param([(0.0, LINE), (0.0, LINE), (0.5, LINE)], 0.0, LIMITS, "silence", 0.4, id="silent half-way"),
        pytest.param([(0.1, LINE)] * 20, 0.0, LIMITS, "total", 0.85, id="drip past the total"),
        pytest.param([(0.5, LINE)] + [(0.0, LINE)] * 3, 0.0, LIMITS.extended(0.4), None, 0.8,
                     id="cold model given its load time"),
        pytest.param([(0.0, LINE)] * 3, 0.3, StreamLimits(0.5, 1.0, 0.15, 0.2), "total", 0.45,
                     id="total shorter than first token"),
    ],
)
async def test_stream_limits(steps, head_wait, limits, expected, within_s):
    up = _limited(steps, head_wait)
    lines: list[str] = []
    t0 = time.monotonic()
    try:
        if expected is None:
            async with up.stream("/api/chat", {}, limits=limits) as response:
                lines = [line async for line in response.aiter_lines()]
        else:
            with pytest.raises(BackendTimeout) as info:
                async with up.stream("/api/chat", {}, limits=limits) as response:
                    lines = [line async for line in response.aiter_lines()]
            assert info.value.limit == expected and info.value.backend == "ollama"
            assert {"first-token": "first_token_timeout_s", "silence": "read_timeout_s",
                    "total": "hop_timeout_s"}[expected] in info.value.fix
    finally:
        await up.aclose()
    elapsed = time.monotonic() - t0
    assert elapsed < within_s, f"{elapsed:.2f} s"
    if expected is None:
        assert len(lines) == len(steps)


async def test_a_slow_reader_is_not_a_silent_upstream():
    """The silence limit holds the upstream's reads, not the time the caller takes between them
    (the stream's one timer, firing between two reads, waits for the next read)."""
    up = _limited([(0.0, LINE)] * 3)
    lines = []
    try:
        async with up.stream("/api/chat", {}, limits=LIMITS) as response:
            async for line in response.aiter_lines():
                lines.append(line)
                await asyncio.sleep(0.25)  # longer than the silence limit, and than the first token's
    finally:
        await up.aclose()
    assert len(lines) == 3


async def test_a_cancel_during_a_read_stays_a_cancel():
    up = _limited([(0.0, LINE), (5.0, LINE)])

    async def read():
        async with up.stream("/api/chat", {}, limits=LIMITS) as response:
            return [line async for line in response.aiter_lines()]

    task = asyncio.ensure_future(read())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await up.aclose()
    await asyncio.sleep(0.2)  # past the silence limit: the stream's timer must not fire into anything


async def test_a_stall_stops_the_task_reading_then_not_the_one_that_began():
    up = _limited([(0.0, LINE), (5.0, LINE)])
    try:
        async with up.stream("/api/chat", {}, limits=LIMITS) as response:
            lines = response.aiter_lines()
            assert await anext(lines)  # read here
            other = asyncio.ensure_future(anext(lines))  # the next read, in a task of its own
            with pytest.raises(BackendTimeout) as info:
                await asyncio.shield(other)
            assert info.value.limit == "silence"
            await asyncio.sleep(0.2)  # this task was not cancelled in its stead
    finally:
        await up.aclose()


def test_limits_come_from_the_dispatch_settings():
    s = settings_from_mapping({"dispatch": {"connect_timeout_s": 1, "first_token_timeout_s": 7,
                                            "read_timeout_s": 4, "hop_timeout_s": 90}})
    assert StreamLimits.from_settings(s) == StreamLimits(1, 7, 4, 90)
    assert StreamLimits.from_settings(s).extended(60) == StreamLimits(1, 67, 4, 150)


@pytest.mark.parametrize("stage", ["first_token_timeout_s", "read_timeout_s"])
def test_a_hop_limit_shorter_than_a_stage_is_refused(stage):
    with pytest.raises(ConfigError) as info:
        settings_from_mapping({"dispatch": {"first_token_timeout_s": 5, "read_timeout_s": 5, stage: 20,
                                            "hop_timeout_s": 10}})
    assert info.value.key == "dispatch.hop_timeout_s" and stage in info.value.problem


async def test_a_connect_that_is_never_accepted_stops_at_the_connect_limit():
    with unaccepting_url() as url:
        up = Upstream("ollama", url, settings_from_mapping({}), unavailable_fix="start it")
        t0 = time.monotonic()
        with pytest.raises(BackendTimeout) as info:
            async with up.stream("/api/chat", {}, limits=StreamLimits(0.2, 5, 5, 10)):
                pass
        elapsed = time.monotonic() - t0
        await up.aclose()
    assert info.value.limit == "connect" and "connect_timeout_s" in info.value.fix
    assert 0.15 < elapsed < 0.7, f"{elapsed:.2f} s"


async def test_a_stream_stalled_half_way_is_hung_up_on(fake_ollama):  # noqa: F811
    """Through a real socket: the stall ends in BackendTimeout, and the server sees us hang up."""
    fake_ollama.inject("stall")
    up = Upstream("ollama", fake_ollama.url, settings_from_mapping({}), unavailable_fix="start it", trust_env=False)
    lines = []
    t0 = time.monotonic()
    with pytest.raises(BackendTimeout) as info:
        async with up.stream("/api/chat", {"model": "m"}, limits=StreamLimits(0.5, 1, 0.2, 5)) as response:
            async for line in response.aiter_lines():
                lines.append(line)
    elapsed = time.monotonic() - t0
    await up.aclose()
    assert info.value.limit == "silence" and lines  # half the answer came, then nothing
    assert elapsed < 0.6, f"{elapsed:.2f} s"
    assert await fake_ollama.wait_disconnected(1.0)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("http://127.0.0.1:11434/", "http://127.0.0.1:11434"),
        ("https://api.openai.com/v1", "https://api.openai.com:443"),
        ("http://gpu-box/ollama", "http://gpu-box:80"),
        ("HTTP://GPU-Box:8080/v1", "http://gpu-box:8080"),
    ],
)
def test_origin_is_what_backends_on_one_server_share(url, expected):
    assert origin(url) == expected


def test_the_backends_do_not_load_httpx_s_command_line_client():
    # click is installed beside the embedded tier (llm needs it): httpx would then import its CLI
    # (click, pygments) into every server; the client itself still works
    code = ("import sys, hybridlsp.backends.ollama, httpx; httpx.Client().close(); "
            "sys.exit(sorted(m for m in ('click', 'pygments') if m in sys.modules) or 0)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
