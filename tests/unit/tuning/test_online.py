"""The per-user online learner (tuning/online.py): starts at the prior, learns bounded, resets."""

import json
import random

import pytest

from hybridlsp.tuning import online
from hybridlsp.tuning.online import W_MAX, OnlineLearner, Shares, UserModel, features, outcome_of, replay


def test_before_any_outcome_the_prior_decides():
    learner = OnlineLearner(explore=0.0)
    x = features("Sort a list of numbers", "ask", 12, 0.4)
    assert learner.gains(x) == pytest.approx((0.4, 0.2))
    # the prior's gain ranks requests: the highest go to the cloud, the lowest stay on tier 1
    tiers = {g: learner.decide(features(f"q{i}", "ask", 12, g))[0] for i, g in enumerate([i / 100 for i in range(-50, 50)] * 3)}
    assert tiers[0.49] == 3 and tiers[-0.5] == 1


def _train(learner, n=300):
    hard = features("prove the lemma about graphs", "ask", 20, 0.0)
    easy = features("rename the variable", "ask", 20, 0.0)
    for _ in range(n):
        learner.update(1, hard, 0.0)
        learner.update(1, easy, 1.0)
        learner.update(3, hard, 1.0)
        learner.update(3, easy, 1.0)
    return hard, easy


def test_it_learns_what_the_cloud_adds():
    learner = OnlineLearner(explore=0.0)
    hard, easy = _train(learner)
    assert learner.quality(1, hard) < 0.2 < 0.8 < learner.quality(1, easy)
    assert learner.gains(hard)[0] > 0.3 > 0.1 > learner.gains(easy)[0]  # trusted 600 / (600 + 200)


def test_weights_stay_bounded():
    learner = OnlineLearner(lr=5.0, l2=0.0)
    x = features("anything", "ask", 5, 0.5)
    for _ in range(500):
        learner.update(1, x, 0.0)
        learner.update(1, x, 1.0)
    assert max(abs(w) for w in learner.models[1].weights.values()) <= W_MAX


def test_outcomes_of_the_embedded_tier_are_ignored_and_must_be_in_range():
    learner = OnlineLearner()
    x = features("q", "ask", 5, 0.5)
    learner.update(0, x, 0.0)
    assert all(m.updates == 0 for m in learner.models.values())
    with pytest.raises(ValueError):
        learner.update(1, x, 2.0)


def test_reset_returns_to_the_prior():
    learner = OnlineLearner()
    hard, _ = _train(learner)
    assert learner.gains(hard)[0] > 0.3
    learner.reset()
    assert learner.gains(hard) == pytest.approx((0.0, 0.0))


def test_state_round_trips_and_a_bad_file_means_the_prior(tmp_path):
    learner = OnlineLearner()
    hard, _ = _train(learner, 20)
    for _ in range(10):
        learner.decide(hard)
    path = tmp_path / "learner.json"
    learner.save(path)
    again = OnlineLearner.load(path)
    assert again.gains(hard) == pytest.approx(learner.gains(hard), abs=1e-4)
    assert list(again.recent["cloud"]) == pytest.approx(list(learner.recent["cloud"]), abs=1e-4)
    path.write_text("{not json")
    assert OnlineLearner.load(path).gains(hard) == pytest.approx((0.0, 0.0))
    path.write_text(json.dumps({"version": online.STATE_VERSION + 1, "models": {"1": {"weights": {"0": -9}}}}))
    assert OnlineLearner.load(path).gains(hard) == pytest.approx((0.0, 0.0))
    assert OnlineLearner.load(tmp_path / "missing.json").models[1].updates == 0


def test_decisions_keep_to_the_target_shares():
    rng = random.Random(1)
    learner = OnlineLearner(shares=Shares(tier1=0.5, tier3=0.2), explore=0.0)
    tiers = [learner.decide(features(f"task {i}", "ask", 30, rng.uniform(-1, 1)))[0] for i in range(2000)]
    share = {t: tiers.count(t) / len(tiers) for t in (1, 2, 3)}
    assert share[1] == pytest.approx(0.5, abs=0.05)
    assert share[3] == pytest.approx(0.2, abs=0.05)


def test_shares_are_checked():
    with pytest.raises(ValueError):
        Shares(tier1=0.9, tier3=0.2)


def test_replay_learns_a_users_pattern_with_feedback_for_the_chosen_tier_only():
    # this user's "sql" prompts need tier 3, the rest tier 1 does; the prior knows nothing
    rng = random.Random(3)
    rows = []
    for i in range(1500):
        sql = rng.random() < 0.3
        q = (0.0, 0.0, 1.0) if sql else (1.0, 1.0, 1.0)
        rows.append((features(("write sql join " if sql else "rename field ") + str(i), "ask", 20, 0.0), q))
    learned = replay(rows, OnlineLearner(shares=Shares(0.5, 0.3), seed=1))
    static = replay(rows, OnlineLearner(shares=Shares(0.5, 0.3), seed=1), learn=False)
    late = slice(1000, None)
    assert sum(q for _, q in learned[late]) > sum(q for _, q in static[late]) + 100


