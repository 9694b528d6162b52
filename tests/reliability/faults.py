"""The fault matrix: one table that `test_faults.py` runs and `fault_table.py` prints as markdown.

Each row is one way an upstream can misbehave, injected into a real HTTP server on 127.0.0.1
(tests/fakes/upstreams.py) that speaks one backend's wire format. The expected figures are for
the settings the test uses (`SETTINGS`). Every row has `max_wait_s` (test_every_fault_is_bounded):
the request must have fallen back, failed or been answered within that many seconds, measured
around the whole request; for a limit row it is the limit plus `_SLACK_S`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.fakes.upstreams import Fault

__all__ = ["FaultCase", "FAULTS", "BACKENDS", "WIRE", "SETTINGS", "MAX_RETRIES", "RETRY_AFTER_MAX_S", "fix_phrase"]

MAX_RETRIES = 1
RETRY_AFTER_MAX_S = 1.0
CONNECT_S = 0.3
FIRST_TOKEN_S = 0.5
SILENCE_S = 0.4
HOP_S = 1.5
SETTINGS = {
    "max_retries": MAX_RETRIES,
    "retry_after_max_s": RETRY_AFTER_MAX_S,
    "connect_timeout_s": CONNECT_S,
    "first_token_timeout_s": FIRST_TOKEN_S,
    "read_timeout_s": SILENCE_S,
    "hop_timeout_s": HOP_S,
}
# What a request may take beyond the limit that ends it: the other tier's answer, and a loaded CPU.
_SLACK_S = 0.7
_DRIP_TOKENS = 20  # at least the tokens of the tests' answers

BACKENDS = ("ollama", "openai", "anthropic")
WIRE = {"ollama": "Ollama (NDJSON)", "openai": "OpenAI (SSE)", "anthropic": "Anthropic (SSE)"}

# What a "cannot reach it" error tells the user to do, per backend.
_UNAVAILABLE_FIX = {
    "ollama": "start Ollama (`ollama serve`) or set OLLAMA_HOST",
    "openai": "check the network, or backends.openai.base_url",
    "anthropic": "check the network, or backends.anthropic.base_url",
}


@dataclass(frozen=True)
class FaultCase:
    name: str  # the row's label
    how: str  # how the fake produces it
    faults: tuple[Fault, ...]  # queued on the faulty server ("down" is handled apart)
    reason: str | None  # the fallback reason the ledger records; None: no fallback
    requests: int  # requests the faulty server receives, exactly
    behaviour: str  # what the user gets when another tier is left
    fix: str | None  # the phrase the error carries when no tier is left; "unavailable" = per backend
    min_wait_s: float = 0.0  # the request must take at least this long (a Retry-After honoured)
    max_wait_s: float | None = None  # ... and at most this long (a limit held)
    down: bool = False  # refuse connections instead of queueing faults
    unaccepted: bool = False  # point the backend at an address whose connections are never accepted


_PERSISTENT = 4  # a persistent fault: more than the retries could use up

FAULTS: tuple[FaultCase, ...] = (
    FaultCase("connection refused", "`down()`: nothing listens on the port", (), "unavailable", 0,
              "next tier at once", "unavailable", max_wait_s=_SLACK_S, down=True),
    FaultCase("accept, then close", "reads the request, closes without a byte", (Fault("close"),) * _PERSISTENT,
              "unavailable", 1, "next tier at once", "unavailable", max_wait_s=_SLACK_S),
    FaultCase("connect never accepted", "a full listen queue: the SYN is dropped", (), "timeout", 0,
              f"next tier after the {CONNECT_S} s connect limit", "raise dispatch.connect_timeout_s",
              max_wait_s=CONNECT_S + _SLACK_S, unaccepted=True),
    FaultCase("no first token", "reads the request, never answers", (Fault("hang"),) * _PERSISTENT,
              "timeout", 1, f"next tier after the {FIRST_TOKEN_S} s first-token limit",
              "raise dispatch.first_token_timeout_s", max_wait_s=FIRST_TOKEN_S + _SLACK_S),
    FaultCase("silent half-way", "200, half the tokens, then silence, connection open", (Fault("stall"),) * _PERSISTENT,
              "timeout", 1, f"partial text discarded (on_reset), next tier after the {SILENCE_S} s silence limit",
              "raise dispatch.read_timeout_s", max_wait_s=SILENCE_S + _SLACK_S),
    FaultCase("drip past the hop total", "a token every 0.2 s, each within the silence limit",
              (Fault("drip", delay=0.2),) * _PERSISTENT, "timeout", 1,
              f"partial text discarded (on_reset), next tier after the {HOP_S} s hop limit",
              "raise dispatch.hop_timeout_s", max_wait_s=HOP_S + _SLACK_S),
    FaultCase("429, Retry-After 0.2 s", "HTTP 429 with `Retry-After: 0.2`",
              (Fault("429", retry_after="0.2"),) * _PERSISTENT, "rate-limited", 1 + MAX_RETRIES,
              "waits 0.2 s, retries once, then next tier", "wait and try again", min_wait_s=0.2,
              max_wait_s=0.2 + _SLACK_S),
    FaultCase("429, Retry-After 60 s", "HTTP 429 with `Retry-After: 60`",
              (Fault("429", retry_after="60"),) * _PERSISTENT, "rate-limited", 1,
              f"next tier at once (60 s > retry_after_max_s {RETRY_AFTER_MAX_S} s)", "wait and try again",
              max_wait_s=_SLACK_S),
    FaultCase("500", "HTTP 500", (Fault("500"),) * _PERSISTENT, "server-error", 1 + MAX_RETRIES,
              "retries once after 0.25 s, then next tier", "the upstream failed; try again later", min_wait_s=0.25,
              max_wait_s=0.25 + _SLACK_S),
    FaultCase("400 context length", "HTTP 400 in the format's context-length wording",
              (Fault("400-context"),) * _PERSISTENT, "context-length", 1, "next tier at once (no retry)",
              "send less context, or use a model with a larger window", max_wait_s=_SLACK_S),
    FaultCase("stream cut half-way", "200, half the tokens, then a reset", (Fault("cut"),) * _PERSISTENT,
              "stream-broken", 1, "partial text discarded (on_reset), next tier",
              "the stream was cut or garbled; try again", max_wait_s=_SLACK_S),
    FaultCase("malformed NDJSON/SSE", "200, half the tokens, then a garbage line", (Fault("malformed"),) * _PERSISTENT,
              "stream-broken", 1, "partial text discarded (on_reset), next tier",
              "the stream was cut or garbled; try again", max_wait_s=_SLACK_S),
    FaultCase("in-stream error event", "200, half the tokens, then the format's error event",
              (Fault("stream-error"),) * _PERSISTENT, "server-error", 1,
              "no retry after text has streamed; next tier", "try again later", max_wait_s=_SLACK_S),
    FaultCase("slow drip within the limits", "a token every 0.03 s", (Fault("drip", delay=0.03),),
              None, 1, "the same backend answers, slower; no fallback", None,
              max_wait_s=_DRIP_TOKENS * 0.03 + _SLACK_S),
)


def fix_phrase(case: FaultCase, backend: str) -> str | None:
    """What the error names as the fix when `backend` fails this way and no tier is left."""
    return _UNAVAILABLE_FIX[backend] if case.fix == "unavailable" else case.fix
