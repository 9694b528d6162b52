"""Pytest fixtures for the fake upstreams, and settings that point backends at them.

from tests.fakes.fixtures import fake_ollama, settings_for  # noqa: F401

async def test_x(fake_ollama):
    backend = OllamaBackend(settings_for(fake_ollama, read_timeout_s=0.5))
"""

from __future__ import annotations

from typing import AsyncIterator, Iterator

import httpx
import pytest

from hybridlsp.backends.base import Chunk, Usage
from hybridlsp.config import Settings, settings_from_mapping

from .upstreams import FakeAnthropic, FakeOllama, FakeOpenAI, FakeUpstream

__all__ = ["fake_ollama", "fake_openai", "fake_anthropic", "settings_for", "collect", "sse_transport"]


def settings_for(*fakes: FakeUpstream, **dispatch: float) -> Settings:
    """Default settings with each fake's backend pointed at it; `dispatch` overrides timeouts etc."""
    where = {"ollama": "host", "openai": "base_url", "anthropic": "base_url"}
    backends = {f.backend: {where[f.backend]: f.base_url} for f in fakes}
    return settings_from_mapping({"backends": backends, "dispatch": dispatch})


async def collect(stream: AsyncIterator[Chunk]) -> tuple[str, Usage | None, list[Chunk]]:
    """Drain a backend stream: (text joined in order, usage of the last chunk, every chunk)."""
    chunks = [c async for c in stream]
    usage = chunks[-1].usage if chunks else None
    return "".join(c.text for c in chunks), usage, chunks


def sse_transport(body: str, seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    """A transport that answers every request with `body` as a server-sent event stream, keeping
    each request in `seen`: for a real host (never contacted) or events no fake sends."""

    def answer(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    return httpx.MockTransport(answer)


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        yield fake


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake
