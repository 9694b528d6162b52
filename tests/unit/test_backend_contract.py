"""What every HTTP backend (Ollama, OpenAI-compatible, Anthropic) does the same way, each against a
real HTTP fake on 127.0.0.1: each fault maps to one error class with no retry and no key in it, and
closing or cancelling a stream drops the upstream connection at once."""

import asyncio
import time
from dataclasses import dataclass
from typing import Callable

import pytest

from hybridlsp.backends import AnthropicBackend, ChatRequest, Message, OllamaBackend, OpenAIBackend
from hybridlsp.errors import (
    AuthError,
    BackendTimeout,
    BackendUnavailable,
    BadRequest,
    ContextLengthExceeded,
    RateLimited,
    ServerError,
    StreamBroken,
)
from tests.fakes import Fault
from tests.fakes.fixtures import collect, fake_anthropic, fake_ollama, fake_openai, settings_for  # noqa: F401


@dataclass(frozen=True)
class Case:
    name: str  # the backend's name; its fake upstream is the fixture `fake_<name>`
    make: Callable  # (fake) -> backend
    request: ChatRequest
    key: str | None  # the API key it sends, if any
    faults: list[tuple[str, type]]  # (fault the fake injects, error class the backend raises)


OPENAI_KEY = "sk-test-openai-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-api03-test-0123456789abcdef"
MESSAGES = (Message("system", "Be brief."), Message("user", "Name a prime."))

CASES = [
    Case(
        "ollama",
        lambda fake: OllamaBackend(
            settings_for(fake, read_timeout_s=0.3, first_token_timeout_s=0.3, connect_timeout_s=0.5, cold_load_s=0)
        ),
        ChatRequest(model="qwen2.5-coder:7b", messages=MESSAGES, max_tokens=64, temperature=0.1, num_ctx=8192),
        None,
        [
            ("close", BackendUnavailable),
            ("hang", BackendTimeout),
            ("429", RateLimited),
            ("500", ServerError),
            ("503", ServerError),
            ("400-context", ContextLengthExceeded),
            ("404", BadRequest),
            ("cut", StreamBroken),
            ("malformed", StreamBroken),
            ("stream-error", ServerError),
        ],
    ),
    Case(
        "openai",
        lambda fake: OpenAIBackend(settings_for(fake, read_timeout_s=0.3, first_token_timeout_s=0.3), env={"OPENAI_API_KEY": OPENAI_KEY}),
        ChatRequest(model="gpt-4.1-mini", messages=MESSAGES, max_tokens=64, temperature=0.1),
        OPENAI_KEY,
        [
            ("close", BackendUnavailable),
            ("hang", BackendTimeout),
            ("429", RateLimited),
            ("500", ServerError),
            ("400-context", ContextLengthExceeded),
            ("401", AuthError),
            ("403", AuthError),
            ("404", BadRequest),
            ("cut", StreamBroken),
            ("malformed", StreamBroken),
            ("stream-error", ServerError),
        ],
    ),
    Case(
        "anthropic",
        lambda fake: AnthropicBackend(
            settings_for(fake, read_timeout_s=0.3, first_token_timeout_s=0.3), env={"ANTHROPIC_API_KEY": ANTHROPIC_KEY}
        ),
        ChatRequest(model="claude-sonnet-4-5", messages=MESSAGES, max_tokens=64, temperature=0.1),
        ANTHROPIC_KEY,
        [
            ("close", BackendUnavailable),
            ("hang", BackendTimeout),
            ("429", RateLimited),
            ("500", ServerError),
            ("529", ServerError),
            ("400-context", ContextLengthExceeded),
            ("401", AuthError),
            ("404", BadRequest),
            ("cut", StreamBroken),
            ("malformed", StreamBroken),
            ("stream-error", ServerError),
        ],
    ),
]
IDS = [case.name for case in CASES]


@pytest.fixture
async def upstream(request):
    """(case, its backend, its fake upstream) for the case in `request.param`."""
    case = request.param
    fake = request.getfixturevalue(f"fake_{case.name}")
    backend = case.make(fake)
    yield case, backend, fake
    await backend.aclose()


@pytest.mark.parametrize(
    "upstream, fault, error",
    [
        pytest.param(case, fault, error, id=f"{case.name}-{fault}")
        for case in CASES
        for fault, error in case.faults
    ],
    indirect=["upstream"],
)
async def test_fault_maps_to_error_class(upstream, fault, error):
    case, backend, fake = upstream
    fake.answer = "one two three four five six"
    fake.inject(fault)
    with pytest.raises(error) as info:
        await collect(backend.stream(case.request))
    assert type(info.value) is error
    assert info.value.backend == case.name and info.value.fix
    if case.key is not None:
        assert case.key not in str(info.value)
    assert fake.request_count == 1  # the backend never retries on its own


@pytest.mark.parametrize("upstream", CASES, ids=IDS, indirect=True)
async def test_aclose_closes_upstream_within_50ms(upstream):
    case, backend, fake = upstream
    fake.answer = "tok " * 200
    fake.inject(Fault("drip", delay=0.02))
    stream = backend.stream(case.request)
    await stream.__anext__()
    closed_at = time.monotonic()
    await stream.aclose()
    assert await fake.wait_disconnected(1.0)
    assert fake.disconnected_at - closed_at < 0.05


@pytest.mark.parametrize("upstream", CASES, ids=IDS, indirect=True)
async def test_cancelled_task_closes_upstream_within_50ms(upstream):
    case, backend, fake = upstream
    fake.answer = "tok " * 200
    fake.inject(Fault("drip", delay=0.02))
    first = asyncio.Event()

    async def consume():
        async for _ in backend.stream(case.request):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2.0)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await fake.wait_disconnected(1.0)
    assert fake.disconnected_at - cancelled_at < 0.05
