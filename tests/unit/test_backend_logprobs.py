"""Token log-probabilities from Ollama and OpenAI-compatible servers, each against a real HTTP fake:
asked for only when the request wants them, carried on each text chunk, absent when not sent."""

import math
from dataclasses import replace

import pytest

from hybridlsp.backends import ChatRequest, Message, OllamaBackend, OpenAIBackend
from tests.fakes import FakeOllama, FakeOpenAI
from tests.fakes.fixtures import collect, settings_for

KEY = "sk-test-openai-0123456789abcdef"
REQUEST = ChatRequest(model="model-a", messages=(Message("user", "Name a prime."),), max_tokens=32)


def _ollama(fake):
    return OllamaBackend(settings_for(fake, read_timeout_s=1.0))


def _openai(fake):
    return OpenAIBackend(settings_for(fake, read_timeout_s=1.0), env={"OPENAI_API_KEY": KEY})


@pytest.mark.parametrize("fake_cls,make", [(FakeOllama, _ollama), (FakeOpenAI, _openai)])
async def test_logprobs_are_asked_for_and_carried_per_chunk(fake_cls, make):
    with fake_cls(answer="Seven is prime.", token_logprob=math.log(0.5)) as fake:
        backend = make(fake)
        try:
            text, _, chunks = await collect(backend.stream(replace(REQUEST, logprobs=True)))
            plain_text, _, plain = await collect(backend.stream(REQUEST))
        finally:
            await backend.aclose()
    assert text == plain_text == "Seven is prime."
    assert fake.requests[0].json["logprobs"] is True
    assert "logprobs" not in fake.requests[1].json  # never asked for unless wanted
    lps = [lp for c in chunks for lp in c.logprobs]
    assert len(lps) == len([c for c in chunks if c.text]) == 3
    assert all(lp == pytest.approx(math.log(0.5)) for lp in lps)
    assert all(c.logprobs == () for c in plain)


@pytest.mark.parametrize("fake_cls,make", [(FakeOllama, _ollama), (FakeOpenAI, _openai)])
async def test_a_server_without_logprobs_gives_none(fake_cls, make):
    with fake_cls(answer="Seven.") as fake:  # an older server: ignores the field
        backend = make(fake)
        try:
            text, _, chunks = await collect(backend.stream(replace(REQUEST, logprobs=True)))
        finally:
            await backend.aclose()
    assert text == "Seven." and all(c.logprobs == () for c in chunks)
