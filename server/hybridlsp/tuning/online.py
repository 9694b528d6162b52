"""Learning from the user: a per-user, online correction of the difficulty estimate.

What it learns from. The ledger knows, for each request, the tier tried first and whether that
tier's answer was enough: an escalation (a failed check or a low-confidence signal), a validator
failure, a "bad" verdict, or the same request retried on a bigger tier all say it was not. Those are
outcomes of the tier tried only (bandit feedback): nothing says how another tier would have done.

What it is. For tier 1 and tier 2, a logistic model of p(this tier's answer is enough), over a few
features that mean the same for every user: the prior estimate's score (as a logit), the action,
the size bucket, and hashed words of the prompt's head. It starts at the prior (the weight on the
prior's logit is 1, every other weight 0), so before any outcome it decides as the cold-start
estimate does; each outcome moves it by one bounded step:

- bounded: every weight is clipped to +-W_MAX and decays toward its start (L2), so no run of
  outcomes drives the estimate far from the prior, and old evidence fades;
- reversible: the state is one JSON file beside the ledger; `hybridlsp tune --reset` deletes it
  and routing is the cold-start estimate again.

Deciding. Tiers keep to target shares (tier 3 at `routing.cloud_share_target`): a prompt goes to
tier 1 when its p1 is in the top share of recent prompts' p1, to tier 3 when its p2 is in the
bottom cloud share of recent p2, else tier 2. A small share of decisions explores (a random tier
at the same shares), so a tier the model rates badly still gets outcomes.
"""

from __future__ import annotations

import json
import math
import random
import re
import zlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Features", "features", "OnlineLearner", "Shares", "STATE_VERSION", "outcome_of", "replay"]

STATE_VERSION = 1
BUCKETS = 1 << 12  # hashed features; small on purpose: a user's stream is hundreds of requests
W_MAX = 3.0  # no weight goes past this
PRIOR = 0  # feature index of the prior's logit
BIAS = 1
WINDOW = 200  # recent scores the share thresholds are read from
_WORD_RE = re.compile(r"[a-z][a-z0-9_]+")
_HEAD_CHARS = 400
_SIZES = ((60, "xs"), (250, "s"), (1000, "m"), (4000, "l"))


def _logit(p: float) -> float:
    p = min(max(p, 1e-3), 1 - 1e-3)
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def _hash(kind: str, value: str) -> int:
    return 2 + zlib.crc32(f"{kind}:{value}".encode()) % (BUCKETS - 2)


Features = dict[int, float]


def features(text: str, action: str, input_tokens: int, prior_enough: float) -> Features:
    """Sparse features of a request. `prior_enough`: the cold-start p(tier 1 is enough)."""
    x: Features = {PRIOR: _logit(prior_enough), BIAS: 1.0}
    x[_hash("action", action)] = 1.0
    size = next((name for bound, name in _SIZES if input_tokens < bound), "xl")
    x[_hash("size", size)] = 1.0
    words = set(_WORD_RE.findall(text[:_HEAD_CHARS].lower()))
    if words:
        v = 1.0 / math.sqrt(len(words))
        for w in words:
            i = _hash("word", w)
            x[i] = x.get(i, 0.0) + v
    return x


@dataclass(frozen=True)
class Shares:
    """Target share of each tier (tier 3 = the cloud share); tier 2 takes the rest."""

    tier1: float = 0.5
    tier3: float = 0.2

    def __post_init__(self) -> None:
        if not (0 <= self.tier1 <= 1 and 0 <= self.tier3 <= 1 and self.tier1 + self.tier3 <= 1):
            raise ValueError(f"shares must be in 0..1 and sum to at most 1: {self}")


@dataclass
class _TierModel:
    weights: dict[int, float]
    start: dict[int, float]
    updates: int = 0

    def score(self, x: Features) -> float:
        w = self.weights
        return _sigmoid(sum(w.get(i, 0.0) * v for i, v in x.items()))


def _start(offset: float) -> dict[int, float]:
    return {PRIOR: 1.0, BIAS: offset}


