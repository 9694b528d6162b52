"""The request and result types every layer shares: what an editor or the command line asks for,
and what comes back. Plain values, no behaviour beyond finding a path's repository."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a result carries the policy's decision; the types below import nothing of ours
    from .routing.types import Decision

__all__ = ["RunRequest", "RunResult", "UsageReport", "Fallback", "Finding", "workspace_of"]


@dataclass(frozen=True)
class RunRequest:
    action: str  # complete | explain | review | commit-message | ask
    text: str = ""  # the selection (or enclosing function), or the prompt for `ask`
    path: str = ""  # file path on disk ("" for none)
    document: str | None = None  # the whole document, for surrounding context
    start_line: int = 0  # 0-based line of `text` in `document`
    end_line: int = 0
    end_char: int | None = None  # where `text` ends on end_line; None: at the end of that line
    language: str = ""
    prompt: str = ""  # an extra instruction from the user (may start with a tier flag)
    tier: int | None = None  # explicit per-request tier
    workspace: str = ""  # repository / workspace root, for git context
    local_only: bool = False  # never the cloud, not even as a fallback (inline completion)


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
    tier: int  # the tier that answered (0 = embedded)
    latency_ms: float
    ttft_ms: float | None
    cached: bool = False
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    budget: object | None = None  # budget.status.BudgetStatus after this request
    redacted: int = 0  # secret values sent behind placeholders (privacy.on_secret = "redact"); never which


def workspace_of(path: str) -> Path | None:
    """The repository root holding `path` (the nearest folder with a .git), or None."""
    p = Path(path).resolve() if path else None
    while p is not None and p != p.parent:
        if (p / ".git").exists():
            return p
        p = p.parent
    return None
