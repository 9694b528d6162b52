"""The learned difficulty estimate: interface, shipped weights, determinism, calibration, and the
rules that still win over it. Speed is measured by bench/routing_quality.py, not here."""

import os
import random
import subprocess
import sys
from array import array

import pytest

from hybridlsp.backends.location import cloud_backends
from hybridlsp.config import settings_from_mapping
from hybridlsp.errors import ConfigError
from hybridlsp.routing import Estimate, LearnedEstimator, RouteRequest, decide, get_estimator
from hybridlsp.context.tokens import counts_and_heads, head_tokens, n_vocab
from hybridlsp.routing.learned import (
    BIGRAM_BUCKETS,
    FEATURE_VERSION,
    HEAD_TOKENS,
    WEIGHTS_PATH,
    LearnedModel,
    calibration_quantiles,
    features,
    load_model,
)


def learned(share=0.2, **routing):
    return settings_from_mapping({"routing": {"difficulty": "learned", "cloud_share_target": share, **routing}})


def req(text="hello", tokens=50, action="ask", **kw):
    return RouteRequest(action=action, text=text, input_tokens=tokens, **kw, cloud_backends=cloud_backends())


# ---- interface and shipped weights ------------------------------------------------------------

def test_registered_as_learned():
    est = get_estimator(learned())
    assert isinstance(est, LearnedEstimator)
    assert est is get_estimator(learned()), "built once per target share, not per decision"
    assert get_estimator(learned(0.3)).cloud_share_target == 0.3


LONG_ENOUGH = " Answer with the letter of the best option: A, B, C or D, and one sentence on why it is right."
DATABASES = ("Tell me about databases: which kinds there are, what each one is good at, what it costs to run, "
             "and how a small team should choose one for a new product.")


@pytest.mark.parametrize("text", ["Prove that P != NP." + LONG_ENOUGH, "word " * 5000, "naïve café ☕ 12,345" * 9])
def test_estimate_is_well_formed(text):
    e = get_estimator(learned()).estimate(text, "ask")
    assert isinstance(e, Estimate)
    assert e.tier in (1, 2, 3)
    assert 0 < e.score < 1
    assert e.reason.startswith("learned difficulty") and e.reason.endswith(f"-> tier {e.tier}")


def test_shipped_weights_are_small_and_current():
    assert WEIGHTS_PATH.stat().st_size < 2_000_000
    m = load_model()
    assert len(m.unigrams) == m.n_vocab == n_vocab() and len(m.bigrams) == BIGRAM_BUCKETS
    assert sum(1 for w in m.unigrams if w) > 1000 and sum(1 for w in m.bigrams if w) > 1000
    assert list(m.quantiles) == sorted(m.quantiles) and len(m.quantiles) >= 101


@pytest.mark.parametrize("text", ["", "x", "hello", "What's 2+2?", "Why is my React component re-rendering twice?"])
def test_no_opinion_on_prompts_shorter_than_any_it_learned_from(text):
    model = load_model()
    assert 20 <= model.min_tokens <= 40  # the shortest 1 % of the training prompts
    assert get_estimator(learned()).estimate(text, "ask") is None
    d = decide(req(text, 10), learned())
    assert d.tier == 1 and d.reasons == ("no harder task recognised -> default tier 1",)
    long = text + LONG_ENOUGH * 2
    assert get_estimator(learned()).estimate(long, "ask") is not None


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

def test_reads_only_the_head():
    m = load_model()
    task = "Which of these is a prime number? " * 20
    assert len(head_tokens(task, HEAD_TOKENS + 1)) > HEAD_TOKENS
    assert m.logit(task) == m.logit(task + " Now write a long essay on quantum gravity." * 50)
    assert m.logit("Prove it.") != m.logit("Prove it. Then tell me a joke about regex.")


def test_logit_is_the_linear_model_over_the_features():
    m = load_model()
    weights = list(m.unigrams) + list(m.bigrams)
    for text in ["Solve for x: 3x + 5 = 20.", "Which of these countries borders France?\nA. Spain", "é " * 300]:
        head = head_tokens(text, HEAD_TOKENS)
        f = features(head, m.n_vocab)
        assert set(head) <= f and len(set(head)) < len(f) <= len(set(head)) + len(set(zip(head, head[1:])))
        expected = m.bias + m.scale * sum(weights[i] for i in f) / len(f) ** 0.5
        assert m.logit(text) == pytest.approx(expected, rel=1e-12)
    assert m.logit("") == m.bias


