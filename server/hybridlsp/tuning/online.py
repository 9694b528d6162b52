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
import os
import random
import re
import threading
import time
import zlib
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..routing.difficulty import Estimate

__all__ = ["Features", "features", "OnlineLearner", "Shares", "UserModel", "UserEstimator", "STATE_VERSION",
           "STATE_FILE", "ADAPTED", "outcome_of", "replay", "state_path", "shares_for"]

STATE_VERSION = 1
STATE_FILE = "learner.json"  # beside the ledger
ADAPTED = "adapted to you"  # in the reason of every decision this estimate makes
BUCKETS = 1 << 12  # hashed features; small on purpose: a user's stream is hundreds of requests
W_MAX = 3.0  # no weight goes past this
BIAS = 0  # feature index of the constant
WINDOW = 200  # recent scores the share thresholds are read from
_WORD_RE = re.compile(r"[a-z][a-z0-9_]+")
_HEAD_CHARS = 400
_SIZES = ((60, "xs"), (250, "s"), (1000, "m"), (4000, "l"))


def _hash(kind: str, value: str) -> int:
    return 1 + zlib.crc32(f"{kind}:{value}".encode()) % (BUCKETS - 1)


@dataclass(frozen=True)
class Features:
    """A request as the learner sees it: the prior's gain estimate and sparse hashed features."""

    prior_gain: float  # the cold-start estimate of quality(tier 3) - quality(tier 1), in -1..1
    sparse: dict[int, float]
    draw: float = -1.0  # 0..1 from the text's hash: whether (and where) this request explores; -1: at random


def features(text: str, action: str, input_tokens: int, prior_gain: float) -> Features:
    """`prior_gain`: the cold-start estimate of what the cloud adds over tier 1 (-1..1)."""
    x: dict[int, float] = {BIAS: 1.0, _hash("action", action): 1.0}
    size = next((name for bound, name in _SIZES if input_tokens < bound), "xl")
    x[_hash("size", size)] = 1.0
    words = set(_WORD_RE.findall(text[:_HEAD_CHARS].lower()))
    if words:
        v = 1.0 / math.sqrt(len(words))
        for w in words:
            i = _hash("word", w)
            x[i] = x.get(i, 0.0) + v
    # the same text always explores the same way, so a preview (a code action's title) and the run agree
    draw = zlib.crc32(text.encode("utf-8", "surrogatepass")) / 2**32
    return Features(max(-1.0, min(1.0, prior_gain)), x, draw)


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
    """E[quality of this tier | features]: linear, least squares, weights bounded."""

    weights: dict[int, float] = field(default_factory=lambda: {BIAS: 0.5})
    updates: int = 0

    def score(self, x: Features) -> float:
        w = self.weights
        return sum(w.get(i, 0.0) * v for i, v in x.sparse.items())


