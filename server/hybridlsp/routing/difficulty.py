"""The pluggable difficulty estimate for free-form prompts.

An estimator reads a prompt and says which tier it needs. The keyword estimator is the article's
rule set; a learned estimator can take its place behind the same interface (`register`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Protocol

__all__ = ["Estimate", "Estimator", "KeywordEstimator", "register", "get_estimator", "HEAD_CHARS"]

# The task is stated at the head of a prompt; pasted material follows. Scanning only the head keeps
# a transcript that happens to mention "proof" from reaching the cloud, and keeps routing O(1).
HEAD_CHARS = 400


@dataclass(frozen=True)
class Estimate:
    tier: int
    score: float  # 0..1, higher = harder
    reason: str


class Estimator(Protocol):
    def estimate(self, text: str, action: str) -> Estimate | None: ...


@lru_cache(maxsize=32)
def _compile(t1: tuple[str, ...], t2: tuple[str, ...], t3: tuple[str, ...]) -> re.Pattern:
    parts = []
    for tier, words in ((3, t3), (2, t2), (1, t1)):
        for i, w in enumerate(sorted(words, key=len, reverse=True)):
            parts.append(rf"(?P<t{tier}_{i}>\b{re.escape(w.lower())}\b)")
    return re.compile("|".join(parts) if parts else r"(?!x)x", re.IGNORECASE)


class KeywordEstimator:
    """Earliest task keyword in the prompt's head decides: the leading verb names the task."""

    def __init__(self, tier1: list[str], tier2: list[str], tier3: list[str]):
        self._re = _compile(tuple(tier1), tuple(tier2), tuple(tier3))

    def estimate(self, text: str, action: str) -> Estimate | None:
        m = self._re.search(text, 0, HEAD_CHARS)
        if not m:
            return None
        tier = int(m.lastgroup[1])
        return Estimate(tier=tier, score=(tier - 1) / 2, reason=f"task keyword '{m.group(0).lower()}' -> tier {tier}")


_REGISTRY: dict[str, Callable[[object], Estimator | None]] = {}


def register(name: str, factory: Callable[[object], Estimator | None]) -> None:
    _REGISTRY[name] = factory


def get_estimator(settings) -> Estimator | None:
    factory = _REGISTRY.get(settings.routing.difficulty)
    return factory(settings) if factory else None


register(
    "keywords",
    lambda s: KeywordEstimator(s.routing.tier1_keywords, s.routing.tier2_keywords, s.routing.tier3_keywords),
)
register("none", lambda s: None)
