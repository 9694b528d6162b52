"""OpenAI-compatible backend against a real HTTP fake on 127.0.0.1 (and one MockTransport case).
What every backend does the same way (streaming, fault classes, Retry-After, the key, closing the
upstream): test_backend_contract.py."""

import json

import httpx
import pytest

from hybridlsp.backends import AnthropicBackend, ChatRequest, Message, OpenAIBackend
from hybridlsp.config import settings_from_mapping
from hybridlsp.errors import BackendUnavailable, MissingCredentials
from tests.fakes.fixtures import collect, fake_anthropic, fake_openai, settings_for, sse_transport  # noqa: F401

from .backend_cases import BY_NAME, backend_fixture

CASE = BY_NAME["openai"]
KEY, REQUEST = CASE.key, CASE.request
OTHER_KEY = "sk-ant-test-anthropic-9876543210"
backend = backend_fixture("openai")


async def test_request_body_and_headers(backend, fake_openai):
    await collect(backend.stream(REQUEST))
    sent = fake_openai.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json == {
        "model": "gpt-4.1-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a prime."}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 64,  # a compatible server, not api.openai.com
        "temperature": 0.1,
    }


async def test_json_schema_and_stop_are_sent(backend, fake_openai):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    await collect(
        backend.stream(ChatRequest(model="m", messages=(Message("user", "x"),), json_schema=schema, stop=("END",)))
    )
    body = fake_openai.requests[0].json
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": False},
    }
    assert body["stop"] == ["END"]


async def test_official_api_gets_max_completion_tokens():
    """Through an injected transport: the real host is never contacted."""
    seen: list[httpx.Request] = []
    sse = (
        "".join(
            f"data: {json.dumps(obj)}\n\n"
            for obj in (
                {"choices": [{"index": 0, "delta": {"content": "ok"}}]},
                {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
            )
        )
        + "data: [DONE]\n\n"
    )
    backend = OpenAIBackend(settings_from_mapping({}), env={"OPENAI_API_KEY": KEY}, transport=sse_transport(sse, seen))
    try:
        text, usage, _ = await collect(backend.stream(REQUEST))
    finally:
        await backend.aclose()
    assert (text, usage.input_tokens, usage.output_tokens) == ("ok", 3, 1)
    assert str(seen[0].url) == "https://api.openai.com/v1/chat/completions"
    body = json.loads(seen[0].content)
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body


async def test_key_variable_name_comes_from_settings(fake_openai):
    settings = settings_from_mapping(
        {"backends": {"openai": {"base_url": fake_openai.base_url, "api_key_env": "GROQ_KEY"}}}
    )
    backend = OpenAIBackend(settings, env={"OPENAI_API_KEY": KEY})
    with pytest.raises(MissingCredentials, match="GROQ_KEY"):
        await collect(backend.stream(REQUEST))
    await backend.aclose()
    backend = OpenAIBackend(settings, env={"GROQ_KEY": "gsk_other"})
    await collect(backend.stream(REQUEST))
    await backend.aclose()
    assert fake_openai.requests[0].headers["authorization"] == "Bearer gsk_other"


async def test_key_is_read_at_request_time(fake_openai, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = OpenAIBackend(settings_for(fake_openai))
    with pytest.raises(MissingCredentials):
        await collect(backend.stream(REQUEST))
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    await collect(backend.stream(REQUEST))
    await backend.aclose()
    assert fake_openai.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_each_key_goes_only_to_its_own_host(fake_openai, fake_anthropic):
    env = {"OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": OTHER_KEY}
    settings = settings_for(fake_openai, fake_anthropic)
    for backend in (OpenAIBackend(settings, env=env), AnthropicBackend(settings, env=env)):
        await collect(backend.stream(REQUEST))
        await backend.aclose()
    to_openai = repr(fake_openai.requests[0].headers) + fake_openai.requests[0].body.decode()
    to_anthropic = repr(fake_anthropic.requests[0].headers) + fake_anthropic.requests[0].body.decode()
    assert KEY in to_openai and OTHER_KEY not in to_openai
    assert OTHER_KEY in to_anthropic and KEY not in to_anthropic


async def test_health_without_key_says_how_to_fix(fake_openai):
    backend = OpenAIBackend(settings_for(fake_openai), env={})
    health = await backend.health()
    await backend.aclose()
    assert not health.reachable and "set OPENAI_API_KEY" in health.fixes[0]
    assert fake_openai.requests == []


async def test_refused_connection_is_unavailable(fake_openai):
    settings = settings_from_mapping({"backends": {"openai": {"base_url": fake_openai.closed_url + "/v1"}}})
    backend = OpenAIBackend(settings, env={"OPENAI_API_KEY": KEY})
    with pytest.raises(BackendUnavailable) as info:
        await collect(backend.stream(REQUEST))
    await backend.aclose()
    assert "backends.openai.base_url" in info.value.fix and KEY not in str(info.value)


# ---- parameters per model family, and what comes back besides the answer ---------------------


def chat(model: str, think: bool = False) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message("user", "Explain the bug."),), max_tokens=300,
                       temperature=0.2, think=think)


