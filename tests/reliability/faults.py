"""The fault matrix: one table that `test_faults.py` runs and `fault_table.py` prints as markdown.

Each row is one way an upstream can misbehave, injected into a real HTTP server on 127.0.0.1
(tests/fakes/upstreams.py) that speaks one backend's wire format. The expected figures are for
the settings the test uses: `dispatch.max_retries = 1`, `retry_after_max_s = 1.0`,
`read_timeout_s = 0.5`. Every row has `max_wait_s`: the request must have fallen back (or failed,
or been answered) within that many seconds, measured around the whole request.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.fakes.upstreams import Fault

__all__ = ["FaultCase", "FAULTS", "BACKENDS", "WIRE", "MAX_RETRIES", "READ_TIMEOUT_S", "RETRY_AFTER_MAX_S", "fix_phrase"]

MAX_RETRIES = 1
READ_TIMEOUT_S = 0.5
RETRY_AFTER_MAX_S = 1.0

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
    max_wait_s: float | None = None  # ... and at most this long (every row sets it: test_every_fault_is_bounded)
    down: bool = False  # refuse connections instead of queueing faults


_PERSISTENT = 4  # a persistent fault: more than the retries could use up
# What a request may take beyond what its fault's mechanism waits (a timeout, a back-off, a drip):
# the other tier's answer and the engine, on a 2-core machine other work shares (measured 0.15-0.75 s
# at a load average of 6.8). Waiting out the 60 s Retry-After is far past it; a retry after a
# timeout shows in the request count.
_SLACK_S = 2.0
_DRIP_TOKENS = 20  # at least the tokens of the tests' answers, each 0.05 s apart

FAULTS: tuple[FaultCase, ...] = (
    FaultCase("connection refused", "`down()`: nothing listens on the port", (), "unavailable", 0,
              "next tier at once", "unavailable", max_wait_s=_SLACK_S, down=True),
    FaultCase("accept, then close", "reads the request, closes without a byte", (Fault("close"),) * _PERSISTENT,
              "unavailable", 1, "next tier at once", "unavailable", max_wait_s=_SLACK_S),
    FaultCase("hang past the timeout", "reads the request, never answers", (Fault("hang"),) * _PERSISTENT,
              "timeout", 1, f"next tier after the {READ_TIMEOUT_S} s read timeout", "raise dispatch.read_timeout_s",
              max_wait_s=READ_TIMEOUT_S + _SLACK_S),
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
    FaultCase("slow drip within the timeout", "a token every 0.05 s", (Fault("drip", delay=0.05),),
              None, 1, "the same backend answers, slower; no fallback", None,
              max_wait_s=_DRIP_TOKENS * 0.05 + _SLACK_S),
)


def fix_phrase(case: FaultCase, backend: str) -> str | None:
    """What the error names as the fix when `backend` fails this way and no tier is left."""
    return _UNAVAILABLE_FIX[backend] if case.fix == "unavailable" else case.fix
