"""The learned difficulty estimate: hashed word n-grams and a linear model, pure Python at run time.

What it predicts. Trained on RouteLLM's per-prompt outcomes (Mixtral-8x7B vs GPT-4 on MT-Bench,
GSM8K and MMLU; `training/train_difficulty.py`), a logistic model estimates how much the strong
model's answer beats the weak one's: the soft label is (1 + q_strong - q_weak) / 2, so the score is
0.5 + E[q_strong - q_weak] / 2. Predicting that gain, not "the weak model fails", routed better
on held-out questions: prompts both models fail are not worth a cloud call.

Features (chosen by cross-validation; the measurements are in the training script): the set of
lower-cased word unigrams and bigrams of the prompt's first `MAX_CHARS` characters, numbers
folded to "0", plus coarse size buckets; hashed (CRC-32) into `dim` buckets, each present
feature weighted 1/sqrt(count). Character n-grams and longer heads measured no better and cost
more time. About 50 us per prompt (bench/routing_quality.py); no numpy at run time.

Tiers, calibrated. The shipped file holds quantiles of the model's logit on prompts it was not
fitted on (out-of-fold, in training). With t = `routing.cloud_share_target`, a prompt scoring in
the top t of that distribution goes to tier 3, the next t (quantiles 1-2t .. 1-t) to tier 2, the
rest to tier 1. On prompts like the training mix this sends t of them to the cloud (18.5 % on the
held-out test split for t = 0.2); `hybridlsp eval-routing` and `audit` show the
share on your own prompts, and `tune` moves t within bounds from what the ledger records.
"""

from __future__ import annotations

import base64
import json
import math
import re
import sys
import zlib
from array import array
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .difficulty import Estimate, register

__all__ = [
    "FEATURE_VERSION",
    "MAX_CHARS",
    "WEIGHTS_PATH",
    "LearnedEstimator",
    "LearnedModel",
    "calibration_quantiles",
    "features",
    "load_model",
    "tokens",
]

FEATURE_VERSION = 2
MAX_CHARS = 1000  # the head that is read: O(1) per prompt, and the task is stated early
WEIGHTS_PATH = Path(__file__).parent / "data" / "difficulty.json"

_TOKEN_RE = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")
_DIGITS_RE = re.compile(r"\d+")
_GOLDEN = 0x9E3779B97F4A7C15  # odd 64-bit multiplier that mixes a bigram's two token hashes

# crc32 of each token seen, so a decision hashes mostly by dict lookup. Bounded: cleared when full.
_HASHES: dict[str, int] = {}
_HASHES_MAX = 100_000


def _crc(token: str) -> int:
    h = _HASHES.get(token)
    if h is None:
        if len(_HASHES) >= _HASHES_MAX:
            _HASHES.clear()
        h = _HASHES[token] = zlib.crc32(token.encode("utf-8"))
    return h


def tokens(text: str) -> list[str]:
    """Lower-cased words, numbers folded to "0", and single punctuation marks, of the head."""
    return _TOKEN_RE.findall(_DIGITS_RE.sub("0", text[:MAX_CHARS].lower()))


def _size_features(text: str, toks: list[str]) -> list[str]:
    # "\0" keeps these apart from any word; bit_length = 1 + floor(log2(n)), 0 for 0
    return [
        f"\0chars{len(text).bit_length()}",
        f"\0lines{text.count(chr(10)).bit_length()}",
        f"\0toks{len(toks).bit_length()}",
        f"\0nums{toks.count('0').bit_length()}",
    ]


def features(text: str, dim: int) -> set[int]:
    """Distinct bucket indices of `text`'s features; `dim` is a power of two.

    Unigram and size features hash by crc32; a bigram mixes its two tokens' crc32 values, which
    costs a multiply instead of building and hashing a string.
    """
    mask = dim - 1
    toks = tokens(text)
    hs = [_crc(t) for t in toks]
    out = {h & mask for h in hs}
    out.update(((a * _GOLDEN + b) >> 40) & mask for a, b in zip(hs, hs[1:]))
    out.update(_crc(f) & mask for f in _size_features(text, toks))
    return out


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


@dataclass(frozen=True)
class LearnedModel:
    dim: int
    bias: float
    scale: float  # weight = scale * stored int16
    weights: array  # array("h"), len dim
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
        if len(w) != data["dim"]:
            raise ValueError(f"difficulty weights: {len(w)} weights for dim {data['dim']}")
        return cls(data["dim"], float(data["bias"]), float(data["scale"]), w, tuple(data["quantiles"]))

    def logit(self, text: str) -> float:
        idx = features(text, self.dim)
        if not idx:
            return self.bias
        # int16 weights sum exactly, in any order: the same logit on every machine
        return self.bias + self.scale * sum(map(self.weights.__getitem__, idx)) / math.sqrt(len(idx))

    def score(self, text: str) -> float:
        return _sigmoid(self.logit(text))

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

    @property
    def thresholds(self) -> dict[int, float]:
        """Lowest score (0..1) of tier 2 and tier 3."""
        return {2: _sigmoid(self.tier2_logit), 3: _sigmoid(self.cloud_logit)}

    def estimate(self, text: str, action: str) -> Estimate:
        z = self.model.logit(text)
        score = _sigmoid(z)
        t = self.cloud_share_target
        if z >= self.cloud_logit:
            tier, band = 3, f">= cloud threshold {_sigmoid(self.cloud_logit):.3f} (top {t:.0%})"
        elif z >= self.tier2_logit:
            tier, band = 2, f">= tier-2 threshold {_sigmoid(self.tier2_logit):.3f} (next {t:.0%})"
        else:
            tier, band = 1, f"< tier-2 threshold {_sigmoid(self.tier2_logit):.3f}"
        return Estimate(tier=tier, score=score, reason=f"learned difficulty {score:.3f} {band} -> tier {tier}")


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

    def estimate(self, text: str, action: str) -> Estimate | None:
        return self.keywords.estimate(text, action) or self.learned.estimate(text, action)


def _hybrid(s) -> HybridEstimator:
    from .difficulty import KeywordEstimator

    r = s.routing
    return HybridEstimator(KeywordEstimator(r.tier1_keywords, r.tier2_keywords, r.tier3_keywords),
                           _estimator(r.cloud_share_target))


register("hybrid", _hybrid)
