"""The learned difficulty estimate: interface, shipped weights, determinism, calibration, and the
rules that still win over it. Speed is measured by bench/routing_quality.py, not here."""

import os
import random
import subprocess
import sys
from array import array

import pytest

from hybridlsp.config import settings_from_mapping
from hybridlsp.errors import ConfigError
from hybridlsp.routing import Estimate, LearnedEstimator, RouteRequest, decide, get_estimator
from hybridlsp.routing.learned import (
    FEATURE_VERSION,
    WEIGHTS_PATH,
    LearnedModel,
    calibration_quantiles,
    features,
    load_model,
    tokens,
)


def learned(share=0.2, **routing):
    return settings_from_mapping({"routing": {"difficulty": "learned", "cloud_share_target": share, **routing}})


def req(text="hello", tokens=50, action="ask", **kw):
    return RouteRequest(action=action, text=text, input_tokens=tokens, **kw)


# ---- interface and shipped weights ------------------------------------------------------------

def test_registered_as_learned():
    est = get_estimator(learned())
    assert isinstance(est, LearnedEstimator)
    assert est is get_estimator(learned()), "built once per target share, not per decision"
    assert get_estimator(learned(0.3)).cloud_share_target == 0.3


@pytest.mark.parametrize("text", ["", "x", "Prove that P != NP.", "word " * 5000, "naïve café ☕ 12,345"])
def test_estimate_is_well_formed(text):
    e = get_estimator(learned()).estimate(text, "ask")
    assert isinstance(e, Estimate)
    assert e.tier in (1, 2, 3)
    assert 0 < e.score < 1
    assert e.reason.startswith("learned difficulty") and e.reason.endswith(f"-> tier {e.tier}")


def test_shipped_weights_are_small_and_current():
    assert WEIGHTS_PATH.stat().st_size < 2_000_000
    m = load_model()
    assert len(m.weights) == m.dim and m.dim & (m.dim - 1) == 0
    assert list(m.quantiles) == sorted(m.quantiles) and len(m.quantiles) >= 101


def test_wrong_feature_version_says_to_retrain():
    with pytest.raises(ValueError, match="retrain"):
        LearnedModel.from_json({"feature_version": FEATURE_VERSION + 1})


def test_default_settings_use_hybrid_and_validate_share():
    s = settings_from_mapping({})
    assert s.routing.difficulty == "hybrid" and s.routing.cloud_share_target == 0.2
    for bad in (0, 1, -0.1, 1.5):
        with pytest.raises(ConfigError, match="cloud_share_target"):
            settings_from_mapping({"routing": {"cloud_share_target": bad}})


# ---- determinism ----------------------------------------------------------------------------

def test_tokens_fold_numbers_and_read_only_the_head():
    assert tokens("Add 12 and 7.5!") == ["add", "0", "and", "0", ".", "0", "!"]
    assert tokens("a " * 600) == ["a"] * 500  # MAX_CHARS = 1000


def test_features_do_not_depend_on_the_process():
    # crc32, not hash(): the same buckets whatever PYTHONHASHSEED is
    code = "from hybridlsp.routing.learned import features; print(sorted(features('Why does my regex loop?', 65536)))"
    outs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    }
    assert outs == {str(sorted(features("Why does my regex loop?", 65536))) + "\n"}


def test_same_prompt_same_score():
    est = get_estimator(learned())
    text = "Explain the trade-offs of optimistic locking in a distributed database."
    assert est.estimate(text, "ask") == est.estimate(text, "ask")


# ---- calibration ------------------------------------------------------------------------------

class ByNumber(LearnedModel):
    """The logit is the prompt read as a number: a synthetic set with a known distribution."""

    def logit(self, text):
        return float(text)


def synthetic(seed, n):
    rng = random.Random(seed)
    return [rng.gauss(0.0, 1.0) for _ in range(n)]


def model_for(logits):
    return ByNumber(dim=2, bias=0.0, scale=1.0, weights=array("h", [0, 0]),
                    quantiles=tuple(calibration_quantiles(logits, 201)))


