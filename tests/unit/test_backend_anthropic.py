"""Anthropic Messages backend against a real HTTP fake on 127.0.0.1 (and MockTransport error events).
What every backend does the same way (streaming, fault classes, Retry-After, the key, closing the
upstream): test_backend_contract.py."""

import json

import pytest

from hybridlsp.backends import AnthropicBackend, ChatRequest, Message
from hybridlsp.config import settings_from_mapping
from hybridlsp.errors import BadRequest, ContextLengthExceeded, RateLimited, ServerError
from tests.fakes.fixtures import collect, fake_anthropic, sse_transport  # noqa: F401

from .backend_cases import BY_NAME, backend_fixture

CASE = BY_NAME["anthropic"]
KEY, REQUEST = CASE.key, CASE.request
backend = backend_fixture("anthropic")


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
    backend = AnthropicBackend(settings_from_mapping({}), env={"ANTHROPIC_API_KEY": KEY}, transport=sse_transport(sse))
    with pytest.raises(expected) as info:
        await collect(backend.stream(REQUEST))
    await backend.aclose()
    assert type(info.value) is expected and info.value.backend == "anthropic"


async def test_health_when_refused(backend, fake_anthropic):
    fake_anthropic.down()
    health = await backend.health()
    assert not health.reachable and "base_url" in health.fixes[0]


# ---- stop_reason and thinking ----------------------------------------------------------------


@pytest.mark.parametrize("reason, finish", [("max_tokens", "length"), ("refusal", "refusal"),
                                            ("end_turn", "stop"), ("stop_sequence", "stop")])
async def test_stop_reason_is_honoured(backend, fake_anthropic, reason, finish):
    fake_anthropic.finish = reason
    _, usage, chunks = await collect(backend.stream(REQUEST))
    assert chunks[-1].finish == finish and usage is not None


async def test_thinking_blocks_stay_out_of_the_answer(backend, fake_anthropic):
    fake_anthropic.thinking, fake_anthropic.answer = "Weigh both options.", "Pick the second."
    text, _, chunks = await collect(backend.stream(REQUEST))
    assert text == "Pick the second." and "".join(c.thinking for c in chunks) == "Weigh both options."
