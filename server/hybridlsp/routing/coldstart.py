"""The cold-start difficulty estimate: prompt features that mean the same in any source.

What it predicts: how likely the cloud tier itself is to fail the prompt (a hardness score),
from `promptfeatures` (size, code, language, constraints, examples, maths, question form, asked
output size, action), with weights fitted within each training source so that they rank prompts
against others of their kind (`training/coldstart_fit.py`). Two probabilities are read off the
same score, fitted on the training sources: p(tier 1 is enough) and p(tier 2 is enough), where
"enough" means the tier's answer is as good as the cloud's.

Tiers: with t = `routing.cloud_share_target`, a score in the top t of the training prompts'
scores goes to tier 3, the next t to tier 2. Below that band, and on prompts shorter than the
shortest 1 % of the training prompts (`min_chars`), it abstains: the article's rules decide (the
task keywords when `keywords_first` is off and one matches, else `routing.default_tier`); the
reason says so.

Explainable: every estimate's reason gives the two probabilities, whether it abstained, and the
features that moved the score most (their signed contributions, in units of the score).

Weights: `data/coldstart.json`, written by `make train-router` from the licence-clear sources
only (training/sources.py says which).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .difficulty import Estimate, KeywordEstimator, sigmoid
from .promptfeatures import FEATURES, features

__all__ = ["COLDSTART_PATH", "ColdStartEstimator", "ColdStartModel", "Explained", "from_settings", "load_coldstart"]

FEATURE_SET = "promptfeatures-1"
COLDSTART_PATH = Path(__file__).parent / "data" / "coldstart.json"
TOP_FEATURES = 3


@dataclass(frozen=True)
class Explained:
    """One prompt's score and what moved it."""

    score: float
    p_tier1: float  # p(tier 1 is enough)
    p_tier2: float  # p(tier 2 is enough)
    top: tuple[tuple[str, float], ...]  # (feature, contribution to the score), largest |contribution| first

    @property
    def hardness(self) -> float:
        """0..1, higher = harder, as every `Estimate.score` reads: p(tier 2 is not enough)."""
        return 1.0 - self.p_tier2

    def moved_by(self) -> str:
        return ", ".join(f"{name} {c:+.2f}" for name, c in self.top) or "nothing"


@dataclass(frozen=True)
class ColdStartModel:
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    quantiles: tuple[float, ...]
    p1: tuple[float, float]  # a, b: p(tier 1 enough) = sigmoid(a * score + b)
    p2: tuple[float, float]
    min_chars: int

    @classmethod
    def from_json(cls, data: dict) -> ColdStartModel:
        if data.get("feature_set") != FEATURE_SET or tuple(data.get("features", ())) != FEATURES:
            raise ValueError(f"cold-start weights are for features {data.get('feature_set')!r}, this code "
                             f"{FEATURE_SET}: run `make train-router`")
        n = len(FEATURES)
        for key in ("mean", "scale", "weights"):
            if len(data[key]) != n:
                raise ValueError(f"cold-start weights: {len(data[key])} values of {key!r} for {n} features")
        return cls(tuple(data["mean"]), tuple(data["scale"]), tuple(data["weights"]), tuple(data["quantiles"]),
                   tuple(data["p_tier1_enough"]), tuple(data["p_tier2_enough"]), int(data["min_chars"]))

    def contributions(self, values: Sequence[float]) -> list[float]:
        return [w * (x - m) / s for x, m, s, w in zip(values, self.mean, self.scale, self.weights)]

    def score(self, text: str, action: str = "ask") -> float:
        return math.fsum(self.contributions(features(text, action)))

    def explain(self, text: str, action: str = "ask") -> Explained:
        return self._explained(features(text, action))

    def explain_actions(self, text: str, actions: Sequence[str]) -> dict[str, Explained]:
        """`explain(text, a)` for each action, the text's features computed once (only the action's
        own one-hot features differ)."""
        base = features(text, "")
        cols = {a: FEATURES.index(f"action_{a}") for a in actions if f"action_{a}" in FEATURES}
        out = {}
        for a in actions:
            v = list(base)
            if a in cols:
                v[cols[a]] = 1.0
            out[a] = self._explained(v)
        return out

    def _explained(self, values: Sequence[float]) -> Explained:
        parts = self.contributions(values)
        score = math.fsum(parts)
        top = sorted(((n, c) for n, c in zip(FEATURES, parts) if abs(c) >= 0.01), key=lambda nc: -abs(nc[1]))
        return Explained(score, sigmoid(self.p1[0] * score + self.p1[1]), sigmoid(self.p2[0] * score + self.p2[1]),
                         tuple(top[:TOP_FEATURES]))

    def score_at_quantile(self, p: float) -> float:
        q = self.quantiles
        x = min(max(p, 0.0), 1.0) * (len(q) - 1)
        i = min(int(x), len(q) - 2)
        return q[i] + (x - i) * (q[i + 1] - q[i])


