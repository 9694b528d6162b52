"""The learned difficulty estimate: token-id uni- and bigrams and a linear model.

What it predicts. Trained on RouteLLM's per-prompt outcomes (Mixtral-8x7B vs GPT-4 on MT-Bench,
GSM8K and MMLU; `training/train_difficulty.py`), a logistic model estimates how much the strong
model's answer beats the weak one's: the soft label is (1 + q_strong - q_weak) / 2, so the score is
0.5 + E[q_strong - q_weak] / 2. Predicting that gain, not "the weak model fails", routed better
on held-out questions: prompts both models fail are not worth a cloud call.

Features: the distinct token ids (cl100k, `context.tokens`) among the prompt's first
`HEAD_TOKENS` tokens, and their distinct adjacent pairs hashed into `BIGRAM_BUCKETS` buckets;
each present feature weighted 1/sqrt(count). Token ids, not words, because a decision has to count
the prompt's tokens anyway: the features come from that same encoding (`route --jsonl` takes the
ids from the pass that counts), so the estimate reads at most 128 small ints, not a second pass
over the text. On 2,000 held-out prompts of ~80 tokens the logit costs 1.3 us in C (`_speedups.c`,
compiled by hatch_build.py when there is a compiler; the whole estimate 2.9 us) and 18.5 us in
the pure Python that stays its reference and fallback (`_head_sums`; HYBRIDLSP_PURE_PYTHON=1
forces it, `SPEEDUPS` says which runs). Word n-grams measured 0.01 better in cross-validation
(inside the folds' spread) and cost ~50 us (the measurements are in the training script).

Tiers, calibrated. The shipped file holds quantiles of the model's logit on prompts it was not
fitted on (out-of-fold, in training). With t = `routing.cloud_share_target`, a prompt scoring in
the top t of that distribution goes to tier 3, the next t (quantiles 1-2t .. 1-t) to tier 2, the
rest to tier 1. `hybridlsp eval-routing` and `audit` show the share on your own prompts, and
`tune` moves t within bounds from what the ledger records. On a prompt shorter than the shortest
1 % of the training prompts (`min_tokens`) it gives no opinion and the policy's default tier
applies: no training data speaks for "hello".
"""

from __future__ import annotations

import base64
import json
import math
import os
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice, repeat
from operator import add, mod, mul
from pathlib import Path

from .difficulty import Estimate, KeywordEstimator, register, sigmoid

__all__ = [
    "BIGRAM_BUCKETS",
    "FEATURE_VERSION",
    "HEAD_TOKENS",
    "SPEEDUPS",
    "WEIGHTS_PATH",
    "HybridEstimator",
    "LearnedEstimator",
    "LearnedModel",
    "calibration_quantiles",
    "features",
    "head_of",
    "load_model",
]

FEATURE_VERSION = 3
HEAD_TOKENS = 128  # the head that is read: O(1) per prompt, and the task is stated early
BIGRAM_BUCKETS = 65521  # a prime: (a * _MIX + b) % BIGRAM_BUCKETS spreads pairs of ids evenly
_MIX = 1_000_003
WEIGHTS_PATH = Path(__file__).parent / "data" / "difficulty.json"

# The C version of _head_sums, when it was built (hatch_build.py): ~1 us a prompt, not ~20.
# HYBRIDLSP_PURE_PYTHON=1 keeps to the Python, which stays the reference.
try:
    if os.environ.get("HYBRIDLSP_PURE_PYTHON") == "1":  # as multimatch.py reads it
        raise ImportError("HYBRIDLSP_PURE_PYTHON=1")
    from ._speedups import head_sums as _c_head_sums
except ImportError:
    _c_head_sums = None
SPEEDUPS = _c_head_sums is not None  # which path logit_of_head takes


def head_of(text: str) -> list[int]:
    """The first HEAD_TOKENS token ids of `text` (for callers that have not encoded it)."""
    from ..context.tokens import head_tokens  # tiktoken: only for a caller that has not encoded the text

    return head_tokens(text, HEAD_TOKENS)


def _pairs(head: Sequence[int]) -> set[int]:
    # map over operator functions: the loop runs in C, ~30 ns a token
    return set(map(mod, map(add, map(mul, head, repeat(_MIX)), islice(head, 1, None)), repeat(BIGRAM_BUCKETS)))


def _feature_sets(head: Sequence[int]) -> tuple[set[int], set[int]]:
    """The distinct ids and pair buckets that are read: what training and a decision both use."""
    head = head[:HEAD_TOKENS]
    return set(head), _pairs(head)


def _head_sums(head: Sequence[int], unigrams: array, bigrams: array) -> tuple[int, int]:
    """The summed weights of a head's distinct ids and pair buckets, and how many there are."""
    ids, pairs = _feature_sets(head)
    # int16 weights sum exactly, in any order: the same logit on every machine
    return sum(map(unigrams.__getitem__, ids)) + sum(map(bigrams.__getitem__, pairs)), len(ids) + len(pairs)


