"""Leave-one-source-out figures (hybridlsp.evaluation.loso): shares, kept, the random router at the
same shares, the oracle, gain in points. Small tables of hand-made prompts; no data files."""

import itertools
import random

import pytest

from hybridlsp.evaluation.loso import figures, oracle_quality, random_quality, shares_of

# (qualities of tiers 1-3 per prompt, decided tiers, expected quality, random, oracle)
CASES = [
    # two prompts, the hard one (only tier 3 solves it) sent to the cloud: the oracle's choice
    ([(1, 1, 1), (0, 0, 1)], [1, 3], 1.0, 0.75, 1.0),
    # the same shares, the wrong way round: worse than random by as much
    ([(1, 1, 1), (0, 0, 1)], [3, 1], 0.5, 0.75, 1.0),
    # all on one tier: quality = random (a router that does not rank gains nothing)
    ([(1, 0, 1), (0, 1, 1), (0, 0, 0)], [1, 1, 1], 1 / 3, 1 / 3, 1 / 3),
    ([(1, 0, 1), (0, 1, 1), (0, 0, 0)], [3, 3, 3], 2 / 3, 2 / 3, 2 / 3),
    # three tiers: tier 2 suits prompt 2, tier 1 prompt 1, nobody solves prompt 3
    ([(1, 0, 1), (0, 1, 1), (0, 0, 0)], [1, 2, 3], 2 / 3, (1 / 3 + 1 / 3 + 2 / 3) / 3, 2 / 3),
    # soft scores (judge / partial credit)
    ([(0.2, 0.5, 0.9), (0.8, 0.8, 0.8)], [3, 1], 0.85, (0.5 + 0.85) / 2, 0.85),
]


@pytest.mark.parametrize("qs, tiers, quality, rand, oracle", CASES)
def test_figures_table(qs, tiers, quality, rand, oracle):
    f = figures(qs, tiers)
    all_cloud = sum(q[2] for q in qs) / len(qs)
    assert f.quality == pytest.approx(quality)
    assert f.quality_random == pytest.approx(rand)
    assert f.quality_oracle == pytest.approx(oracle, abs=1e-7)
    assert f.kept == pytest.approx(quality / all_cloud)
    assert f.gain == pytest.approx(100 * (quality - rand) / all_cloud)
    assert f.oracle_gain == pytest.approx(100 * (oracle - rand) / all_cloud, abs=1e-5)


def test_random_is_share_weighted_mean_of_each_tier():
    qs = [(0.1, 0.4, 0.9), (0.3, 0.2, 0.5), (0.0, 1.0, 1.0), (0.5, 0.5, 0.5)]
    shares = (0.5, 0.25, 0.25)
    means = [sum(q[t] for q in qs) / 4 for t in range(3)]
    assert random_quality(qs, shares) == pytest.approx(sum(s * m for s, m in zip(shares, means)))


@pytest.mark.parametrize("seed", range(40))
def test_oracle_equals_brute_force(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 7)
    qs = [tuple(rng.choice([0, 0.25, 0.5, 1, rng.random()]) for _ in range(3)) for _ in range(n)]
    tiers = [rng.randint(1, 3) for _ in range(n)]
    best = max(sum(q[t - 1] for q, t in zip(qs, p)) / n for p in set(itertools.permutations(tiers)))
    assert oracle_quality(qs, shares_of(tiers)) == pytest.approx(best, abs=1e-7)


def test_oracle_is_never_below_the_router_nor_random():
    rng = random.Random(3)
    qs = [tuple(rng.random() for _ in range(3)) for _ in range(300)]
    tiers = [rng.choice([1, 1, 2, 3]) for _ in qs]
    f = figures(qs, tiers)
    assert f.quality_oracle >= f.quality - 1e-9
    assert f.quality_oracle >= f.quality_random - 1e-9


@pytest.mark.parametrize("qs, tiers, message", [
    ([(1, 1, 1)], [1, 2], "1 prompts but 2 decisions"),
    ([(1, 1, 1)], [4], "tiers must be 1, 2 or 3"),
    ([(0, 0, 0)], [1], "all-tier-3 quality is 0"),
])
def test_figures_refuses(qs, tiers, message):
    with pytest.raises(ValueError, match=message):
        figures(qs, tiers)
