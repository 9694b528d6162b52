"""Anthropic Messages backend against a real HTTP fake on 127.0.0.1 (and MockTransport error events).
Fault classes and closing the upstream, the same for every backend: test_backend_contract.py."""

import json

import httpx
import pytest

from hybridlsp.backends import AnthropicBackend, ChatRequest, Message
from hybridlsp.config import settings_from_mapping
from hybridlsp.errors import (
    AuthError,
    BadRequest,
    ContextLengthExceeded,
    MissingCredentials,
    RateLimited,
    ServerError,
)
from tests.fakes import FakeAnthropic, Fault
from tests.fakes.fixtures import collect, fake_anthropic, settings_for  # noqa: F401

KEY = "sk-ant-api03-test-0123456789abcdef"
REQUEST = ChatRequest(
    model="claude-sonnet-4-5",
    messages=(Message("system", "Be brief."), Message("user", "Name a prime.")),
    max_tokens=64,
    temperature=0.1,
)


@pytest.fixture
async def backend(fake_anthropic):
    b = AnthropicBackend(settings_for(fake_anthropic, read_timeout_s=0.3), env={"ANTHROPIC_API_KEY": KEY})
    yield b
    await b.aclose()


async def test_streams_text_in_order_then_usage(backend, fake_anthropic):
    fake_anthropic.answer = "Eleven is prime."
    fake_anthropic.usage = (40, 6)
    text, usage, chunks = await collect(backend.stream(REQUEST))
    assert text == "Eleven is prime."
    assert len(chunks) > 2
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (40, 6)


async def test_request_body_and_headers(backend, fake_anthropic):
    await collect(backend.stream(REQUEST))
    sent = fake_anthropic.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Name a prime."}],
        "system": "Be brief.",  # top-level, never a message role
        "stream": True,
        "temperature": 0.1,
    }


async def test_json_schema_is_a_forced_tool_and_streams_its_json(backend, fake_anthropic):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    fake_anthropic.answer = '{"n": 13}'
    request = ChatRequest(model="m", messages=(Message("user", "x"),), json_schema=schema, stop=("END",))
    text, _, _ = await collect(backend.stream(request))
    assert json.loads(text) == {"n": 13}
    body = fake_anthropic.requests[0].json
    assert body["tools"][0]["input_schema"] == schema
    assert body["tool_choice"] == {"type": "tool", "name": body["tools"][0]["name"]}
    assert body["stop_sequences"] == ["END"]
    assert "system" not in body


@pytest.mark.parametrize(
    "error_type, message, expected",
    [
        ("overloaded_error", "Overloaded", ServerError),
        ("api_error", "Internal server error", ServerError),
        ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit", RateLimited),
        ("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum", ContextLengthExceeded),
        ("invalid_request_error", "messages: roles must alternate", BadRequest),
        ("some_future_error", "?", ServerError),
    ],
)
async def test_in_stream_error_event_maps_by_type(error_type, message, expected):
    events = [
        ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 1}}}),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        ),
        ("error", {"type": "error", "error": {"type": error_type, "message": message}}),
    ]
    sse = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    transport = httpx.MockTransport(
        lambda _r: httpx.Response(200, text=sse, headers={"content-type": "text/event-stream"})
    )
    backend = AnthropicBackend(settings_from_mapping({}), env={"ANTHROPIC_API_KEY": KEY}, transport=transport)
    with pytest.raises(expected) as info:
        await collect(backend.stream(REQUEST))
    await backend.aclose()
    assert type(info.value) is expected and info.value.backend == "anthropic"


@pytest.mark.parametrize("retry_after", ["6", "Wed, 21 Oct 2015 07:28:00 GMT"])
async def test_retry_after_is_parsed(backend, fake_anthropic, retry_after):
    fake_anthropic.inject(Fault("429", retry_after=retry_after))
    with pytest.raises(RateLimited) as info:
        await collect(backend.stream(REQUEST))
    # A date in the past means "now".
    assert info.value.retry_after == (6.0 if retry_after == "6" else 0.0)


async def test_missing_key_says_how_to_fix_and_sends_nothing(fake_anthropic):
    backend = AnthropicBackend(settings_for(fake_anthropic), env={"OPENAI_API_KEY": "sk-not-this-one-123456"})
    with pytest.raises(MissingCredentials) as info:
        await collect(backend.stream(REQUEST))
    await backend.aclose()
    assert "set ANTHROPIC_API_KEY" in info.value.fix
    assert fake_anthropic.request_count == 0


async def test_wrong_key_gets_auth_error_without_the_key():
    with FakeAnthropic(expected_key=KEY) as fake:
        wrong = "sk-ant-wrong-ABCDEFGHIJKLMNOP"
        backend = AnthropicBackend(settings_for(fake), env={"ANTHROPIC_API_KEY": wrong})
        with pytest.raises(AuthError) as info:
            await collect(backend.stream(REQUEST))
        await backend.aclose()
    assert wrong not in str(info.value) and "ANTHROPIC_API_KEY" in info.value.fix


async def test_health_lists_models(backend, fake_anthropic):
    fake_anthropic.models = ("claude-sonnet-4-5", "claude-haiku-4-5")
    health = await backend.health()
    assert health.reachable and health.models == ("claude-sonnet-4-5", "claude-haiku-4-5")
    sent = fake_anthropic.probes[0]  # a GET route: not a model call
    assert (sent.path, sent.headers["x-api-key"]) == ("/v1/models", KEY)


async def test_health_when_refused(backend, fake_anthropic):
    fake_anthropic.down()
    health = await backend.health()
    assert not health.reachable and "base_url" in health.fixes[0]