@pytest.mark.parametrize("share", [0.05, 0.1, 0.2, 0.3, 0.45])
def test_thresholds_give_the_target_share(share):
    model = model_for(synthetic(1, 4000))
    est = LearnedEstimator(model, share)
    fresh = synthetic(2, 20000)  # same distribution, prompts not used to calibrate
    tiers = [est.estimate(repr(x), "ask").tier for x in fresh]
    assert tiers.count(3) / len(tiers) == pytest.approx(share, abs=0.02)
    assert tiers.count(2) / len(tiers) == pytest.approx(share, abs=0.02)  # the band below is as wide


def test_high_share_leaves_no_tier_1_band():
    est = LearnedEstimator(model_for(synthetic(1, 4000)), 0.6)
    tiers = [est.estimate(repr(x), "ask").tier for x in synthetic(2, 5000)]
    assert tiers.count(1) == 0
    assert tiers.count(3) / len(tiers) == pytest.approx(0.6, abs=0.03)


def test_thresholds_are_ordered_and_reported():
    est = get_estimator(learned(0.2))
    assert 0 < est.thresholds[2] < est.thresholds[3] < 1
    more_cloud = get_estimator(learned(0.4))
    assert more_cloud.thresholds[3] < est.thresholds[3]


def test_calibration_quantiles():
    assert calibration_quantiles([3.0, 1.0, 2.0], 5) == [1.0, 1.5, 2.0, 2.5, 3.0]
    with pytest.raises(ValueError):
        calibration_quantiles([1.0], 5)


# ---- what still wins over it ------------------------------------------------------------------

# Nearly everything is "hard" at a 99 % cloud share, so these show the rules winning, not luck.
EAGER = learned(0.99)


def test_eager_estimate_would_send_to_cloud():
    d = decide(req("Tell me about databases"), EAGER)
    assert d.tier == 3 and d.reasons[0].startswith("learned difficulty")


@pytest.mark.parametrize(
    "request_,tier,reason",
    [
        (req("[local] Tell me about databases"), 1, "prompt flag"),
        (req("[tier2] Tell me about databases"), 2, "prompt flag"),
        (req("Tell me about databases", tier_override=1), 1, "explicit tier 1"),
        (req("Tell me about databases", action="explain"), 1, "explain"),
        (req("Tell me about databases", action="complete"), 1, "complete"),
    ],
)
def test_flags_and_actions_win(request_, tier, reason):
    d = decide(request_, EAGER)
    assert d.tier == tier
    assert reason in " ".join(d.reasons)
    assert not any(r.startswith("learned difficulty") for r in d.reasons)


@pytest.mark.parametrize(
    "request_,why",
    [
        (req("Tell me about databases", contains_secret=True), "text contains a secret"),
        (req("Tell me about databases", path="conf/.env.local"), "local-only glob"),
    ],
)
def test_privacy_gate_overrides_the_estimate(request_, why):
    d = decide(request_, EAGER)
    assert d.tier == 2 and d.private
    assert d.reasons[0].startswith("learned difficulty") and "-> tier 3" in d.reasons[0]
    assert why in d.reasons[1] and "never cloud" in d.reasons[1]
    assert all(h.backend not in ("openai", "anthropic") for h in d.chain)


def test_long_context_wins_even_when_the_estimate_says_local():
    shy = learned(0.01)
    assert decide(req("Tell me about databases", tokens=100), shy).tier < 3
    d = decide(req("Tell me about databases", tokens=9000), shy)
    assert d.tier == 3 and "long-context" in d.reasons[0]


def test_hybrid_estimator_keywords_first_then_learned():
    from hybridlsp.config import settings_from_mapping
    from hybridlsp.routing import get_estimator

    est = get_estimator(settings_from_mapping({"routing": {"difficulty": "hybrid"}}))
    kw = est.estimate("Summarize this transcript", "ask")
    assert kw.tier == 1 and kw.reason.startswith("task keyword")
    other = est.estimate("What is the boiling point of water at altitude?", "ask")
    assert other is not None and other.reason.startswith("learned difficulty")