@dataclass
class OnlineLearner:
    """Per-tier quality models moved by the outcomes of the tier tried, blended with the prior.

    Before any outcome the decision is the prior's (its gain estimate ranks the requests); the
    learned difference between the tiers takes over as outcomes arrive: its weight is
    n / (n + `trust_after`), n the outcomes seen of the less-tried tier of the pair compared.
    """

    shares: Shares = field(default_factory=Shares)
    lr: float = 0.05
    l2: float = 0.001
    explore: float = 0.05
    trust_after: int = 200
    seed: int = 0
    models: dict[int, _TierModel] = field(default_factory=dict)
    recent: dict[str, deque] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for t in (1, 2, 3):
            self.models.setdefault(t, _TierModel())
        for k in ("cloud", "tier2"):
            self.recent.setdefault(k, deque(maxlen=WINDOW))
        self._rng = random.Random(self.seed)

    # ---- estimates and decisions -------------------------------------------------------------

    def quality(self, tier: int, x: Features) -> float:
        """The learned estimate of `tier`'s quality on this request (0..1)."""
        return max(0.0, min(1.0, self.models[tier].score(x)))

    def _trust(self, a: int, b: int) -> float:
        n = min(self.models[a].updates, self.models[b].updates)
        return n / (n + self.trust_after) if self.trust_after else 1.0

    def gains(self, x: Features) -> tuple[float, float]:
        """What the cloud adds over the best local tier, and tier 2 over tier 1: prior and learned, blended."""
        q1, q2, q3 = (self.quality(t, x) for t in (1, 2, 3))
        t3, t2 = self._trust(1, 3), self._trust(1, 2)
        cloud = (1 - t3) * x.prior_gain + t3 * (q3 - max(q1, q2))
        tier2 = (1 - t2) * x.prior_gain / 2 + t2 * (q2 - q1)
        return cloud, tier2

    @staticmethod
    def _rank(seen: deque, v: float) -> float:
        """Share of recent requests with a lower value (0.5 before any were seen)."""
        if not seen:
            return 0.5
        below = sum(1 for q in seen if q < v) + 0.5 * sum(1 for q in seen if q == v)
        return below / len(seen)

    def observe(self, x: Features) -> None:
        """Count a request in the recent windows the share thresholds are read from."""
        cloud, tier2 = self.gains(x)
        stays_local = self._rank(self.recent["cloud"], cloud) < 1 - self.shares.tier3
        self.recent["cloud"].append(cloud)
        if stays_local:  # tier 1's share is of the requests that stay local
            self.recent["tier2"].append(tier2)

    def decide(self, x: Features, record: bool = True) -> tuple[int, str]:
        """The tier for a request, and why (the gains and the share they fell in). `record=False`
        for a preview (a code action's title): it leaves the recent windows alone."""
        cloud, tier2 = self.gains(x)
        rc, r2 = self._rank(self.recent["cloud"], cloud), self._rank(self.recent["tier2"], tier2)
        s = self.shares
        if record:
            self.observe(x)
        draw = x.draw if x.draw >= 0 else self._rng.random()
        if draw < self.explore:
            u = draw / self.explore  # where in the exploring share it fell: uniform on 0..1
            tier = 1 if u < s.tier1 else 3 if u >= 1 - s.tier3 else 2
            return tier, f"exploring: tier {tier} at random"
        if rc >= 1 - s.tier3:
            return 3, f"the cloud adds {cloud:+.2f}, in the top {s.tier3:.0%} of recent requests -> tier 3"
        local_tier1 = s.tier1 / (1 - s.tier3) if s.tier3 < 1 else 1.0
        if r2 < local_tier1:
            return 1, f"tier 2 adds {tier2:+.2f}, in the bottom {s.tier1:.0%} -> tier 1"
        return 2, f"tier 2 adds {tier2:+.2f} -> tier 2"

    # ---- learning ----------------------------------------------------------------------------

    def update(self, tier: int, x: Features, quality: float) -> None:
        """One outcome: the quality (0..1; 1 = the answer was enough) of `tier` on request `x`."""
        if tier not in self.models:
            return  # the embedded last resort is not estimated
        if not 0.0 <= quality <= 1.0:
            raise ValueError(f"an outcome is in 0..1, not {quality!r}")
        m = self.models[tier]
        g = m.score(x) - quality
        norm = sum(v * v for v in x.sparse.values()) or 1.0
        step = self.lr / norm  # normalised: one outcome moves the estimate by at most lr of its error
        for i, v in x.sparse.items():
            w = m.weights.get(i, 0.0)
            w -= step * g * v + self.l2 * (w - (0.5 if i == BIAS else 0.0))
            m.weights[i] = max(-W_MAX, min(W_MAX, w))
        m.updates += 1

    def reset(self) -> None:
        for t in self.models:
            self.models[t] = _TierModel()
        for q in self.recent.values():
            q.clear()

    # ---- state -------------------------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "version": STATE_VERSION,
            "models": {str(t): {"weights": {str(i): round(w, 6) for i, w in m.weights.items() if w != 0.0},
                                "updates": m.updates} for t, m in self.models.items()},
            "recent": {k: [round(p, 5) for p in q] for k, q in self.recent.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping, **kwargs) -> OnlineLearner:
        """A learner from saved state; a state of another version is ignored (the prior decides)."""
        learner = cls(**kwargs)
        if data.get("version") != STATE_VERSION:
            return learner
        for t, saved in (data.get("models") or {}).items():
            if not str(t).isdigit() or int(t) not in learner.models:
                continue
            m = learner.models[int(t)]
            m.weights = {int(i): max(-W_MAX, min(W_MAX, float(w))) for i, w in saved.get("weights", {}).items()}
            m.updates = int(saved.get("updates", 0))
        for k, ps in (data.get("recent") or {}).items():
            if k in learner.recent:
                learner.recent[k].extend(float(p) for p in ps[-WINDOW:])
        return learner

    def save(self, path: Path) -> None:
        _write_state(path, json.dumps(self.to_json(), separators=(",", ":")))

    @classmethod
    def load(cls, path: Path, **kwargs) -> OnlineLearner:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(**kwargs)
        return cls.from_json(data if isinstance(data, dict) else {}, **kwargs)


def shares_for(settings) -> Shares:
    """The tier shares of `routing.cloud_share_target`, as the learned estimate's bands: the top
    share to the cloud, the next to tier 2, the rest to tier 1."""
    t = settings.routing.cloud_share_target
    return Shares(tier1=max(0.0, 1 - 2 * t), tier3=t)


def state_path(ledger_path) -> Path | None:
    """The learner's file beside the ledger (None for an in-memory ledger)."""
    return None if str(ledger_path) == ":memory:" else Path(str(ledger_path)).with_name(STATE_FILE)


