"""The learned difficulty estimate: hashed word n-grams and a linear model, pure Python at run time.

What it predicts. Trained on RouteLLM's per-prompt outcomes (Mixtral-8x7B vs GPT-4 on MT-Bench,
GSM8K and MMLU; `training/train_difficulty.py`), a logistic model estimates how much the strong
model's answer beats the weak one's: the soft label is (1 + q_strong - q_weak) / 2, so the score is
0.5 + E[q_strong - q_weak] / 2. Predicting that gain, not "the weak model fails", routed better
on held-out questions: prompts both models fail are not worth a cloud call.

Features (chosen by measurement on a validation split; see the training script): the set of
lower-cased word unigrams and bigrams of the prompt's first `MAX_CHARS` characters, numbers
folded to "0", plus coarse size buckets; hashed with CRC-32 into `dim` buckets and weighted
1/sqrt(count). Character n-grams and longer heads measured no better and cost more time.

Tiers, calibrated. The shipped file holds quantiles of the model's logit on held-out prompts. With
t = `routing.cloud_share_target`, a prompt scoring in the top t of that distribution goes to
tier 3, the next t (quantiles 1-2t .. 1-t) to tier 2, the rest to tier 1. On prompts like the
training mix this sends t of them to the cloud; `hybridlsp eval-routing` and `audit` show the
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

__all__ = ["FEATURE_VERSION", "MAX_CHARS", "WEIGHTS_PATH", "LearnedModel", "LearnedEstimator", "features", "load_model"]

FEATURE_VERSION = 1
MAX_CHARS = 1000  # the head that is read: O(1) per prompt, and the task is stated early
WEIGHTS_PATH = Path(__file__).parent / "data" / "difficulty.json"

_TOKEN_RE = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")


def _log2_bucket(n: int) -> int:
    return n.bit_length()  # floor(log2(n)) + 1 for n > 0; 0 for 0


def feature_strings(text: str) -> list[str]:
    """The features as strings, before hashing (for inspection and tests)."""
    head = text[:MAX_CHARS].lower()
    toks = ["0" if t[0].isdigit() else t for t in _TOKEN_RE.findall(head)]
    out = list(toks)
    out += [f"{a} {b}" for a, b in zip(toks, toks[1:])]
    # "\0" keeps these apart from any word
    out.append(f"\0chars{_log2_bucket(len(text))}")
    out.append(f"\0lines{_log2_bucket(text.count(chr(10)))}")
    out.append(f"\0toks{_log2_bucket(len(toks))}")
    out.append(f"\0nums{_log2_bucket(toks.count('0'))}")
    return out


def features(text: str, dim: int) -> list[int]:
    """Sorted distinct bucket indices of `text`'s features; `dim` is a power of two."""
    mask = dim - 1
    crc = zlib.crc32
    return sorted({crc(f.encode("utf-8")) & mask for f in feature_strings(text)})


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
        w = self.weights
        return self.bias + self.scale * sum(w[i] for i in idx) / math.sqrt(len(idx))

    def score(self, text: str) -> float:
        return _sigmoid(self.logit(text))

    def logit_at_quantile(self, p: float) -> float:
        """The held-out logit below which a share `p` of prompts fall (linear between points)."""
        q = self.quantiles
        x = min(max(p, 0.0), 1.0) * (len(q) - 1)
        i = min(int(x), len(q) - 2)
        return q[i] + (x - i) * (q[i + 1] - q[i])


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
        self.tier2_logit = model.logit_at_quantile(max(0.0, 1 - 2 * cloud_share_target))

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