def features(head: Sequence[int], n_vocab: int) -> set[int]:
    """Distinct feature indices of a head of token ids: the ids, then n_vocab + each pair's bucket."""
    ids, pairs = _feature_sets(head)
    return ids | {n_vocab + b for b in pairs}


@dataclass(frozen=True)
class LearnedModel:
    n_vocab: int
    min_tokens: int  # shorter prompts are unlike any it was trained on: it abstains (see LearnedEstimator)
    bias: float
    scale: float  # weight = scale * stored int16
    unigrams: array  # array("h"), one weight per token id
    bigrams: array  # array("h"), one weight per pair bucket
    quantiles: tuple[float, ...]  # logit quantiles on held-out prompts, at k / (len - 1)

    @classmethod
    def from_json(cls, data: dict) -> LearnedModel:
        if data.get("feature_version") != FEATURE_VERSION:
            raise ValueError(
                f"difficulty weights use feature version {data.get('feature_version')!r}, this code "
                f"{FEATURE_VERSION}: retrain with training/train_difficulty.py"
            )
        w = array("h")
        w.frombytes(base64.b64decode(data["weights_int16_le"]))
        if sys.byteorder != "little":
            w.byteswap()
        n_vocab = data["n_vocab"]
        if len(w) != n_vocab + BIGRAM_BUCKETS:
            raise ValueError(f"difficulty weights: {len(w)} weights for {n_vocab} ids + {BIGRAM_BUCKETS} buckets")
        return cls(n_vocab, int(data["min_tokens"]), float(data["bias"]), float(data["scale"]), w[:n_vocab],
                   w[n_vocab:], tuple(data["quantiles"]))

    def logit_of_head(self, head: Sequence[int]) -> float:
        """The logit of a prompt given its first token ids (at least HEAD_TOKENS of them, or all)."""
        # the C returns None for a head it leaves to Python (an item not an int in 0 .. 2**63 - 1)
        sums = SPEEDUPS and _c_head_sums(head, self.unigrams, self.bigrams, HEAD_TOKENS, _MIX, BIGRAM_BUCKETS)
        total, n = sums or _head_sums(head, self.unigrams, self.bigrams)
        if not n:
            return self.bias
        return self.bias + self.scale * total / math.sqrt(n)

    def logit(self, text: str) -> float:
        return self.logit_of_head(head_of(text))

    def contributions(self, head: Sequence[int]) -> list[tuple[tuple[int, ...], float]]:
        """Each distinct id's and id pair's share of the logit (pairs by the ids that made the bucket;
        two pairs in one bucket share it), largest |share| first. For explaining, not deciding."""
        head = [int(t) for t in head[:HEAD_TOKENS]]
        ids, pairs = _feature_sets(head)
        n = len(ids) + len(pairs)
        if not n:
            return []
        k = self.scale / math.sqrt(n)
        out = [((i,), k * self.unigrams[i]) for i in ids if 0 <= i < self.n_vocab]
        seen = set()
        for a, b in zip(head, head[1:]):
            bucket = (a * _MIX + b) % BIGRAM_BUCKETS
            if bucket not in seen:
                seen.add(bucket)
                out.append(((a, b), k * self.bigrams[bucket]))
        return sorted(out, key=lambda fc: -abs(fc[1]))

    def score(self, text: str) -> float:
        return sigmoid(self.logit(text))

    def logit_at_quantile(self, p: float) -> float:
        """The held-out logit below which a share `p` of prompts fall (linear between points)."""
        q = self.quantiles
        x = min(max(p, 0.0), 1.0) * (len(q) - 1)
        i = min(int(x), len(q) - 2)
        return q[i] + (x - i) * (q[i + 1] - q[i])


def calibration_quantiles(logits: list[float], k: int = 201) -> list[float]:
    """k evenly spaced quantiles (linear between order statistics), rounded for a stable file."""
    s = sorted(logits)
    if len(s) < 2 or k < 2:
        raise ValueError("calibration needs at least two logits and two quantiles")
    out = []
    for j in range(k):
        x = j / (k - 1) * (len(s) - 1)
        i = min(int(x), len(s) - 2)
        out.append(round(s[i] + (x - i) * (s[i + 1] - s[i]), 6))
    return out


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> LearnedModel:
    p = Path(path) if path else WEIGHTS_PATH
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no difficulty weights at {p}: reinstall hybridlsp, or set routing.difficulty = 'keywords'"
        ) from None
    return LearnedModel.from_json(data)