def test_given_token_ids_decide_as_encoding_the_text():
    # route --jsonl passes the ids from the pass that counts; the estimate must not change
    est = get_estimator(learned())
    texts = ["Explain monads to a Go programmer." + LONG_ENOUGH, "x" * 9000, "Integrate x^2 e^x dx. " * 40, "", "hi"]
    counts, heads = counts_and_heads(texts, HEAD_TOKENS)
    for text, head, n in zip(texts, heads, counts):
        assert est.estimate(text, "ask", head) == est.estimate(text, "ask")
        assert decide(req(text, n, head_tokens=head), learned()) == decide(req(text, n), learned())


@pytest.mark.parametrize("difficulty", ["learned", "hybrid"])
def test_a_batch_is_estimated_as_each_prompt_alone(difficulty):
    from hybridlsp.routing import estimate_many

    est = get_estimator(learned(0.3, difficulty=difficulty))
    rng = random.Random(5)
    words = ["prove", "summarize", "why does", "the", "integral", "of", "café", "Which", "option", "\n", "2x+1",
             "design", "a", "rate", "limiter", "list"]
    texts = ["Explain monads to a Go programmer." + LONG_ENOUGH, "", "hi", "Prove it. " + LONG_ENOUGH,
             *(" ".join(rng.choices(words, k=rng.randint(1, 90))) for _ in range(60))]
    _, heads = counts_and_heads(texts, HEAD_TOKENS)
    many = estimate_many(est, texts, "ask", heads)
    assert many == [est.estimate(t, "ask", h) for t, h in zip(texts, heads)]
    assert {e.reason.split()[0] for e in many if e} == ({"learned", "task"} if difficulty == "hybrid" else {"learned"})


def test_features_do_not_depend_on_the_process():
    # arithmetic on token ids, not hash(): the same buckets whatever PYTHONHASHSEED is
    code = ("from hybridlsp.routing.learned import features, head_of; "
            "print(sorted(features(head_of('Why does my regex loop?'), 100277)))")
    outs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    }
    assert len(outs) == 1 and len(outs.pop()) > 20


def test_same_prompt_same_score():
    est = get_estimator(learned())
    text = "Explain the trade-offs of optimistic locking in a distributed database." + LONG_ENOUGH
    assert est.estimate(text, "ask") == est.estimate(text, "ask") is not None


# ---- calibration ------------------------------------------------------------------------------

class ByNumber(LearnedModel):
    """The logit is the prompt read as a number: a synthetic set with a known distribution."""

    def logit_of_head(self, head):
        from hybridlsp.context.tokens import _enc

        return float(_enc().decode(list(head)))


def synthetic(seed, n):
    rng = random.Random(seed)
    return [rng.gauss(0.0, 1.0) for _ in range(n)]


def model_for(logits):
    return ByNumber(n_vocab=1, min_tokens=0, bias=0.0, scale=1.0, unigrams=array("h", [0]), bigrams=array("h", [0]),
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
    d = decide(req(DATABASES), EAGER)
    assert d.tier == 3 and d.reasons[0].startswith("learned difficulty")


@pytest.mark.parametrize(
    "request_,tier,reason",
    [
        (req("[local] " + DATABASES), 1, "prompt flag"),
        (req("[tier2] " + DATABASES), 2, "prompt flag"),
        (req(DATABASES, tier_override=1), 1, "explicit tier 1"),
        (req(DATABASES, action="explain"), 1, "explain"),
        (req(DATABASES, action="complete"), 1, "complete"),
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
        (req(DATABASES, contains_secret=True), "text contains a secret"),
        (req(DATABASES, path="conf/.env.local"), "local-only glob"),
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
    assert decide(req(DATABASES, tokens=100), shy).tier < 3
    d = decide(req(DATABASES, tokens=9000), shy)
    assert d.tier == 3 and "long-context" in d.reasons[0]


def test_hybrid_estimator_keywords_first_then_learned():
    from hybridlsp.config import settings_from_mapping
    from hybridlsp.routing import get_estimator

    est = get_estimator(settings_from_mapping({"routing": {"difficulty": "hybrid"}}))
    kw = est.estimate("Summarize this transcript", "ask")
    assert kw.tier == 1 and kw.reason.startswith("task keyword")
    other = est.estimate("What is the boiling point of water at altitude?" + LONG_ENOUGH, "ask")
    assert other is not None and other.reason.startswith("learned difficulty")