def _write_state(path: Path, state: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # a file of its own per writer, renamed over the state: never a half-written state, and two
    # writers (two requests, or two editors' servers) never write into one file; the last wins
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    tmp.write_text(state, encoding="utf-8")
    tmp.replace(path)


class UserModel:
    """The learner as the engine uses it: one per user (the state file lives beside the ledger).

    The engine asks `decide` for an ask request, then reports `tried` (the tier tried first and
    the features), then `answered` (whether that tier's answer was enough: no escalation, its check
    passed). Later evidence corrects an outcome: a "bad" verdict (`feedback`), or the same text
    asked again with an explicit bigger tier within `retry_window_s` (`tried` notices). Only the
    last `PENDING` requests are remembered for that, in memory: no prompt text is kept anywhere.
    """

    PENDING = 256

    def __init__(self, path: Path | None, shares: Shares = Shares(), *, retry_window_s: float = 600.0,
                 clock=None, autosave: bool = True, **learner_kwargs):
        self.path = path
        self.autosave = autosave  # False: the caller saves (the engine, off its event loop)
        self.retry_window_s = retry_window_s
        self.clock = clock or time.monotonic
        self._kwargs = {"shares": shares, **learner_kwargs}
        self.learner = OnlineLearner.load(path, **self._kwargs) if path else OnlineLearner(**self._kwargs)
        self._pending: OrderedDict[str, tuple[int, Features, float]] = OrderedDict()  # id -> (tier, x, outcome)
        self._by_text: OrderedDict[str, tuple[str, int, float]] = OrderedDict()  # text key -> (id, tier, when)

    def decide(self, x: Features, record: bool = True) -> tuple[int, str]:
        return self.learner.decide(x, record)

    @property
    def outcomes(self) -> int:
        return sum(m.updates for m in self.learner.models.values())

    def tried(self, request_id: str, text_key: str, tier: int, x: Features, explicit: bool = False) -> None:
        """`tier` was tried first for `request_id`; `explicit`: the user chose it (a tier flag)."""
        now = self.clock()
        earlier = self._by_text.get(text_key)
        if earlier is not None and explicit and now - earlier[2] <= self.retry_window_s and tier > earlier[1]:
            self._correct(earlier[0], 0.0)  # asked again on a bigger tier: the first was not enough
        self._by_text[text_key] = (request_id, tier, now)
        self._by_text.move_to_end(text_key)
        if not explicit:  # a tier the user chose says nothing about the estimate
            self._pending[request_id] = (tier, x, -1.0)
            self.learner.observe(x)  # the share thresholds follow the requests really sent
        for table in (self._by_text, self._pending):
            while len(table) > self.PENDING:
                table.popitem(last=False)

    def answered(self, request_id: str, enough: bool) -> None:
        got = self._pending.get(request_id)
        if got is None:
            return
        tier, x, _ = got
        self._pending[request_id] = (tier, x, 1.0 if enough else 0.0)
        self.learner.update(tier, x, 1.0 if enough else 0.0)
        if self.autosave:
            self.save()

    def feedback(self, request_id: str, verdict: str) -> None:
        if verdict == "bad":
            self._correct(request_id, 0.0)

    def _correct(self, request_id: str, enough: float) -> None:
        got = self._pending.get(request_id)
        if got is None or got[2] == enough:
            return
        tier, x, _ = got
        self._pending[request_id] = (tier, x, enough)
        self.learner.update(tier, x, enough)  # one more step toward the corrected outcome
        if self.autosave:
            self.save()

    def snapshot(self) -> str:
        return json.dumps(self.learner.to_json(), separators=(",", ":"))

    def write(self, state: str) -> None:
        """Write a `snapshot` (in a worker thread if need be: it reads nothing that changes)."""
        if self.path is not None:
            _write_state(self.path, state)

    def save(self) -> None:
        self.write(self.snapshot())

    def reset(self) -> None:
        """Forget everything learned: routing is the cold-start estimate again."""
        self.learner = OnlineLearner(**self._kwargs)
        self._pending.clear()
        self._by_text.clear()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class UserEstimator:
    """A difficulty estimate (`routing.difficulty.Estimator`) that decides ask prompts with a
    `UserModel`, the cold-start estimate's score as its prior. Deciding records nothing (a code
    action's title asks too); the engine reports what was tried (`UserModel.tried`)."""

    def __init__(self, base, user: UserModel):
        self.base = base  # the cold-start Estimator, or None
        self.user = user

    def features(self, text: str, action: str, head=None) -> Features:
        e = self.base.estimate(text, action, head) if self.base is not None else None
        # the learned score is 0.5 + E[gain] / 2; an estimate that abstains says nothing
        return features(text, action, len(text) // 4, 0.0 if e is None else 2 * e.score - 1)

    def estimate(self, text: str, action: str, head=None):
        x = self.features(text, action, head)
        tier, why = self.user.decide(x, record=False)
        cloud, _ = self.user.learner.gains(x)
        n = self.user.outcomes
        return Estimate(tier, (cloud + 1) / 2, f"{why} ({ADAPTED}: {n:,} outcome{'s' * (n != 1)})")


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
