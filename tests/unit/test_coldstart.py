"""The cold-start estimate: its features, its bands, abstention to the article's rules, the
explanation in its reason, and the shipped weights' shape. Hand-made models; no data files."""

import json
import math

import pytest

from hybridlsp.backends.location import cloud_backends
from hybridlsp.config import settings_from_mapping
from hybridlsp.routing import KeywordEstimator, RouteRequest, decide, get_estimator
from hybridlsp.routing.coldstart import COLDSTART_PATH, ColdStartEstimator, ColdStartModel, load_coldstart
from hybridlsp.routing.promptfeatures import FEATURES, features


def value(text, name, action="ask"):
    return features(text, action)[FEATURES.index(name)]


# ---- features ---------------------------------------------------------------------------------

CODE = "Fix this:\n```python\ndef f(xs):\n    for x in xs:\n        if x > 1:\n            return x\n```"

@pytest.mark.parametrize("text, name, expected", [
    ("", "log_chars", 0.0),
    ("abc", "log_chars", math.log1p(3)),
    (CODE, "code_fence", 1.0),
    ("no code here", "code_fence", 0.0),
    (CODE, "lang_python", 1.0),
    ("SELECT name FROM people WHERE id = 3", "lang_sql", 1.0),
    ("What is the capital of France?", "starts_wh", 1.0),
    ("What is the capital of France?", "ends_question", 1.0),
    ("Tell me about France.", "ends_question", 0.0),
    ("Which?\nA) one\nB) two\nC) three", "multiple_choice", 1.0),
    ("Which one is it", "multiple_choice", 0.0),
    ("Write an essay about rain", "asks_long", 1.0),
    ("Answer briefly: why is the sky blue", "asks_short", 1.0),
    ("Summarise it in 50 words", "asks_word_count", 1.0),
    ("Write a poem", "verb_make", 1.0),
    ("Explain recursion", "verb_explain", 1.0),
    ("Solve for x: 2x + 3 = 7", "verb_solve", 1.0),
    ("Translate this to French", "verb_edit", 1.0),
    ("Solve for x: 2x + 3 = 7", "math_ops", math.log1p(1)),
    ("Compute $\\frac{1}{2}$", "latex", 1.0),
    (">>> f(1)\n2", "io_examples", math.log1p(1)),
    ("You are a pirate. Say hi.", "roleplay", 1.0),
])
def test_feature_table(text, name, expected):
    assert value(text, name) == pytest.approx(expected)


@pytest.mark.parametrize("action", ["ask", "explain", "review", "commit-message", "complete"])
def test_action_is_one_hot(action):
    v = features("x", action)
    hot = [n for n, x in zip(FEATURES, v) if n.startswith("action_") and x]
    assert hot == [f"action_{action}"]


def test_features_read_a_bounded_head_but_count_the_whole_size():
    big = "word " * 100_000
    v = features(big)
    assert v[FEATURES.index("log_chars")] == pytest.approx(math.log1p(len(big)))
    assert len(v) == len(FEATURES)


# ---- a hand-made model: the score is the prompt's log length ---------------------------------

def model(min_chars=5, **over):
    n = len(FEATURES)
    weights = [0.0] * n
    weights[FEATURES.index("log_chars")] = 1.0
    data = {
        "feature_set": "promptfeatures-1", "features": list(FEATURES), "mean": [0.0] * n, "scale": [1.0] * n,
        "weights": weights,
        # scores 0..10 evenly: quantile p is at 10 p
        "quantiles": [10 * k / 200 for k in range(201)],
        "p_tier1_enough": [-1.0, 5.0], "p_tier2_enough": [-0.5, 4.0], "min_chars": min_chars,
    }
    data.update(over)
    return ColdStartModel.from_json(data)


def text_scoring(score):
    return "x" * round(math.expm1(score))


# the 20 % target: tier 3 from score 8, tier 2 from 6; below, the rules
@pytest.mark.parametrize("score, tier, says", [
    (9.0, 3, "-> tier 3"),
    (8.1, 3, "-> tier 3"),
    (7.0, 2, "-> tier 2"),
    (6.1, 2, "-> tier 2"),
    (5.0, 1, "abstains"),
    (2.0, 1, "abstains"),
])
def test_bands_and_abstention(score, tier, says):
    est = ColdStartEstimator(model(), 0.2, default_tier=1)
    e = est.estimate(text_scoring(score), "ask")
    assert e.tier == tier
    assert says in e.reason


