"""Value types of the tier policy: what it reads and what it decides."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

__all__ = ["ACTIONS", "RouteRequest", "Hop", "Decision", "GitSummary"]

ACTIONS = ("complete", "explain", "review", "commit-message", "ask")


@dataclass(frozen=True)
class GitSummary:
    """What the policy needs to know about the git context (counted by `context.git`)."""

    diff_tokens: int = 0
    files_changed: int = 0
    staged: bool = False


@dataclass(frozen=True)
class RouteRequest:
    action: str
    text: str  # the selection or prompt (flags included; the policy strips them)
    input_tokens: int  # everything that will be sent, counted by the caller
    path: str = ""
    language: str = ""
    git: GitSummary = GitSummary()
    tier_override: int | None = None  # per-request tier argument
    contains_secret: bool = False  # from context.secrets
    month_cloud_spend_usd: float = 0.0
    day_cloud_spend_usd: float = 0.0
    cloud_available: bool = True  # a key is configured for the tier-3 backend
    # The tiers whose prompts leave the machine, their models counted (`backends.location.cloud_tiers`:
    # the caller asks it, routing never imports backends). None: by the tiers' names in cloud_backends.
    cloud_tiers: frozenset[int] | None = None
    local_only: bool = False  # the caller never wants the cloud (inline completion)
    head_tokens: Sequence[int] | None = None  # text's first token ids, if the caller encoded it
    input_name: str = "input"  # what the reasons call what is sent: the action's (`Action.input_name`)
    # the backends that send prompts off the machine (`backends.location`: routing never asks backends)
    cloud_backends: frozenset[str] = field(kw_only=True)


@dataclass(frozen=True)
class Hop:
    tier: int  # 1, 2, 3; 0 = embedded last resort
    backend: str
    model: str

    @cached_property
    def label(self) -> str:
        return f"tier{self.tier}:{self.backend}/{self.model}" if self.tier else f"embedded/{self.model}"


@dataclass(frozen=True)
class Decision:
    tier: int
    backend: str
    model: str
    max_output_tokens: int
    chain: tuple[Hop, ...]  # first hop is the decision itself
    reasons: tuple[str, ...]
    prompt: str  # the text with any tier flag removed
    input_tokens: int
    private: bool = False
    notes: tuple[str, ...] = field(default=())
    cloud_tiers: frozenset[int] = frozenset()  # the tiers whose prompts leave the machine

    def is_cloud(self, tier: int | None = None) -> bool:
        """Whether `tier` (default: the decided one) sends its prompts off the machine."""
        return (self.tier if tier is None else tier) in self.cloud_tiers
