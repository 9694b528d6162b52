"""What every HTTP backend (Ollama, OpenAI-compatible, Anthropic) does the same way, each against a
real HTTP fake on 127.0.0.1: it streams the answer in order with the usage last, each fault maps to
one error class with no retry and no key in it, Retry-After is read, and closing or cancelling a
stream drops the upstream connection at once. And what the cloud backends do the same way with
their key: a missing one is asked for before anything is sent, a wrong one is never echoed, and
health lists the models with the key sent."""

import asyncio
import time

import pytest

from hybridlsp.errors import AuthError, MissingCredentials, RateLimited
from tests.fakes import Fault
from tests.fakes.fixtures import collect, fake_anthropic, fake_ollama, fake_openai  # noqa: F401

from .backend_cases import BY_NAME, CASES, CLOUD, fake_for

IDS = [case.name for case in CASES]
CLOUD_IDS = [case.name for case in CLOUD]


@pytest.fixture
async def upstream(request):
    """(case, its backend, its fake upstream) for the case in `request.param`."""
    case = request.param
    fake = fake_for(request, case)
    backend = case.backend(fake)
    yield case, backend, fake
    await backend.aclose()


@pytest.mark.parametrize("upstream", CASES, ids=IDS, indirect=True)
async def test_streams_text_in_order_then_usage(upstream):
    case, backend, fake = upstream
    fake.answer = "Two is the only even prime."
    fake.usage = (31, 9)
    text, usage, chunks = await collect(backend.stream(case.request))
    assert text == "Two is the only even prime."
    assert len(chunks) > 2  # really streamed, not one blob
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (31, 9)
    assert all(c.usage is None for c in chunks[:-1])


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
    # billed or not: only a failure after the upstream accepted the request (HTTP 2xx) costs money
    assert info.value.answer_began is (fault in ("cut", "malformed", "stream-error"))


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


@pytest.mark.parametrize("retry_after, seconds", [("4", 4.0), ("0.5", 0.5), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)])
@pytest.mark.parametrize("upstream", CASES, ids=IDS, indirect=True)
async def test_retry_after_is_parsed(upstream, retry_after, seconds):
    case, backend, fake = upstream
    fake.inject(Fault("429", retry_after=retry_after))
    with pytest.raises(RateLimited) as info:
        await collect(backend.stream(case.request))
    assert info.value.retry_after == seconds  # a date in the past means "now"


# ---- the cloud backends' keys ----------------------------------------------------------------------

MISSING = [
    pytest.param(case, env, id=f"{case.name}-{what}")
    for case in CLOUD
    for what, env in [
        ("unset", {}),
        ("empty", {case.key_env: ""}),
        ("blank", {case.key_env: "   "}),
        ("only-another-backends", {other.key_env: other.key for other in CLOUD if other is not case}),
    ]
]


@pytest.mark.parametrize("case, env", MISSING)
async def test_missing_key_says_how_to_fix_and_sends_nothing(request, case, env):
    fake = fake_for(request, case)
    backend = case.backend(fake, env)
    with pytest.raises(MissingCredentials) as info:
        await collect(backend.stream(case.request))
    await backend.aclose()
    assert f"set {case.key_env}" in info.value.fix
    assert fake.request_count == 0


@pytest.mark.parametrize("case, wrong, upstream_says", [
    pytest.param(BY_NAME["openai"], "sk-wrong-key-ABCDEFGHIJKLMNOP", "Incorrect API key", id="openai"),
    pytest.param(BY_NAME["anthropic"], "sk-ant-wrong-ABCDEFGHIJKLMNOP", "invalid x-api-key", id="anthropic"),
])
async def test_wrong_key_gets_auth_error_without_the_key(request, case, wrong, upstream_says):
    fake = fake_for(request, case)
    fake.expected_key = case.key  # the OpenAI fake echoes the wrong key, as the real API does
    backend = case.backend(fake, {case.key_env: wrong})
    with pytest.raises(AuthError) as info:
        await collect(backend.stream(case.request))
    await backend.aclose()
    assert upstream_says in str(info.value)  # the upstream's words are kept ...
    assert wrong not in str(info.value) and "ABCDEFGH" not in str(info.value)  # ... its echo of the key is not
    assert case.key_env in info.value.fix


@pytest.mark.parametrize("upstream", CLOUD, ids=CLOUD_IDS, indirect=True)
async def test_health_lists_models_and_sends_the_key(upstream):
    case, backend, fake = upstream
    fake.models = (case.request.model, "model-b")
    health = await backend.health()
    assert health.reachable and health.models == (case.request.model, "model-b")
    sent = fake.probes[0]  # a GET route: not a model call
    header, value = case.key_header
    assert (sent.method, sent.path, sent.headers[header]) == ("GET", "/v1/models", value)
