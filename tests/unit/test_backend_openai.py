"""OpenAI-compatible backend against a real HTTP fake on 127.0.0.1 (and one MockTransport case).
Fault classes and closing the upstream, the same for every backend: test_backend_contract.py."""

import json

import httpx
import pytest

from hybridlsp.backends import AnthropicBackend, ChatRequest, Message, OpenAIBackend
from hybridlsp.config import settings_from_mapping
from hybridlsp.errors import (
    AuthError,
    BackendUnavailable,
    MissingCredentials,
    RateLimited,
)
from tests.fakes import FakeOpenAI, Fault
from tests.fakes.fixtures import collect, fake_anthropic, fake_openai, settings_for  # noqa: F401

KEY = "sk-test-openai-0123456789abcdef"
OTHER_KEY = "sk-ant-test-anthropic-9876543210"
REQUEST = ChatRequest(
    model="gpt-4.1-mini",
    messages=(Message("system", "Be brief."), Message("user", "Name a prime.")),
    max_tokens=64,
    temperature=0.1,
)


@pytest.fixture
async def backend(fake_openai):
    b = OpenAIBackend(settings_for(fake_openai, read_timeout_s=0.3), env={"OPENAI_API_KEY": KEY})
    yield b
    await b.aclose()


async def test_streams_text_in_order_then_usage(backend, fake_openai):
    fake_openai.answer = "Seven is prime."
    fake_openai.usage = (25, 4)
    text, usage, chunks = await collect(backend.stream(REQUEST))
    assert text == "Seven is prime."
    assert len(chunks) > 2
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (25, 4)


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

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text=sse, headers={"content-type": "text/event-stream"})

    backend = OpenAIBackend(
        settings_from_mapping({}), env={"OPENAI_API_KEY": KEY}, transport=httpx.MockTransport(handler)
    )
    try:
        text, usage, _ = await collect(backend.stream(REQUEST))
    finally:
        await backend.aclose()
    assert (text, usage.input_tokens, usage.output_tokens) == ("ok", 3, 1)
    assert str(seen[0].url) == "https://api.openai.com/v1/chat/completions"
    body = json.loads(seen[0].content)
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body


@pytest.mark.parametrize("retry_after, expected", [("3", 3.0), ("0.5", 0.5)])
async def test_retry_after_is_parsed(backend, fake_openai, retry_after, expected):
    fake_openai.inject(Fault("429", retry_after=retry_after))
    with pytest.raises(RateLimited) as info:
        await collect(backend.stream(REQUEST))
    assert info.value.retry_after == expected


@pytest.mark.parametrize("env", [{}, {"OPENAI_API_KEY": ""}, {"OPENAI_API_KEY": "   "}])
async def test_missing_key_says_how_to_fix_and_sends_nothing(fake_openai, env):
    backend = OpenAIBackend(settings_for(fake_openai), env=env)
    with pytest.raises(MissingCredentials) as info:
        await collect(backend.stream(REQUEST))
    await backend.aclose()
    assert "set OPENAI_API_KEY" in info.value.fix
    assert fake_openai.request_count == 0


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


async def test_wrong_key_is_not_echoed_in_the_error():
    with FakeOpenAI(expected_key=KEY) as fake:
        wrong = "sk-wrong-key-ABCDEFGHIJKLMNOP"
        backend = OpenAIBackend(settings_for(fake), env={"OPENAI_API_KEY": wrong})
        with pytest.raises(AuthError) as info:
            await collect(backend.stream(REQUEST))
        await backend.aclose()
    assert "Incorrect API key" in str(info.value)  # the upstream's words are kept ...
    assert wrong not in str(info.value) and "ABCDEFGH" not in str(info.value)  # ... its echo of the key is not
    assert "OPENAI_API_KEY" in info.value.fix


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


async def test_health_lists_models(backend, fake_openai):
    fake_openai.models = ("gpt-4.1", "gpt-4.1-mini")
    health = await backend.health()
    assert health.reachable and health.models == ("gpt-4.1", "gpt-4.1-mini")
    sent = fake_openai.probes[0]  # a GET route: not a model call
    assert (sent.method, sent.path, sent.headers["authorization"]) == ("GET", "/v1/models", f"Bearer {KEY}")


async def test_health_without_key_says_how_to_fix(fake_openai):
    backend = OpenAIBackend(settings_for(fake_openai), env={})
    health = await backend.health()
    await backend.aclose()
    assert not health.reachable and "set OPENAI_API_KEY" in health.fixes[0]
    assert fake_openai.request_count == 0


async def test_refused_connection_is_unavailable(fake_openai):
    settings = settings_from_mapping({"backends": {"openai": {"base_url": fake_openai.closed_url + "/v1"}}})
    backend = OpenAIBackend(settings, env={"OPENAI_API_KEY": KEY})
    with pytest.raises(BackendUnavailable) as info:
        await collect(backend.stream(REQUEST))
    await backend.aclose()
    assert "backends.openai.base_url" in info.value.fix and KEY not in str(info.value)