@lru_cache(maxsize=4)
def load_coldstart(path: str | None = None) -> ColdStartModel:
    p = Path(path) if path else COLDSTART_PATH
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no cold-start weights at {p}: reinstall hybridlsp, or set routing.difficulty = 'keywords'"
        ) from None
    return ColdStartModel.from_json(data)


class ColdStartEstimator:
    """Tier 3 / tier 2 for the top two bands of the score; below them it abstains to the rules."""

    def __init__(self, model: ColdStartModel, cloud_share_target: float = 0.2, default_tier: int = 1,
                 keywords: KeywordEstimator | None = None, keywords_first: bool = False):
        if not 0 < cloud_share_target < 1:
            raise ValueError(f"cloud_share_target must be between 0 and 1, not {cloud_share_target!r}")
        self.model = model
        self.default_tier = default_tier
        self.keywords = keywords
        self.keywords_first = keywords_first
        self.cloud_score = model.score_at_quantile(1 - cloud_share_target)
        low = 1 - 2 * cloud_share_target
        self.tier2_score = model.score_at_quantile(low) if low > 0 else -math.inf

    def explain(self, text: str, action: str = "ask") -> Explained:
        return self.model.explain(text, action)

    def estimate(self, text: str, action: str, head: Sequence[int] | None = None) -> Estimate | None:
        if self.keywords_first and self.keywords is not None:
            est = self.keywords.estimate(text, action)
            if est is not None:
                return est
        if len(text) < self.model.min_chars:
            return self._abstain(text, action, f"cold-start abstains: {len(text)} chars is shorter than any "
                                               f"prompt it learned from ({self.model.min_chars})")
        e = self.model.explain(text, action)
        probs = f"p(tier 1 enough) {e.p_tier1:.2f}, p(tier 2 enough) {e.p_tier2:.2f}"
        if e.score >= self.cloud_score:
            return Estimate(3, e.hardness, f"cold-start {probs}; hardness {e.score:+.2f} >= cloud band "
                                          f"{self.cloud_score:+.2f} -> tier 3; moved by {e.moved_by()}")
        if e.score >= self.tier2_score:
            return Estimate(2, e.hardness, f"cold-start {probs}; hardness {e.score:+.2f} >= tier-2 band "
                                          f"{self.tier2_score:+.2f} -> tier 2; moved by {e.moved_by()}")
        return self._abstain(text, action, f"cold-start {probs}; abstains: hardness {e.score:+.2f} below the "
                                           f"tier-2 band {self.tier2_score:+.2f}; moved by {e.moved_by()}")

    def _abstain(self, text: str, action: str, why: str) -> Estimate:
        if not self.keywords_first and self.keywords is not None:
            est = self.keywords.estimate(text, action)
            if est is not None:
                return Estimate(est.tier, est.score, f"{why}; {est.reason}")
        t = self.default_tier
        return Estimate(t, (t - 1) / 2, f"{why} -> default tier {t}")

    def estimate_many(self, texts: Sequence[str], action: str,
                      heads: Sequence[Sequence[int] | None] | None = None) -> list[Estimate | None]:
        return [self.estimate(t, action) for t in texts]


def from_settings(s) -> ColdStartEstimator:
    """The estimator for `routing.difficulty = "coldstart"` (registered by the package's __init__)."""
    r = s.routing
    return _coldstart_for(tuple(r.tier1_keywords), tuple(r.tier2_keywords), tuple(r.tier3_keywords),
                          r.cloud_share_target, r.default_tier)


@lru_cache(maxsize=16)  # the policy asks on every decision: one estimator per configuration
def _coldstart_for(t1: tuple[str, ...], t2: tuple[str, ...], t3: tuple[str, ...], share: float,
                   default_tier: int) -> ColdStartEstimator:
    return ColdStartEstimator(load_coldstart(), share, default_tier, KeywordEstimator(list(t1), list(t2), list(t3)))