@pytest.mark.parametrize("model", ["o3", "o4-mini", "o1-2024-12-17", "gpt-5", "gpt-5-mini", "gpt-5.1"])
async def test_reasoning_models_get_no_temperature_and_a_completion_budget(backend, fake_openai, model):
    # o-series and gpt-5 answer HTTP 400 to temperature; the cloud tier then silently fell back
    await collect(backend.stream(chat(model)))
    body = fake_openai.requests[-1].json
    assert "temperature" not in body and "max_tokens" not in body and "stop" not in body
    assert body["max_completion_tokens"] == 300
    assert body["reasoning_effort"] == "low"  # a short answer need not reason at length


async def test_reasoning_models_reason_at_their_own_default_when_thinking_helps(backend, fake_openai):
    await collect(backend.stream(chat("o3", think=True)))
    assert "reasoning_effort" not in fake_openai.requests[-1].json


@pytest.mark.parametrize("model", ["gpt-4.1", "gpt-4o-mini", "gpt-5-chat-latest"])
async def test_other_models_keep_temperature(backend, fake_openai, model):
    await collect(backend.stream(chat(model)))
    body = fake_openai.requests[-1].json
    assert body["temperature"] == 0.2 and "reasoning_effort" not in body


async def test_a_refusal_is_read_and_said(backend, fake_openai):
    fake_openai.refusal = "I'm sorry, I can't help with that."
    text, _, chunks = await collect(backend.stream(REQUEST))
    assert text == ""
    assert chunks[-1].finish == "refusal" and chunks[-1].detail == "I'm sorry, I can't help with that."


@pytest.mark.parametrize("reason, finish", [("length", "length"), ("content_filter", "content-filter"),
                                            ("stop", "stop")])
async def test_finish_reason_is_read(backend, fake_openai, reason, finish):
    fake_openai.finish = reason
    _, usage, chunks = await collect(backend.stream(REQUEST))
    assert chunks[-1].finish == finish and usage is not None


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_fields_are_thinking_not_answer(backend, fake_openai, field):
    fake_openai.reasoning_field = field
    fake_openai.thinking, fake_openai.answer = "First check the loop bounds.", "Off by one in the loop."
    text, usage, chunks = await collect(backend.stream(REQUEST))
    assert text == "Off by one in the loop."
    assert "".join(c.thinking for c in chunks) == "First check the loop bounds."
    assert usage.thinking_tokens > 0  # completion_tokens_details.reasoning_tokens


async def test_inline_think_blocks_are_stripped(backend, fake_openai):
    fake_openai.answer = "<think>Looks like a race.</think>The cache write races the read."
    text, _, chunks = await collect(backend.stream(REQUEST))
    assert text == "The cache write races the read." and "race" in "".join(c.thinking for c in chunks)


async def test_a_compatible_server_needs_no_key_and_is_asked_not_to_think(fake_openai):
    backend = OpenAIBackend(settings_for(fake_openai), env={}, name="lab", kind="openai-compatible",
                            base_url=fake_openai.base_url, api_key_env="")
    try:
        text, _, _ = await collect(backend.stream(chat("qwen3-32b")))
    finally:
        await backend.aclose()
    sent = fake_openai.requests[-1]
    assert text == fake_openai.answer and "authorization" not in sent.headers
    assert sent.json["chat_template_kwargs"] == {"enable_thinking": False}
    assert sent.json["temperature"] == 0.2 and sent.json["max_tokens"] == 300