@dataclass
class OnlineLearner:
    """p(tier t is enough) for t = 1, 2, moved by the outcomes of the tier tried.

    `tier2_offset`: how much likelier tier 2 is enough than tier 1 before any outcome (a logit).
    """

    shares: Shares = field(default_factory=Shares)
    lr: float = 0.3
    l2: float = 0.01
    explore: float = 0.05
    tier2_offset: float = 1.0
    seed: int = 0
    models: dict[int, _TierModel] = field(default_factory=dict)
    recent: dict[int, deque] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for t, off in ((1, 0.0), (2, self.tier2_offset)):
            self.models.setdefault(t, _TierModel(_start(off), _start(off)))
            self.recent.setdefault(t, deque(maxlen=WINDOW))
        self._rng = random.Random(self.seed)

    # ---- estimates and decisions -------------------------------------------------------------

    def p_enough(self, tier: int, x: Features) -> float:
        if tier == 3:
            return 1.0
        return self.models[tier].score(x)

    def _rank(self, tier: int, p: float) -> float:
        """Share of recent prompts with a lower p for `tier` (0.5 before any were seen)."""
        seen = self.recent[tier]
        if not seen:
            return 0.5
        below = sum(1 for q in seen if q < p) + 0.5 * sum(1 for q in seen if q == p)
        return below / len(seen)

    def decide(self, x: Features) -> tuple[int, str]:
        """The tier for a request, and why (the probabilities and the share they fell in)."""
        p1, p2 = self.p_enough(1, x), self.p_enough(2, x)
        r1, r2 = self._rank(1, p1), self._rank(2, p2)
        self.recent[1].append(p1)
        self.recent[2].append(p2)
        s = self.shares
        if self._rng.random() < self.explore:
            u = self._rng.random()
            tier = 1 if u < s.tier1 else 3 if u >= 1 - s.tier3 else 2
            return tier, f"exploring: tier {tier} at random (p1 {p1:.2f}, p2 {p2:.2f})"
        if r1 >= 1 - s.tier1:
            return 1, f"p(tier 1 is enough) {p1:.2f}, in the top {s.tier1:.0%} of recent requests -> tier 1"
        if r2 < s.tier3:
            return 3, f"p(tier 2 is enough) {p2:.2f}, in the bottom {s.tier3:.0%} of recent requests -> tier 3"
        return 2, f"p1 {p1:.2f}, p2 {p2:.2f} -> tier 2"

    # ---- learning ----------------------------------------------------------------------------

    def update(self, tier: int, x: Features, enough: float) -> None:
        """One outcome of `tier` on the request with features `x`: enough in 0..1 (1 = it was)."""
        if tier not in self.models:
            return  # tier 3 (and the embedded last resort) are not estimated
        if not 0.0 <= enough <= 1.0:
            raise ValueError(f"an outcome is in 0..1, not {enough!r}")
        m = self.models[tier]
        g = m.score(x) - enough
        for i, v in x.items():
            w = m.weights.get(i, 0.0)
            w -= self.lr * (g * v + self.l2 * (w - m.start.get(i, 0.0)))
            m.weights[i] = max(-W_MAX, min(W_MAX, w))
        m.updates += 1

    def reset(self) -> None:
        for t, m in self.models.items():
            m.weights = dict(m.start)
            m.updates = 0
            self.recent[t].clear()

    # ---- state -------------------------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "version": STATE_VERSION,
            "models": {str(t): {"weights": {str(i): round(w, 6) for i, w in m.weights.items() if w != 0.0},
                                "updates": m.updates} for t, m in self.models.items()},
            "recent": {str(t): [round(p, 5) for p in q] for t, q in self.recent.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping, **kwargs) -> OnlineLearner:
        """A learner from saved state; a state of another version is ignored (the prior decides)."""
        learner = cls(**kwargs)
        if data.get("version") != STATE_VERSION:
            return learner
        for t, saved in (data.get("models") or {}).items():
            m = learner.models.get(int(t))
            if m is None:
                continue
            m.weights = {int(i): max(-W_MAX, min(W_MAX, float(w))) for i, w in saved.get("weights", {}).items()}
            m.updates = int(saved.get("updates", 0))
        for t, ps in (data.get("recent") or {}).items():
            if int(t) in learner.recent:
                learner.recent[int(t)].extend(float(p) for p in ps[-WINDOW:])
        return learner

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)  # never a half-written state

    @classmethod
    def load(cls, path: Path, **kwargs) -> OnlineLearner:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(**kwargs)
        return cls.from_json(data if isinstance(data, dict) else {}, **kwargs)


def outcome_of(escalated: bool, validator_failed: bool, bad: bool, retried_higher: bool) -> float:
    """What the ledger says about the tier tried first: 0 when anything says it was not enough."""
    return 0.0 if (escalated or validator_failed or bad or retried_higher) else 1.0


def replay(stream: Iterable[tuple[Features, Sequence[float]]], learner: OnlineLearner,
           learn: bool = True) -> list[tuple[int, float]]:
    """Run `learner` over (features, quality of tier 1, 2, 3) with feedback for the chosen tier only.
    Returns (tier chosen, quality got) per request."""
    out = []
    for x, q in stream:
        tier, _ = learner.decide(x)
        got = q[tier - 1]
        if learn:
            learner.update(tier, x, got)
        out.append((tier, got))
    return out
