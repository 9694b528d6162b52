"""Ollama backend against a real HTTP fake on 127.0.0.1.
Fault classes and closing the upstream, the same for every backend: test_backend_contract.py."""

import time

import pytest

from hybridlsp.backends import ChatRequest, Message, OllamaBackend
from hybridlsp.errors import (
    BackendTimeout,
    BackendUnavailable,
    BadRequest,
    RateLimited,
)
from tests.fakes import Fault
from tests.fakes.fixtures import collect, fake_ollama, settings_for  # noqa: F401

REQUEST = ChatRequest(
    model="qwen2.5-coder:7b",
    messages=(Message("system", "Be brief."), Message("user", "Name a prime.")),
    max_tokens=64,
    temperature=0.1,
    num_ctx=8192,
)


@pytest.fixture
async def backend(fake_ollama):
    b = OllamaBackend(
        settings_for(fake_ollama, read_timeout_s=0.3, first_token_timeout_s=0.3, connect_timeout_s=0.5, cold_load_s=0)
    )
    yield b
    await b.aclose()


async def test_streams_text_in_order_then_usage(backend, fake_ollama):
    fake_ollama.answer = "Two is the only even prime."
    fake_ollama.usage = (31, 9)
    text, usage, chunks = await collect(backend.stream(REQUEST))
    assert text == "Two is the only even prime."
    assert len(chunks) > 2  # really streamed, not one blob
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (31, 9)
    assert all(c.usage is None for c in chunks[:-1])


@pytest.mark.parametrize(
    "request_, options, extra",
    [
        (REQUEST, {"num_ctx": 8192, "num_predict": 64, "temperature": 0.1}, {}),
        (
            ChatRequest(model="m", messages=(Message("user", "x"),), stop=("\n\n",), json_schema={"type": "object"}),
            {"num_predict": 512, "temperature": 0.2, "stop": ["\n\n"]},
            {"format": {"type": "object"}},
        ),
    ],
)
async def test_request_body_shape(backend, fake_ollama, request_, options, extra):
    await collect(backend.stream(request_))
    sent = fake_ollama.requests[0]
    assert (sent.method, sent.path) == ("POST", "/api/chat")
    body = sent.json
    assert body["model"] == request_.model
    assert body["messages"] == [{"role": m.role, "content": m.content} for m in request_.messages]
    assert body["stream"] is True and body["keep_alive"] == "30m"
    assert body["options"] == options
    for key, value in extra.items():
        assert body[key] == value
    assert ("format" in body) == (request_.json_schema is not None)
    assert "authorization" not in sent.headers  # a local server never gets a key


async def test_num_ctx_is_the_same_on_every_call(backend, fake_ollama):
    await collect(backend.stream(REQUEST))
    await collect(backend.stream(REQUEST))
    assert [r.json["options"]["num_ctx"] for r in fake_ollama.requests] == [8192, 8192]


async def test_missing_model_says_how_to_pull(backend, fake_ollama):
    fake_ollama.inject("404")
    with pytest.raises(BadRequest, match="ollama pull"):
        await collect(backend.stream(REQUEST))


async def test_retry_after_is_parsed(backend, fake_ollama):
    fake_ollama.inject(Fault("429", retry_after="4"))
    with pytest.raises(RateLimited) as info:
        await collect(backend.stream(REQUEST))
    assert info.value.retry_after == 4.0


async def test_hang_times_out_within_the_read_timeout(backend, fake_ollama):
    fake_ollama.inject("hang")
    start = time.monotonic()
    with pytest.raises(BackendTimeout):
        await collect(backend.stream(REQUEST))
    assert time.monotonic() - start < 2.0


async def test_refused_then_back(backend, fake_ollama):
    fake_ollama.down()
    with pytest.raises(BackendUnavailable) as info:
        await collect(backend.stream(REQUEST))
    assert "OLLAMA_HOST" in info.value.fix and "ollama serve" in info.value.fix
    fake_ollama.up()
    text, _, _ = await collect(backend.stream(REQUEST))
    assert text == fake_ollama.answer


async def test_health_lists_pulled_and_loaded_models(backend, fake_ollama):
    fake_ollama.models = ("qwen2.5-coder:7b", "llama3.3:70b")
    fake_ollama.loaded = ("qwen2.5-coder:7b",)
    health = await backend.health()
    assert health.reachable
    assert health.models == ("qwen2.5-coder:7b", "llama3.3:70b")
    assert health.loaded == ("qwen2.5-coder:7b",)
    assert [r.path for r in fake_ollama.probes] == ["/api/tags", "/api/ps"]


async def test_health_when_down_says_how_to_fix(backend, fake_ollama):
    fake_ollama.down()
    health = await backend.health()
    assert not health.reachable
    assert any("ollama serve" in fix for fix in health.fixes)