@pytest.mark.parametrize(
    "escalated,validator_failed,bad,retried,expect",
    [(False, False, False, False, 1.0), (True, False, False, False, 0.0), (False, True, False, False, 0.0),
     (False, False, True, False, 0.0), (False, False, False, True, 0.0)],
)
def test_outcome_of_ledger_evidence(escalated, validator_failed, bad, retried, expect):
    assert outcome_of(escalated, validator_failed, bad, retried) == expect


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _user(tmp_path, **kw):
    return UserModel(tmp_path / "learner.json", clock=kw.pop("clock", Clock()), **kw)


def test_user_model_learns_from_answers_and_saves_its_state(tmp_path):
    user = _user(tmp_path)
    x = features("prove the lemma", "ask", 20, 0.0)
    before = user.learner.quality(1, x)
    user.tried("r1", "k1", 1, x)
    user.answered("r1", enough=False)
    assert user.learner.quality(1, x) < before and user.outcomes == 1
    again = UserModel(tmp_path / "learner.json")
    assert again.learner.quality(1, x) == pytest.approx(user.learner.quality(1, x), abs=1e-5)
    user.reset()
    assert not (tmp_path / "learner.json").exists()
    assert user.learner.quality(1, x) == pytest.approx(before) and user.outcomes == 0


def test_bad_feedback_corrects_an_answer_taken_as_enough(tmp_path):
    user = _user(tmp_path)
    x = features("prove the lemma", "ask", 20, 0.0)
    user.tried("r1", "k1", 1, x)
    user.answered("r1", enough=True)
    good = user.learner.quality(1, x)
    user.feedback("r1", "good")
    assert user.learner.quality(1, x) == good
    user.feedback("r1", "bad")
    assert user.learner.quality(1, x) < good
    user.feedback("unknown", "bad")  # a request it never saw: nothing to correct


@pytest.mark.parametrize("later_s,tier,explicit,corrected", [
    (60, 3, True, True),  # the same text again on a bigger tier, soon after: the first was not enough
    (3600, 3, True, False),  # much later: another question
    (60, 1, True, False),  # the same tier again
    (60, 3, False, False),  # routed there, not chosen
])
def test_a_retry_on_a_bigger_tier_is_an_outcome_of_the_first(tmp_path, later_s, tier, explicit, corrected):
    clock = Clock()
    user = _user(tmp_path, clock=clock)
    x = features("prove the lemma", "ask", 20, 0.0)
    user.tried("r1", "same text", 1, x)
    user.answered("r1", enough=True)
    good = user.learner.quality(1, x)
    clock.now = later_s
    user.tried("r2", "same text", tier, x, explicit=explicit)
    assert (user.learner.quality(1, x) < good) is corrected


def test_a_tier_the_user_chose_teaches_nothing(tmp_path):
    user = _user(tmp_path)
    x = features("q", "ask", 5, 0.0)
    user.tried("r1", "k", 3, x, explicit=True)
    user.answered("r1", enough=False)
    assert user.outcomes == 0


def test_it_remembers_a_bounded_number_of_requests(tmp_path):
    user = _user(tmp_path)
    x = features("q", "ask", 5, 0.0)
    n = UserModel.PENDING + 50
    for i in range(n):
        user.tried(f"r{i}", f"k{i}", 1, x)
    user.answered("r0", enough=False)  # forgotten: too long ago
    assert user.outcomes == 0
    user.answered(f"r{n - 1}", enough=False)
    assert user.outcomes == 1


def test_user_estimator_starts_at_the_prior_and_follows_outcomes(tmp_path):
    from hybridlsp.routing import Estimate
    from hybridlsp.tuning.online import UserEstimator

    class Fixed:  # a cold-start estimate that calls everything easy
        def estimate(self, text, action, head=None):
            return Estimate(1, 0.3, "fixed")

    user = _user(tmp_path, explore=0.0)
    est = UserEstimator(Fixed(), user)
    first = est.estimate("prove the lemma about graphs", "ask")
    assert first.score == pytest.approx((2 * 0.3 - 1 + 1) / 2) and "0 outcomes" in first.reason
    assert not user.learner.recent["cloud"]  # deciding records nothing
    hard = est.features("prove the lemma about graphs", "ask")
    for i in range(300):
        user.tried(f"r{i}", f"k{i}", 1, hard)
        user.answered(f"r{i}", enough=False)
        user.learner.update(3, hard, 1.0)  # the cloud got it right when it was sent
    assert est.estimate("prove the lemma about graphs", "ask").score > first.score
    assert "600 outcomes" in est.estimate("x", "ask").reason  # 300 of tier 1, 300 of the cloud
