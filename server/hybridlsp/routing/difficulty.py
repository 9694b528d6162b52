"""The pluggable difficulty estimate for free-form prompts.

An estimator reads a prompt and says which tier it needs. The keyword estimator is the article's
rule set; a learned estimator can take its place behind the same interface (`register`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Protocol

from ..context.multimatch import Background, PatternSet, imported, parts_matched

__all__ = ["Estimate", "Estimator", "KeywordEstimator", "register", "get_estimator", "estimate_many", "HEAD_CHARS", "sigmoid"]

# The task is stated at the head of a prompt; pasted material follows. Scanning only the head keeps
# a transcript that happens to mention "proof" from reaching the cloud, and keeps routing O(1).
HEAD_CHARS = 400


@dataclass(frozen=True)
class Estimate:
    tier: int
    score: float  # 0..1, higher = harder
    reason: str


class Estimator(Protocol):
    # head: the text's first token ids, when the caller has them (an estimate may read them)
    def estimate(self, text: str, action: str, head: Sequence[int] | None = None) -> Estimate | None: ...

    # Optional, for batches: `estimate_many(texts, action, heads)`, equal to `estimate` on each.


def estimate_many(estimator: Estimator | None, texts: Sequence[str], action: str,
                  heads: Sequence[Sequence[int] | None] | None = None) -> list[Estimate | None]:
    """`[estimator.estimate(t, action, h) ...]`, through the estimator's own batch method if it has
    one (no estimator: no estimates)."""
    if estimator is None:
        return [None] * len(texts)
    if heads is None:
        heads = [None] * len(texts)
    many = getattr(estimator, "estimate_many", None)
    if many is not None:
        return many(texts, action, heads)
    return [estimator.estimate(t, action, h) for t, h in zip(texts, heads)]


_WORD_RE = re.compile(r"[a-z0-9][a-z0-9'\-]*")
_RUN_RE = re.compile(r"[a-z0-9]+")
_CUT = bytes(c if chr(c).isascii() and (chr(c).islower() or chr(c).isdigit()) else 32 for c in range(256))


@lru_cache(maxsize=32)
def _phrases(t1: tuple[str, ...], t2: tuple[str, ...], t3: tuple[str, ...]) -> dict[str, tuple]:
    """First word -> ((the phrase's words, tier), ...), longest phrase first; a harder tier wins a
    phrase listed twice."""
    table: dict[tuple[str, ...], int] = {}
    for tier, words in ((1, t1), (2, t2), (3, t3)):
        for w in words:
            key = tuple(_WORD_RE.findall(w.lower()))
            if key:
                table[key] = tier
    index: dict[str, list] = {}
    for key, tier in table.items():
        index.setdefault(key[0], []).append((key, tier))
    return {first: tuple(sorted(v, key=lambda kt: -len(kt[0]))) for first, v in index.items()}


class KeywordEstimator:
    """Earliest task keyword in the prompt's head decides: the leading verb names the task.

    Each word of the head costs one dict lookup by first word (phrases are compared only where
    one starts); one big regex alternation tried every keyword at every position (~300 us a prompt).
    """

    def __init__(self, tier1: list[str], tier2: list[str], tier3: list[str]):
        self._index = _phrases(tuple(tier1), tuple(tier2), tuple(tier3))
        # For the quick test below: each phrase's longest run of [a-z0-9] ("depth" for "in depth").
        # A phrase is found only where all its runs are, so looking for one, the least common, is enough.
        self._phrases = frozenset(phrase for candidates in self._index.values() for phrase, _ in candidates)
        self._runs = frozenset(
            max((run for word in phrase for run in _RUN_RE.findall(word)), key=len).encode()
            for candidates in self._index.values() for phrase, _ in candidates
        )

    def estimate(self, text: str, action: str, head: Sequence[int] | None = None) -> Estimate | None:
        head_text = text[:HEAD_CHARS].lower()
        # Quick test: most prompts name no task. The phrases' Hyperscan set (as `estimate_many` has
        # it) says so in ~1 us; it compiles on its own thread (20-40 ms), which no decision waits
        # for, once the secret scan has imported Hyperscan (a code action's title, decided before
        # any scan, does not pay the import). Until then, and without Hyperscan, all in C too: cut
        # the head at every byte outside [a-z0-9] (each word of a phrase is then one or more whole
        # runs) and look for a phrase's run, ~2.3 us (the word regex: ~7). Either passes every
        # head with a keyword.
        ascii_head = head_text.encode("ascii", "replace")
        matcher = _phrase_matcher(self._phrases, wait=False) if imported() else None
        if matcher is not None:
            if not matcher.ends(ascii_head):
                return None
        elif self._runs.isdisjoint(ascii_head.translate(_CUT).split()):
            return None
        words = _WORD_RE.findall(head_text)
        index = self._index
        for i, word in enumerate(words):
            candidates = index.get(word)
            if candidates is None:
                continue
            for phrase, tier in candidates:
                if len(phrase) == 1 or tuple(words[i:i + len(phrase)]) == phrase:
                    shown = " ".join(phrase)
                    return Estimate(tier=tier, score=(tier - 1) / 2, reason=f"task keyword '{shown}' -> tier {tier}")
        return None


    def estimate_many(self, texts: Sequence[str], action: str,
                      heads: Sequence[Sequence[int] | None] | None = None) -> list[Estimate | None]:
        """The quick test for a whole batch, in one Hyperscan pass over the joined heads; only the
        texts it passes are looked at word by word."""
        matcher = _phrase_matcher(self._phrases)
        if matcher is None or len(texts) < 2:
            return [self.estimate(t, action) for t in texts]
        # A newline cuts a run as any byte outside [a-z0-9] does: no match spans two heads.
        hit = parts_matched([t[:HEAD_CHARS].lower().encode("ascii", "replace") for t in texts], matcher.ends)
        return [self.estimate(t, action) if i in hit else None for i, t in enumerate(texts)]


def _phrase_matcher(phrases: frozenset[tuple[str, ...]], wait: bool | None = None) -> PatternSet | None:
    """The phrases' Hyperscan set (`multimatch.Background`); None without Hyperscan, or while it
    compiles in `route`: the caller then tests each text alone."""
    background = _phrase_patterns(phrases)
    return background.get(wait) if background is not None else None


@lru_cache(maxsize=16)
def _phrase_patterns(phrases: frozenset[tuple[str, ...]]) -> Background | None:
    """Where each phrase could be: its runs of [a-z0-9] in order, each cut from the next and from
    the text around by bytes outside [a-z0-9]. Every place the word-by-word test finds a phrase
    matches (its words are whole words, and the bytes between and inside them, such as "-", are
    outside [a-z0-9]), so a text with no match has no keyword."""
    patterns = []
    for phrase in sorted(phrases):
        runs = [run.encode() for word in phrase for run in _RUN_RE.findall(word)]
        if runs:
            patterns.append(b"(?:^|[^a-z0-9])" + b"[^a-z0-9]+".join(runs) + b"(?:[^a-z0-9]|$)")
    return Background(patterns) if patterns else None


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


def sigmoid(z: float) -> float:
    """The logistic function, without overflow for large |z| (the learned and cold-start estimates)."""
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)
