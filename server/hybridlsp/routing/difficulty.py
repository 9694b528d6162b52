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


_WORD_RE = re.compile(r"[a-z0-9][a-z0-9'\-]*")


@lru_cache(maxsize=32)
def _phrases(t1: tuple[str, ...], t2: tuple[str, ...], t3: tuple[str, ...]) -> tuple[dict, int]:
    """Keyword phrase (words joined by one space) -> tier; a harder tier wins a shared phrase."""
    table: dict[str, int] = {}
    for tier, words in ((1, t1), (2, t2), (3, t3)):
        for w in words:
            key = " ".join(_WORD_RE.findall(w.lower()))
            if key:
                table[key] = tier
    longest = max((k.count(" ") + 1 for k in table), default=1)
    return table, longest


class KeywordEstimator:
    """Earliest task keyword in the prompt's head decides: the leading verb names the task.

    Words are looked up in a table rather than matched by one big regex alternation, which tried
    every keyword at every position (about 300 us a prompt; this is about 20 us).
    """

    def __init__(self, tier1: list[str], tier2: list[str], tier3: list[str]):
        self._table, self._longest = _phrases(tuple(tier1), tuple(tier2), tuple(tier3))

    def estimate(self, text: str, action: str) -> Estimate | None:
        words = _WORD_RE.findall(text[:HEAD_CHARS].lower())
        table = self._table
        for i in range(len(words)):
            for n in range(min(self._longest, len(words) - i), 0, -1):
                phrase = " ".join(words[i:i + n]) if n > 1 else words[i]
                tier = table.get(phrase)
                if tier is not None:
                    return Estimate(tier=tier, score=(tier - 1) / 2, reason=f"task keyword '{phrase}' -> tier {tier}")
        return None


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
