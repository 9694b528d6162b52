"""Ollama backend against a real HTTP fake on 127.0.0.1.
What every backend does the same way (streaming, fault classes, Retry-After, closing the upstream):
test_backend_contract.py."""

import asyncio
import json
import time

import pytest

from hybridlsp.backends import ChatRequest, Message
from hybridlsp.backends.ollama import OllamaBackend
from hybridlsp.config import settings_from_mapping
from hybridlsp.errors import BackendTimeout, BackendUnavailable, BadRequest
from tests.fakes.fixtures import collect, fake_ollama  # noqa: F401

from .backend_cases import BY_NAME, backend_fixture

REQUEST = BY_NAME["ollama"].request
backend = backend_fixture("ollama")


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
    assert health.contexts == (("qwen2.5-coder:7b", 8192),)
    assert [r.path for r in fake_ollama.probes] == ["/api/tags", "/api/ps"]


async def test_health_when_down_says_how_to_fix(backend, fake_ollama):
    fake_ollama.down()
    health = await backend.health()
    assert not health.reachable
    assert any("ollama serve" in fix for fix in health.fixes)


# ---- reasoning: `think` per request and model, thinking kept out of the answer -----------------

THINKER = "qwen3:8b"


def ask(model: str, think: bool, max_tokens: int = 160) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message("user", "Write a commit message."),),
                       max_tokens=max_tokens, think=think)


async def test_thinking_is_turned_off_unless_asked_for(backend, fake_ollama):
    # current Ollama thinks by default with a thinking model: a commit message's budget went on it
    fake_ollama.models, fake_ollama.thinking_models = (THINKER,), (THINKER,)
    fake_ollama.thinking, fake_ollama.answer = "The user wants a commit message. " * 5, "fix: typo"
    text, _, chunks = await collect(backend.stream(ask(THINKER, think=False)))
    sent = fake_ollama.requests[-1].json
    assert sent["think"] is False
    assert text == "fix: typo" and not any(c.thinking for c in chunks)
    assert [r.path for r in fake_ollama.requests] == ["/api/chat"]
    assert not [r for r in fake_ollama.probes if r.path == "/api/show"]  # no capability look-up for "off"


async def test_thinking_on_where_the_model_can(backend, fake_ollama):
    fake_ollama.models, fake_ollama.thinking_models = (THINKER,), (THINKER,)
    fake_ollama.thinking, fake_ollama.answer = "Compare both designs first.", "Use the queue."
    text, _, chunks = await collect(backend.stream(ask(THINKER, think=True)))
    assert fake_ollama.requests[-1].json["think"] is True
    assert text == "Use the queue."  # thinking never in the answer
    assert "".join(c.thinking for c in chunks) == "Compare both designs first."
    await collect(backend.stream(ask(THINKER, think=True)))
    assert [r.path for r in fake_ollama.requests] == ["/api/chat", "/api/chat"]
    assert [r.path for r in fake_ollama.probes if r.path == "/api/show"] == ["/api/show"]  # asked once


async def test_thinking_is_not_asked_of_a_model_that_cannot(backend, fake_ollama):
    # Ollama answers HTTP 400 "does not support thinking" to think=true for such a model
    fake_ollama.models, fake_ollama.thinking_models = ("qwen2.5-coder:7b",), ()
    text, _, _ = await collect(backend.stream(ask("qwen2.5-coder:7b", think=True)))
    assert text == fake_ollama.answer
    assert "think" not in fake_ollama.requests[-1].json


@pytest.mark.parametrize("think, level", [(False, "low"), (True, "medium")])
async def test_gpt_oss_takes_a_level_because_it_cannot_stop_thinking(backend, fake_ollama, think, level):
    fake_ollama.models, fake_ollama.thinking = ("gpt-oss:20b",), "Reasoning at some length."
    text, _, chunks = await collect(backend.stream(ask("gpt-oss:20b", think=think)))
    assert fake_ollama.requests[-1].json["think"] == level
    assert text == fake_ollama.answer and "".join(c.thinking for c in chunks)


async def test_think_blocks_in_the_content_are_stripped_across_lines(backend, fake_ollama):
    # a model whose thinking Ollama does not parse writes it inline; the tags arrive cut in pieces
    fake_ollama.answer = "<think> The diff renames a helper. </think>\n\nrefactor: rename helper"
    text, _, chunks = await collect(backend.stream(REQUEST))
    assert text == "refactor: rename helper"
    assert "renames a helper" in "".join(c.thinking for c in chunks)
    assert len([c for c in chunks if c.text]) > 1  # still streamed


@pytest.mark.parametrize("done_reason, finish", [("length", "length"), ("stop", "stop")])
async def test_done_reason_says_whether_the_answer_was_cut(backend, fake_ollama, done_reason, finish):
    fake_ollama.finish = done_reason
    _, usage, chunks = await collect(backend.stream(REQUEST))
    assert chunks[-1].finish == finish and chunks[-1].usage == usage



async def test_a_finished_stream_leaves_its_connection_for_the_next_request():
    """An upstream that keeps connections alive (as Ollama does) sees one connection for two
    requests: the stream is read to its end after the final `done` line."""
    connections = 0
    lines = [{"message": {"content": "Two"}, "done": False},
             {"message": {"content": ""}, "done": True, "prompt_eval_count": 3, "eval_count": 1}]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (json.dumps(x).encode() + b"\n" for x in lines))
    body += b"0\r\n\r\n"

    async def handle(reader, writer):
        nonlocal connections
        connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path = head.split(b" ")[:2]
                sizes = [int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")]
                await reader.readexactly(sizes[0] if sizes else 0)
                if path == b"/api/chat":
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n"
                                 b"transfer-encoding: chunked\r\n\r\n" + body)
                else:  # the probes before a chat (/api/ps, /api/show): a small JSON answer
                    answer = b'{"models": []}' if method == b"GET" else b"{}"
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                 b"content-length: %d\r\n\r\n%s" % (len(answer), answer))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    backend = OllamaBackend(settings_from_mapping({"backends": {"ollama": {"host": f"http://127.0.0.1:{port}"}}}))
    try:
        for _ in range(2):
            text, usage, _ = await collect(backend.stream(REQUEST))
            assert text == "Two" and usage.output_tokens == 1
    finally:
        await backend.aclose()
        server.close()
        await server.wait_closed()
    assert connections == 1