class LearnedEstimator:
    """Scores a prompt and maps the score to a tier with thresholds calibrated to a cloud share."""

    def __init__(self, model: LearnedModel, cloud_share_target: float = 0.2):
        if not 0 < cloud_share_target < 1:
            raise ValueError(f"cloud_share_target must be between 0 and 1, not {cloud_share_target!r}")
        self.model = model
        self.cloud_share_target = cloud_share_target
        self.cloud_logit = model.logit_at_quantile(1 - cloud_share_target)
        # past half the prompts to the cloud, the tier-2 band takes all the rest
        low = 1 - 2 * cloud_share_target
        self.tier2_logit = model.logit_at_quantile(low) if low > 0 else -math.inf
        t, t2, t3 = cloud_share_target, sigmoid(self.tier2_logit), sigmoid(self.cloud_logit)
        self._bands = {  # each decision formats only its score
            3: f">= cloud threshold {t3:.3f} (top {t:.0%}) -> tier 3",
            2: f">= tier-2 threshold {t2:.3f} (next {t:.0%}) -> tier 2",
            1: f"< tier-2 threshold {t2:.3f} -> tier 1",
        }

    @property
    def thresholds(self) -> dict[int, float]:
        """Lowest score (0..1) of tier 2 and tier 3."""
        return {2: sigmoid(self.tier2_logit), 3: sigmoid(self.cloud_logit)}

    def estimate(self, text: str, action: str, head: Sequence[int] | None = None) -> Estimate | None:
        """`head`: the text's first token ids, when the caller has encoded it already.

        None (no opinion: the policy's default tier) for a prompt shorter than `model.min_tokens`,
        the shortest 1 % of the training prompts: on "hello" or "What's 2+2?" the model's score is
        noise from a handful of token weights, and the calibration says nothing about such prompts.
        """
        if head is None:
            head = head_of(text)
        if len(head) < self.model.min_tokens:
            return None
        z = self.model.logit_of_head(head)
        score = sigmoid(z)
        tier = 3 if z >= self.cloud_logit else 2 if z >= self.tier2_logit else 1
        return Estimate(tier, score, f"learned difficulty {score:.3f} {self._bands[tier]}")

    def estimate_many(self, texts: Sequence[str], action: str,
                      heads: Sequence[Sequence[int] | None]) -> list[Estimate | None]:
        return list(map(self.estimate, texts, repeat(action), heads))

    def explain(self, text: str, action: str, head: Sequence[int] | None = None) -> str:
        """What the estimate saw: its score and band, or that it abstains, and the tokens that moved it."""
        from ..context.tokens import _enc

        if head is None:
            head = head_of(text)
        if len(head) < self.model.min_tokens:
            return (f"learned estimate abstains: {len(head)} tokens is shorter than the shortest 1 % it learned "
                    f"from ({self.model.min_tokens})")
        score = sigmoid(self.model.logit_of_head(head))
        enc = _enc()
        moved = ", ".join(
            f"{'+'.join(repr(enc.decode_single_token_bytes(t).decode('utf-8', 'replace')) for t in ids)} {c:+.3f}"
            for ids, c in self.model.contributions(head)[:3])
        return f"learned estimate {score:.3f}, moved by {moved or 'nothing'}"


@lru_cache(maxsize=16)
def _estimator(cloud_share_target: float) -> LearnedEstimator:
    return LearnedEstimator(load_model(), cloud_share_target)


# The policy asks for an estimator on every decision: build it once per target share.
register("learned", lambda s: _estimator(s.routing.cloud_share_target))


class HybridEstimator:
    """The article's task keywords first (they name the task), the learned estimate for the rest."""

    def __init__(self, keywords, learned: LearnedEstimator):
        self.keywords = keywords
        self.learned = learned

    def estimate(self, text: str, action: str, head: Sequence[int] | None = None) -> Estimate | None:
        return self.keywords.estimate(text, action) or self.learned.estimate(text, action, head)

    def estimate_many(self, texts: Sequence[str], action: str,
                      heads: Sequence[Sequence[int] | None]) -> list[Estimate | None]:
        """The keywords for the whole batch in one pass (`KeywordEstimator.estimate_many`), then the
        learned estimate for the texts no keyword names."""
        out = self.keywords.estimate_many(texts, action, heads)
        rest = [i for i, e in enumerate(out) if e is None]
        for i, e in zip(rest, self.learned.estimate_many([texts[i] for i in rest], action, [heads[i] for i in rest])):
            out[i] = e
        return out


def _hybrid(s) -> HybridEstimator:
    r = s.routing
    return _hybrid_for(tuple(r.tier1_keywords), tuple(r.tier2_keywords), tuple(r.tier3_keywords),
                       r.cloud_share_target)


@lru_cache(maxsize=16)  # the policy asks on every decision: one estimator per configuration
def _hybrid_for(t1: tuple[str, ...], t2: tuple[str, ...], t3: tuple[str, ...], share: float) -> HybridEstimator:
    return HybridEstimator(KeywordEstimator(list(t1), list(t2), list(t3)), _estimator(share))


register("hybrid", _hybrid)
