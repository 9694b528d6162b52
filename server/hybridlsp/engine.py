"""One request end to end, LSP-free: context -> policy -> dispatch -> ledger.

(Interface first; bodies are being filled in.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .routing.types import Decision

__all__ = ["RunRequest", "RunResult", "UsageReport", "Fallback", "Finding", "Engine"]


@dataclass(frozen=True)
class RunRequest:
    action: str  # complete | explain | review | commit-message | ask
    text: str = ""  # the selection (or enclosing function), or the prompt for `ask`
    path: str = ""  # file path on disk ("" for none)
    document: str | None = None  # the whole document, for surrounding context
    start_line: int = 0  # 0-based line of `text` in `document`
    end_line: int = 0
    language: str = ""
    prompt: str = ""  # an extra instruction from the user
    tier: int | None = None  # explicit per-request tier
    workspace: str = ""  # repository / workspace root, for git context


@dataclass(frozen=True)
class UsageReport:
    input_tokens: int
    output_tokens: int
    cost_usd: float
    baseline_cost_usd: float


@dataclass(frozen=True)
class Fallback:
    from_: str
    to: str
    reason: str


@dataclass(frozen=True)
class Finding:
    """A review finding; lines are 0-based lines of the document."""

    line: int
    end_line: int
    severity: str  # error | warning | info | hint
    message: str
    fix: str | None = None  # replacement text for lines line..end_line, when the model proposed one


@dataclass
class RunResult:
    text: str
    decision: Decision
    usage: UsageReport
    fallbacks: list[Fallback]
    request_id: str
    backend: str  # what actually answered
    model: str
    latency_ms: float
    ttft_ms: float | None
    cached: bool = False
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Engine:
    """Owns settings, backends and the ledger for one process."""

    def __init__(self, settings, *, ledger=None, env: dict | None = None, backends: dict | None = None):
        raise NotImplementedError

    def preview(self, req: RunRequest) -> Decision:
        """Fast, synchronous, no model and no git: the decision a code action title shows."""
        raise NotImplementedError

    async def run(self, req: RunRequest, on_text: Callable[[str], None] | None = None) -> RunResult:
        """Run the request; `on_text` receives streamed text as it arrives. Cancellable."""
        raise NotImplementedError

    def feedback(self, request_id: str, verdict: str, note: str = "") -> None:
        raise NotImplementedError

    def update_settings(self, settings) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError


def workspace_of(path: str) -> Path | None:
    p = Path(path).resolve() if path else None
    while p is not None and p != p.parent:
        if (p / ".git").exists():
            return p
        p = p.parent
    return None
