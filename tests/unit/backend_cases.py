"""The HTTP backends (Ollama, OpenAI-compatible, Anthropic) as a table of cases, for their tests:
how each is made against its fake upstream on 127.0.0.1, the request it is sent, its key and how it
sends it, and the error class each fault maps to. `backend_fixture(name)` makes a test module's
`backend` fixture: that backend, pointed at the fake of the fixture `fake_<name>`."""

from __future__ import annotations

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
from tests.fakes.fixtures import settings_for

__all__ = ["BY_NAME", "CASES", "CLOUD", "Case", "backend_fixture", "fake_for"]


@dataclass(frozen=True)
class Case:
    name: str  # the backend's name; its fake upstream is the fixture `fake_<name>`
    make: Callable  # (fake, env) -> backend, reading its key from `env`
    request: ChatRequest
    key: str | None  # the API key it sends, if any
    faults: list[tuple[str, type]]  # (fault the fake injects, error class the backend raises)
    key_env: str = ""  # the variable it reads its key from; "": it needs none
    key_header: tuple[str, str] = ("", "")  # (header, value): how it sends its key

    def backend(self, fake, env: dict[str, str] | None = None):
        """Its backend pointed at `fake`, its key read from `env` (by default its own key is set)."""
        return self.make(fake, {self.key_env: self.key} if env is None and self.key_env else env or {})


OPENAI_KEY = "sk-test-openai-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-api03-test-0123456789abcdef"
MESSAGES = (Message("system", "Be brief."), Message("user", "Name a prime."))

CASES = [
    Case(
        "ollama",
        lambda fake, env: OllamaBackend(
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
        lambda fake, env: OpenAIBackend(settings_for(fake, read_timeout_s=0.3, first_token_timeout_s=0.3), env=env),
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
        "OPENAI_API_KEY",
        ("authorization", f"Bearer {OPENAI_KEY}"),
    ),
    Case(
        "anthropic",
        lambda fake, env: AnthropicBackend(settings_for(fake, read_timeout_s=0.3, first_token_timeout_s=0.3), env=env),
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
        "ANTHROPIC_API_KEY",
        ("x-api-key", ANTHROPIC_KEY),
    ),
]
CLOUD = [case for case in CASES if case.key_env]  # the backends that need a key
BY_NAME = {case.name: case for case in CASES}


def fake_for(request, case: Case):
    """The fake upstream of `case`: its fixture `fake_<name>`."""
    return request.getfixturevalue(f"fake_{case.name}")


def backend_fixture(name: str):
    """A `backend` fixture: the backend of case `name` pointed at its fake, with its own key, closed after."""

    @pytest.fixture
    async def backend(request):
        b = BY_NAME[name].backend(fake_for(request, BY_NAME[name]))
        yield b
        await b.aclose()

    return backend
