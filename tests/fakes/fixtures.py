"""Pytest fixtures for the fake upstreams, and settings that point backends at them.

from tests.fakes.fixtures import fake_ollama, settings_for  # noqa: F401

async def test_x(fake_ollama):
    backend = OllamaBackend(settings_for(fake_ollama, read_timeout_s=0.5))
"""

from __future__ import annotations

from typing import AsyncIterator, Iterator

import pytest

from hybridlsp.backends.base import Chunk, Usage
from hybridlsp.config import Settings, settings_from_mapping

from .upstreams import FakeAnthropic, FakeOllama, FakeOpenAI, FakeUpstream

__all__ = ["fake_ollama", "fake_openai", "fake_anthropic", "settings_for", "collect"]


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
