"""A model Ollama has not loaded gets its load time for the first token; a loaded one does not.

Against a real HTTP fake on 127.0.0.1 whose /api/ps lists `loaded`: "late" holds the answer back
for a while (a model loading), "hang" never answers. Limits are tenths of a second, and every
failure is bounded from above.
"""

import asyncio
import time

import pytest

from hybridlsp.backends import ChatRequest, Message, OllamaBackend
from hybridlsp.errors import BackendTimeout, BackendUnavailable
from tests.fakes import Fault
from tests.fakes.fixtures import collect, fake_ollama, settings_for  # noqa: F401

WARM, COLD = "qwen2.5-coder:14b", "llama3.3:70b"


def _request(model: str) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message("user", "Name a prime."),), max_tokens=16)


def _backend(fake, **dispatch) -> OllamaBackend:
    limits = {"connect_timeout_s": 0.5, "first_token_timeout_s": 0.2, "read_timeout_s": 0.2,
              "hop_timeout_s": 2.0, "cold_load_s": 0.6, "loaded_cache_s": 5.0}
    return OllamaBackend(settings_for(fake, **{**limits, **dispatch}))


@pytest.fixture
def ollama(fake_ollama):  # noqa: F811
    fake_ollama.loaded = (WARM,)
    return fake_ollama


@pytest.mark.parametrize(
    "model, fault, answers, within_s",
    [
        pytest.param(COLD, Fault("late", delay=0.4), True, 1.0, id="cold model loading: waited for"),
        pytest.param(WARM, Fault("late", delay=0.4), False, 0.45, id="warm model as slow: a stall"),
        pytest.param(COLD, Fault("hang"), False, 1.1, id="cold model that never answers: load time, then stall"),
        pytest.param(WARM, Fault("hang"), False, 0.45, id="warm model that never answers: first-token limit"),
    ],
)
async def test_first_token_limit_knows_what_is_loaded(ollama, model, fault, answers, within_s):
    ollama.inject(fault)
    backend = _backend(ollama)
    t0 = time.monotonic()
    try:
        if answers:
            text, _, _ = await collect(backend.stream(_request(model)))
            assert text == ollama.answer
        else:
            with pytest.raises(BackendTimeout) as info:
                await collect(backend.stream(_request(model)))
            assert info.value.limit == "first-token"
    finally:
        await backend.aclose()
    elapsed = time.monotonic() - t0
    assert elapsed < within_s, f"{elapsed:.2f} s"
    assert [p.path for p in ollama.probes] == ["/api/ps"]


async def test_ps_answer_is_reused_briefly_then_asked_again(ollama):
    backend = _backend(ollama, loaded_cache_s=0.3)
    try:
        await collect(backend.stream(_request(WARM)))
        await collect(backend.stream(_request(COLD)))
        assert len(ollama.probes) == 1 and ollama.request_count == 2
        await asyncio.sleep(0.35)
        await collect(backend.stream(_request(WARM)))
    finally:
        await backend.aclose()
    assert len(ollama.probes) == 2


async def test_a_model_that_answered_counts_as_loaded(ollama):
    """/api/ps said cold before the first request; the model has loaded since: no allowance."""
    backend = _backend(ollama)
    try:
        await collect(backend.stream(_request(COLD)))  # loads it
        ollama.inject(Fault("late", delay=0.4))
        t0 = time.monotonic()
        with pytest.raises(BackendTimeout):
            await collect(backend.stream(_request(COLD)))
        assert time.monotonic() - t0 < 0.45
    finally:
        await backend.aclose()
    assert len(ollama.probes) == 1


@pytest.mark.parametrize("name", ["llama3.3", "llama3.3:latest"])
async def test_untagged_names_match_latest(ollama, name):
    ollama.loaded = ("llama3.3:latest",)
    ollama.inject(Fault("hang"))
    backend = _backend(ollama)
    t0 = time.monotonic()
    with pytest.raises(BackendTimeout):
        await collect(backend.stream(_request(name)))
    await backend.aclose()
    assert time.monotonic() - t0 < 0.45  # warm: no load time given


async def test_without_ps_every_model_is_given_its_load_time(ollama):
    """A server that speaks /api/chat but answers /api/ps with 404 (a proxy): assume cold."""
    ollama.inject_probe("404")
    ollama.inject(Fault("late", delay=0.4))
    backend = _backend(ollama)
    text, _, _ = await collect(backend.stream(_request(WARM)))
    await backend.aclose()
    assert text == ollama.answer


@pytest.mark.parametrize("probe_fault, error", [("500", "server-error"), ("hang", "timeout")])
async def test_a_ps_that_fails_is_the_hosts_failure(ollama, probe_fault, error):
    """A host whose /api/ps fails or hangs is not sent the chat: the dispatcher hears it at once."""
    ollama.inject_probe(probe_fault)
    backend = _backend(ollama, connect_timeout_s=0.2)
    t0 = time.monotonic()
    with pytest.raises(Exception) as info:
        await collect(backend.stream(_request(WARM)))
    await backend.aclose()
    assert info.value.reason == error and ollama.request_count == 0
    assert time.monotonic() - t0 < 0.5


async def test_refused_ps_is_unavailable_without_a_chat(ollama):
    ollama.down()
    backend = _backend(ollama)
    with pytest.raises(BackendUnavailable):
        await collect(backend.stream(_request(WARM)))
    await backend.aclose()
    assert ollama.request_count == 0


async def test_no_probe_when_cold_load_is_zero(ollama):
    ollama.inject(Fault("hang"))
    backend = _backend(ollama, cold_load_s=0)
    t0 = time.monotonic()
    with pytest.raises(BackendTimeout):
        await collect(backend.stream(_request(COLD)))
    await backend.aclose()
    assert time.monotonic() - t0 < 0.45 and ollama.probes == []
