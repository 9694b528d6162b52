"""What the ledger hands back: plain rows that reports and exports read without touching SQLite."""

from __future__ import annotations

from dataclasses import dataclass

from ..backends.location import is_local

__all__ = ["OUTCOMES", "VERDICTS", "VALIDATOR_VERDICTS", "LOCATIONS", "CONDENSE", "Row", "RequestRecord", "HopRecord",
           "Feedback", "size_bucket", "is_fallback"]

# ok: the first attempt answered; fallback: a later hop answered; error: no hop answered
OUTCOMES = ("ok", "fallback", "error", "cancelled", "cache-hit")
VERDICTS = ("good", "bad")
VALIDATOR_VERDICTS = ("", "pass", "fail")  # "" = the action has no validator or it did not run
LOCATIONS = ("local", "cloud")  # where the attempt's prompt went, as backends.registry.is_cloud said

# The reason of a hop that summarized part of a too-big context for the request (no fallback).
CONDENSE = "condense"

# Upper bounds in input tokens; coarse on purpose so a bucket says little about the text.
_BUCKETS = ((500, "xs"), (2000, "s"), (8000, "m"), (32000, "l"))


def size_bucket(input_tokens: int) -> str:
    for bound, name in _BUCKETS:
        if input_tokens < bound:
            return name
    return "xl"


@dataclass(frozen=True)
class RequestRecord:
    """What `Ledger.record_request` writes for a request's last attempt. `cost_usd` is that
    attempt's cost only (earlier attempts are hops); None means no known price. For a cache hit,
    `saved_usd` is what the answer cost when it was first produced. `path`/`workspace` are stored
    hashed; `request_id` None gets a new id. `signal`: the answer signal that doubted the answer
    that stood, when no bigger tier did better (actions/signals.py)."""

    action: str
    tier: int
    backend: str
    model: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    cost_usd: float | None
    baseline_cost_usd: float | None
    outcome: str = "ok"
    request_id: str | None = None
    ttft_ms: float | None = None
    tokens_counted: bool = False
    reason: str = ""
    validator: str = ""
    saved_usd: float = 0.0
    path: str = ""
    workspace: str = ""
    location: str = ""  # "local" | "cloud" (backends.location.is_cloud); "" = by the backend's name
    signal: str = ""
    redacted: int = 0  # secret values replaced by placeholders before it left; never which


@dataclass(frozen=True)
class HopRecord:
    """What `Ledger.record_hop` writes for an earlier attempt of request `parent_id` that fell
    back: `reason` is the error's tag (`CONDENSE` for a call that summarized the request's
    context), `signal` for reason "low-confidence" the answer signal that said so. `cost_usd`
    None means no known price; a refused connection costs 0."""

    parent_id: str
    action: str
    tier: int
    backend: str
    model: str
    reason: str
    cost_usd: float | None = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_counted: bool = False
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    location: str = ""  # "local" | "cloud" (backends.location.is_cloud); "" = by the backend's name
    signal: str = ""


def is_fallback(row: Row) -> bool:
    """A hop row that fell back to a later attempt (not one that condensed the context)."""
    return row.kind == "hop" and row.reason != CONDENSE


@dataclass(frozen=True)
class Row:
    """One attempt. `kind` "request" is the request's last attempt (the one that answered, or
    the last failure); each "hop" row is an earlier attempt that fell back, with `parent_id`
    naming the request. Costs are per attempt, so summing `cost_usd` over all rows is the spend."""

    id: str
    ts: str  # UTC ISO 8601
    action: str
    tier: int  # 1-3, 0 = embedded last resort
    backend: str
    model: str
    cost_usd: float | None  # None: no known price
    kind: str = "request"
    parent_id: str | None = None
    hop: int = 0  # 0 for the request row, 1.. for hops in the order they were tried
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_counted: bool = False  # True: our own count; False: the backend reported usage
    latency_ms: float = 0.0  # request rows: end to end as the user waited; hops: that attempt
    ttft_ms: float | None = None
    baseline_cost_usd: float | None = None
    outcome: str = "ok"
    reason: str = ""  # fallback reason or error tag (errors.BackendError.reason)
    validator: str = ""
    cached: bool = False
    saved_usd: float = 0.0
    size_bucket: str = ""
    path_hash: str | None = None
    workspace_hash: str | None = None
    location: str = ""  # "local" | "cloud": cloud spend and budgets count only "cloud" rows
    signal: str = ""  # for a hop that escalated on a low-confidence answer: the signal (actions/signals.py)
    redacted: int = 0  # secret values replaced by placeholders before the request left

    @property
    def local(self) -> bool:
        """Whether the prompt stayed local; a row built without a location goes by a built-in's name."""
        return self.location == "local" if self.location else is_local(self.backend)


@dataclass(frozen=True)
class Feedback:
    request_id: str
    ts: str
    verdict: str  # good | bad
    note: str = ""
