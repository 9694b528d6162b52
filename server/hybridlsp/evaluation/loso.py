"""Leave-one-source-out figures: what a router keeps on prompts from a source it never saw.

Pure functions of (each prompt's quality on tiers 1, 2, 3; the tier decided for it). A source's
figures, all as shares of its all-tier-3 quality Q3 = mean q3:

- tier shares s_t: the share of its prompts decided to tier t;
- kept: mean quality of the decided tiers / Q3;
- random: a router that sends the same shares to each tier at random keeps, in expectation,
  sum_t s_t * mean(q_t) / Q3 (exact, no sampling);
- gain = kept - random, in points (x100): what the ranking of prompts earned. A router that
  sends every prompt of a source to one tier gains exactly 0 there, whatever that costs;
- oracle: the most any assignment with the same shares keeps (knowing every q); its gain over
  random gives the scale of the headroom.

The oracle is a transportation problem (n prompts, 3 tiers, fixed counts). Its linear
relaxation has an integral optimum, so its value is the minimum over tier prices (l2, l3; l1 = 0)
of  sum_i max(q1_i, q2_i - l2, q3_i - l3) + n2 * l2 + n3 * l3,  a convex function. For a fixed
l3 the best l2 is an order statistic; the outer minimum over l3 is found by golden-section
search to 1e-9, which fixes the mean to better than 1e-8.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SourceFigures", "figures", "oracle_quality", "random_quality", "shares_of"]

Q = Sequence[float]  # one prompt's (q1, q2, q3)


def shares_of(tiers: Sequence[int]) -> tuple[float, float, float]:
    n = len(tiers)
    if not n:
        raise ValueError("no prompts")
    return tuple(sum(1 for t in tiers if t == k) / n for k in (1, 2, 3))  # type: ignore[return-value]


def random_quality(qs: Sequence[Q], shares: Sequence[float]) -> float:
    """Expected mean quality of a random router with these tier shares: sum_t s_t * mean(q_t)."""
    n = len(qs)
    return math.fsum(shares[t] * math.fsum(q[t] for q in qs) / n for t in range(3))


def _counts(n: int, shares: Sequence[float]) -> tuple[int, int]:
    n3 = round(shares[2] * n)
    n2 = round(shares[1] * n)
    if n2 + n3 > n:
        n2 = n - n3
    return n2, n3


def _best_for_l3(q1: list[float], q2: list[float], q3: list[float], n2: int, n3: int, l3: float) -> float:
    n = len(q1)
    a = [max(x, z - l3) for x, z in zip(q1, q3)]
    if n2 == 0:
        l2 = max((y - ai for y, ai in zip(q2, a)), default=0.0) + 1.0  # tier 2 priced out
    else:
        d = sorted((y - ai for y, ai in zip(q2, a)), reverse=True)
        l2 = d[n2 - 1] if n2 < n else min(d) - 1.0
        if n2 == n:
            l2 = d[-1]
    return math.fsum(max(ai, y - l2) for ai, y in zip(a, q2)) + n2 * l2 + n3 * l3


def oracle_quality(qs: Sequence[Q], shares: Sequence[float]) -> float:
    """The best mean quality of any assignment of prompts to tiers with these shares."""
    n = len(qs)
    if not n:
        raise ValueError("no prompts")
    n2, n3 = _counts(n, shares)
    q1 = [float(q[0]) for q in qs]
    q2 = [float(q[1]) for q in qs]
    q3 = [float(q[2]) for q in qs]
    if n3 == 0 and n2 == 0:
        return math.fsum(q1) / n
    span = max(map(abs, q1 + q2 + q3)) * 2 + 2
    if n3 == 0:  # tier 3 priced out of reach
        return _best_for_l3(q1, q2, q3, n2, 0, span) / n
    lo, hi = -span, span
    g = (math.sqrt(5) - 1) / 2
    x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
    f1 = _best_for_l3(q1, q2, q3, n2, n3, x1)
    f2 = _best_for_l3(q1, q2, q3, n2, n3, x2)
    while hi - lo > 1e-9:
        if f1 <= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - g * (hi - lo)
            f1 = _best_for_l3(q1, q2, q3, n2, n3, x1)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + g * (hi - lo)
            f2 = _best_for_l3(q1, q2, q3, n2, n3, x2)
    return min(f1, f2) / n


@dataclass(frozen=True)
class SourceFigures:
    n: int
    shares: tuple[float, float, float]
    quality: float  # mean quality as decided
    quality_random: float
    quality_oracle: float
    quality_all_cloud: float

    @property
    def kept(self) -> float:
        return self.quality / self.quality_all_cloud

    @property
    def kept_random(self) -> float:
        return self.quality_random / self.quality_all_cloud

    @property
    def gain(self) -> float:
        """Points of all-cloud quality over a random router with the same shares."""
        return 100 * (self.quality - self.quality_random) / self.quality_all_cloud

    @property
    def oracle_gain(self) -> float:
        return 100 * (self.quality_oracle - self.quality_random) / self.quality_all_cloud


def figures(qs: Sequence[Q], tiers: Sequence[int], with_oracle: bool = True) -> SourceFigures:
    """One source's figures for the tiers decided for its prompts (`qs[i]` = prompt i's q1..q3)."""
    if len(qs) != len(tiers):
        raise ValueError(f"{len(qs)} prompts but {len(tiers)} decisions")
    if any(t not in (1, 2, 3) for t in tiers):
        raise ValueError("tiers must be 1, 2 or 3")
    n = len(qs)
    shares = shares_of(tiers)
    quality = math.fsum(q[t - 1] for q, t in zip(qs, tiers)) / n
    all_cloud = math.fsum(q[2] for q in qs) / n
    if all_cloud <= 0:
        raise ValueError("all-tier-3 quality is 0 here: nothing to keep a share of")
    oracle = oracle_quality(qs, shares) if with_oracle else float("nan")
    return SourceFigures(n, shares, quality, random_quality(qs, shares), oracle, all_cloud)
