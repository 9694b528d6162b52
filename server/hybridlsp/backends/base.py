"""The one small interface every backend implements, and the value types it speaks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AsyncIterator, Protocol, runtime_checkable

__all__ = ["Message", "ChatRequest", "Usage", "Chunk", "Health", "Backend"]


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    max_tokens: int = 512
    temperature: float = 0.2
    json_schema: dict | None = None  # structured output where the backend supports it
    grammar: str | None = None  # GBNF the output must follow (the embedded backend); others ignore it
    num_ctx: int | None = None  # Ollama: keep stable per model so it never reloads
    stop: tuple[str, ...] = ()
    logprobs: bool = False  # ask for each answer token's log-probability, where the backend gives them
    # how many leading messages are the action's own fixed text (instructions, examples): the
    # embedded backend keeps the model's state after reading them on disk, for the next process
    fixed_messages: int = 0


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Chunk:
    """A piece of a streamed answer. The last chunk of a stream may carry `usage` and no text."""

    text: str = ""
    usage: Usage | None = None
    logprobs: tuple[float, ...] = ()  # natural-log probability of each token of `text`, when asked and given


@dataclass(frozen=True)
class Health:
    reachable: bool
    detail: str = ""
    models: tuple[str, ...] = ()  # pulled / available
    loaded: tuple[str, ...] = ()  # loaded in memory now (Ollama /api/ps)
    fixes: tuple[str, ...] = field(default=())


@runtime_checkable
class Backend(Protocol):
    name: str  # "ollama", "openai", "anthropic", "embedded"; where it sends prompts: `location`

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """Yield chunks; raise a `hybridlsp.errors.BackendError` subclass on failure.
        Closing the iterator (or cancelling the task) closes the upstream connection / stops generation."""
        ...

    async def health(self) -> Health: ...

    async def aclose(self) -> None: ...
