"""The one small interface every backend implements, and the value types it speaks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AsyncIterator, Protocol, runtime_checkable

__all__ = ["Message", "ChatRequest", "Usage", "Chunk", "Health", "Backend", "FINISH_STOP", "FINISH_LENGTH",
           "FINISH_REFUSAL", "FINISH_FILTERED"]

# Why an answer ended, the same words for every wire format (the last chunk's `finish`).
FINISH_STOP = "stop"  # the model finished (or hit a stop sequence)
FINISH_LENGTH = "length"  # cut off by the output budget: the answer is not whole
FINISH_REFUSAL = "refusal"  # the model declined; `Chunk.detail` has its words
FINISH_FILTERED = "content-filter"  # the provider withheld (part of) the answer


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
    # Reasoning before the answer: False asks the model not to think (or to think as little as it
    # can), True lets a model that can think do so. Thinking is never part of the answer text.
    think: bool = False
    logprobs: bool = False  # ask for each answer token's log-probability, where the backend gives them
    # how many leading messages are the action's own fixed text (instructions, examples): the
    # embedded backend keeps the model's state after reading them on disk, for the next process
    fixed_messages: int = 0


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int  # everything generated and billed, thinking included
    thinking_tokens: int = 0  # the part of output_tokens spent thinking, where the upstream says it


@dataclass(frozen=True)
class Chunk:
    """A piece of a streamed answer. The last chunk of a stream carries `finish` (and `usage`
    where the upstream reports it) and no text."""

    text: str = ""
    usage: Usage | None = None
    thinking: str = ""  # reasoning the model showed; kept out of `text`
    finish: str = ""  # on the last chunk: FINISH_STOP, FINISH_LENGTH, FINISH_REFUSAL, FINISH_FILTERED
    detail: str = ""  # with FINISH_REFUSAL: what the model said instead of answering
    # natural-log probability of each token of `text`, when asked and given; thinking's are left out
    logprobs: tuple[float, ...] = ()


@dataclass(frozen=True)
class Health:
    reachable: bool
    detail: str = ""
    models: tuple[str, ...] = ()  # pulled / available
    loaded: tuple[str, ...] = ()  # loaded in memory now (Ollama /api/ps)
    fixes: tuple[str, ...] = field(default=())
    contexts: tuple[tuple[str, int], ...] = ()  # (loaded model, the context window it was loaded with)


@runtime_checkable
class Backend(Protocol):
    name: str  # the instance's name: "ollama", "openai", "anthropic", "embedded", or a user's
    # where it sends prompts: `location.is_cloud`

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """Yield chunks; raise a `hybridlsp.errors.BackendError` subclass on failure.
        Closing the iterator (or cancelling the task) closes the upstream connection / stops generation."""
        ...

    async def will_think(self, request: ChatRequest) -> bool:
        """Whether the model will reason before answering this request (so the output budget must
        leave room for it): `request.think` where the model can, always for one that cannot stop."""
        ...

    async def health(self) -> Health: ...

    async def aclose(self) -> None: ...