def test_estimate_score_reads_higher_as_harder_like_every_estimate():
    # Estimate.score is "0..1, higher = harder" (routing.difficulty); the online learner and the
    # evaluation's ranking read it so: a tier-3 estimate must score above a tier-2 one
    est = ColdStartEstimator(model(), 0.2, default_tier=1)
    hard, middle = est.estimate(text_scoring(9.0), "ask"), est.estimate(text_scoring(6.5), "ask")
    assert (hard.tier, middle.tier) == (3, 2)
    assert 0.0 <= middle.score < hard.score <= 1.0
    assert hard.score == pytest.approx(1 - est.explain(text_scoring(9.0)).p_tier2)


def test_abstaining_falls_to_the_default_tier_as_configured():
    e = ColdStartEstimator(model(), 0.2, default_tier=2).estimate(text_scoring(3), "ask")
    assert e.tier == 2 and e.reason.endswith("-> default tier 2")


def test_abstaining_lets_a_task_keyword_decide():
    kw = KeywordEstimator([], [], ["prove"])
    e = ColdStartEstimator(model(), 0.2, keywords=kw).estimate("prove it", "ask")
    assert e.tier == 3
    assert "abstains" in e.reason and "task keyword 'prove' -> tier 3" in e.reason


def test_keywords_first_wins_over_the_bands():
    kw = KeywordEstimator(["summarize"], [], [])
    text = "summarize " + "x" * 5000  # scores in the cloud band
    assert ColdStartEstimator(model(), 0.2, keywords=kw).estimate(text, "ask").tier == 3
    assert ColdStartEstimator(model(), 0.2, keywords=kw, keywords_first=True).estimate(text, "ask").tier == 1


def test_too_short_to_judge_abstains_and_says_why():
    e = ColdStartEstimator(model(min_chars=40), 0.2).estimate("hi", "ask")
    assert e.tier == 1
    assert "2 chars is shorter than any prompt it learned from (40)" in e.reason


def test_reason_shows_probabilities_and_what_moved_the_score():
    m = model()
    text = text_scoring(9.0)
    e = ColdStartEstimator(m, 0.2).estimate(text, "ask")
    ex = m.explain(text)
    assert ex.score == pytest.approx(9.0, abs=0.01)
    assert ex.p_tier1 == pytest.approx(1 / (1 + math.exp(-(-1.0 * ex.score + 5.0))))
    assert f"p(tier 1 enough) {ex.p_tier1:.2f}, p(tier 2 enough) {ex.p_tier2:.2f}" in e.reason
    assert "moved by log_chars +9.00" in e.reason
    assert ex.top == (("log_chars", pytest.approx(ex.score)),)


@pytest.mark.parametrize("share, cloud, tier2", [(0.1, 9.0, 8.0), (0.2, 8.0, 6.0), (0.5, 5.0, -math.inf)])
def test_thresholds_follow_the_share(share, cloud, tier2):
    est = ColdStartEstimator(model(), share)
    assert est.cloud_score == pytest.approx(cloud)
    assert est.tier2_score == pytest.approx(tier2)


@pytest.mark.parametrize("over, message", [
    ({"feature_set": "other"}, "run `make train-router`"),
    ({"features": ["log_chars"]}, "run `make train-router`"),
    ({"weights": [1.0]}, "1 values of 'weights'"),
])
def test_weights_for_other_features_are_refused(over, message):
    with pytest.raises(ValueError, match=message):
        model(**over)


def test_share_out_of_range_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        ColdStartEstimator(model(), 1.0)


# ---- shipped weights and the policy -----------------------------------------------------------

def test_shipped_weights_load_and_name_their_training_sources():
    data = json.loads(COLDSTART_PATH.read_text())
    assert set(data["trained_on"]) == {"mt-bench", "gsm8k", "mmlu", "cruxeval", "humanevalplus", "intercode_bash"}
    m = load_coldstart()
    assert list(m.quantiles) == sorted(m.quantiles)


def test_registered_and_decides_through_the_policy():
    s = settings_from_mapping({"routing": {"difficulty": "coldstart"}})
    assert isinstance(get_estimator(s), ColdStartEstimator)
    d = decide(RouteRequest(action="ask", text="What is the capital of France, and why did the kings of France choose that "
                            "city over the others along the river?", input_tokens=25, cloud_backends=cloud_backends()), s)
    assert d.reasons[0].startswith("cold-start ")
    assert "p(tier 1 enough)" in d.reasons[0]
    # the rules before the estimate still win
    d = decide(RouteRequest(action="ask", text="[cloud] hi", input_tokens=3, cloud_backends=cloud_backends()), s)
    assert d.tier == 3 and d.reasons[0].startswith("prompt flag")
