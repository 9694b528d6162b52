"""The tier policy, rule by rule, as tables of cases."""

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from hybridlsp.backends.location import cloud_backends
from hybridlsp.config import Settings, settings_from_mapping
from hybridlsp.routing import GitSummary, RouteRequest, decide, embedded_declines, parse_flag


def req(action="ask", text="hello", tokens=50, **kw):
    return RouteRequest(action=action, text=text, input_tokens=tokens, **kw, cloud_backends=cloud_backends())


S = Settings()
KW = settings_from_mapping({"routing": {"difficulty": "keywords"}})  # the article's rules alone


@pytest.mark.parametrize(
    "text,tier,rest",
    [
        ("[tier1] x", 1, "x"),
        ("[LOCAL] x", 1, "x"),
        ("[tier2] x", 2, "x"),
        ("[Heavy] x", 2, "x"),
        ("[tier3] x", 3, "x"),
        ("  [cloud]x", 3, "x"),
        ("x [cloud]", None, "x [cloud]"),
        ("[tier4] x", None, "[tier4] x"),
    ],
)
def test_flags(text, tier, rest):
    t, _, stripped = parse_flag(text)
    assert t == tier
    assert stripped == rest


# The article's own examples.
@pytest.mark.parametrize(
    "text,tokens,tier",
    [
        ("Summarize this meeting transcript: we met and discussed the roadmap", 40, 1),
        ("[heavy] Review this codebase for architectural issues", 40, 2),
        ("[cloud] Analyze the trade-offs between microservices and a monolith", 40, 3),
        ("word " * 10, 15_000, 3),
    ],
)
def test_article_examples(text, tokens, tier):
    assert decide(req(text=text, tokens=tokens), S).tier == tier


@pytest.mark.parametrize(
    "text,tier",
    [
        ("Translate this comment to French", 1),
        ("Write a regex that matches ISO dates", 1),
        ("Give me a shell command to find large files", 1),
        ("Convert this JSON to YAML", 1),
        ("Explain step by step how the scheduler decides", 2),
        ("Propose an architecture for the billing service", 2),
        ("Prove that the algorithm terminates", 3),
        ("Do an in-depth analysis of this incident", 3),
        ("What's the capital of France?", 1),  # default tier 1
        # the earliest keyword names the task: a summary of text that mentions "proof" stays local
        ("Summarize: the proof of concept went well", 1),
    ],
)
def test_ask_task_classes(text, tier):
    assert decide(req(text=text), KW).tier == tier


def test_keyword_beyond_head_is_ignored():
    text = "hello " * 200 + "prove it"
    assert decide(req(text=text), KW).tier == 1


def test_default_estimate_is_keywords_then_learned():
    assert decide(req(text="Summarize this log"), S).reasons[0].startswith("task keyword 'summarize'")
    question = ("What's the capital of France? Answer with the letter of the best option: A. Lyon B. Paris "
                "C. Nice D. Lille")
    assert decide(req(text=question), S).reasons[0].startswith("learned difficulty")
    # a prompt shorter than any the learned estimate was trained on: the default tier
    assert decide(req(text="What's the capital of France?"), S).reasons[0].startswith("no harder task")


@pytest.mark.parametrize(
    "action,tokens,git,tier",
    [
        ("complete", 300, GitSummary(), 1),
        ("explain", 200, GitSummary(), 1),
        ("explain", 2000, GitSummary(), 2),
        ("review", 500, GitSummary(diff_tokens=500, files_changed=2), 2),
        ("review", 500, GitSummary(diff_tokens=7000, files_changed=2), 3),
        ("review", 500, GitSummary(diff_tokens=500, files_changed=11), 3),
        ("commit-message", 400, GitSummary(diff_tokens=400, files_changed=1, staged=True), 1),
        ("commit-message", 3000, GitSummary(diff_tokens=3000, files_changed=4, staged=True), 2),
        ("complete", 9000, GitSummary(), 3),  # long context beats the action default
    ],
)
def test_action_defaults(action, tokens, git, tier):
    assert decide(req(action=action, text="code", tokens=tokens, git=git), S).tier == tier


@pytest.mark.parametrize("action, input_name, said", [
    ("commit-message", "staged diff", "staged diff 9,412 tokens"),  # the action's word, as the caller passes it
    ("explain", None, "input 9,412 tokens"),
])
def test_long_context_reason_names_the_numbers(action, input_name, said):
    d = decide(req(action=action, tokens=9412, **({"input_name": input_name} if input_name else {})), S)
    assert d.tier == 3
    assert f"{said} > long-context limit 8,000 -> cloud" in d.reasons


def test_explicit_argument_beats_flag_and_is_stripped():
    d = decide(req(text="[cloud] summarize", tier_override=1), S)
    assert d.tier == 1 and d.prompt == "summarize"


def test_explicit_local_past_long_context_is_kept_with_a_note():
    d = decide(req(text="[local] big", tokens=20_000), S)
    assert d.tier == 1 and any("long-context" in n for n in d.notes)


@pytest.mark.parametrize(
    "kw",
    [
        {"contains_secret": True},
        {"path": "/repo/.env.production"},
        {"path": "/repo/certs/server.pem"},
        {"path": "/home/u/.ssh/id_rsa.pub"},
        {"path": "/repo/config/secrets.yaml"},
    ],
)
def test_privacy_never_cloud_even_when_asked(kw):
    d = decide(req(text="[cloud] analyze this", **kw), S)
    assert d.tier == 2 and d.private
    assert all(h.backend not in ("openai", "anthropic") for h in d.chain)
    assert any("never cloud" in r for r in d.reasons)


def test_privacy_globs_come_from_settings():
    s = settings_from_mapping({"routing": {"local_only_globs": ["*.internal.py"]}})
    assert decide(req(text="[cloud] x", path="a/b.internal.py"), s).private
    assert not decide(req(text="[cloud] x", path="a/.env"), s).private


def test_monthly_budget_degrades_cloud():
    s = settings_from_mapping({"budget": {"monthly_cloud_usd": 10}})
    d = decide(req(text="[cloud] x", month_cloud_spend_usd=10.0), s)
    assert d.tier == 2 and any("monthly cloud budget" in r for r in d.reasons)
    assert all(h.tier != 3 for h in d.chain)
    assert decide(req(text="[cloud] x", month_cloud_spend_usd=9.99), s).tier == 3


def test_daily_budget_degrades_cloud():
    s = settings_from_mapping({"budget": {"daily_cloud_usd": 1}})
    assert decide(req(text="[cloud] x", day_cloud_spend_usd=1.5), s).tier == 2


def test_no_key_goes_to_best_local_tier_with_note():
    d = decide(req(text="[cloud] x", cloud_available=False), S)
    assert d.tier == 2 and d.notes and "no API key" in d.reasons[-1]


@pytest.mark.parametrize(
    "tier,labels",
    [
        (1, ["tier1", "tier2", "tier3", "embedded"]),
        (2, ["tier2", "tier3", "tier1", "embedded"]),
        (3, ["tier3", "tier2", "tier1", "embedded"]),
    ],
)
def test_fallback_chain_order(tier, labels):
    d = decide(req(tier_override=tier), S)
    assert [h.label.split(":")[0].split("/")[0] for h in d.chain] == labels


@pytest.mark.parametrize(
    "action, settings, embedded",
    [
        ("commit-message", S, True),
        ("complete", S, True),
        ("ask", S, True),
        # a 135M model's findings and explanations are wrong more often than not (README)
        ("review", S, False),
        ("explain", S, False),
        ("review", settings_from_mapping({"embedded": {"actions": ["review"]}}), True),
        ("commit-message", settings_from_mapping({"embedded": {"actions": ["review"]}}), False),
    ],
)
def test_embedded_serves_only_the_actions_it_can_do(action, settings, embedded):
    chain = decide(req(action=action, text="def f(): pass"), settings).chain
    assert (chain[-1].backend == "embedded") is embedded
    assert all(h.backend != "embedded" for h in chain[:-1])
    # and what leaves it out says why, for the route command and a failure to show
    why = embedded_declines(action, settings)
    assert (why is None) is embedded
    assert embedded or why == f"it does not do {action} (embedded.actions)"


def test_embedded_can_be_disabled():
    s = settings_from_mapping({"embedded": {"enabled": False}})
    assert all(h.backend != "embedded" for h in decide(req(), s).chain)
    assert embedded_declines("review", s) is None  # switched off: no action of it to decline


def test_thresholds_live_in_settings():
    s = settings_from_mapping({"routing": {"long_context_tokens": 100, "explain_tier2_tokens": 10}})
    assert decide(req(tokens=101), s).tier == 3
    assert decide(req(action="explain", tokens=11), s).tier == 2


def test_difficulty_estimator_is_pluggable():
    class Always3:
        def estimate(self, text, action, head=None):
            from hybridlsp.routing import Estimate

            return Estimate(3, 0.9, "learned: hard")

    d = decide(req(text="summarize this"), S, estimator=Always3())
    assert d.tier == 3 and d.reasons == ("learned: hard",)
    # ... but the explicit flag still wins over it
    assert decide(req(text="[local] x"), S, estimator=Always3()).tier == 1


def test_unknown_action_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown action"):
        decide(req(action="dance"), S)


def test_local_only_request_never_has_a_cloud_hop():
    d = decide(req(action="complete", text="x", tier_override=1, local_only=True), S)
    assert d.tier == 1 and all(h.backend not in ("openai", "anthropic") for h in d.chain)
    d = decide(req(text="[cloud] x", local_only=True), S)
    assert d.tier == 2 and "local-only" in d.reasons[-1]


def _keywords_by_regex_alone(est, text):
    """The keyword scan without its quick test: the reference the quick test must never contradict."""
    from hybridlsp.routing.difficulty import HEAD_CHARS, _WORD_RE

    words = _WORD_RE.findall(text[:HEAD_CHARS].lower())
    for i, word in enumerate(words):
        for phrase, tier in est._index.get(word, ()):
            if len(phrase) == 1 or tuple(words[i:i + len(phrase)]) == phrase:
                return tier, " ".join(phrase)
    return None


@hyp_settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(
    ["explain", "Explain", "EXPLAIN", "summarize", "step-by-step", "step", "-prove", "prove's", "x", "proof",
     "translate2", "analyze", " ", "\n", "-", "'", "é", "İ", "K", "—", ",", "(", "2", "trade-offs", "design",
     "architecture", "formal", "in", "of", "the"]), max_size=40))
def test_keyword_quick_test_never_hides_a_keyword(parts):
    from hybridlsp.routing import difficulty
    from hybridlsp.routing.difficulty import KeywordEstimator

    r = Settings().routing
    est = KeywordEstimator(r.tier1_keywords + ["step-by-step", "x-ray"], r.tier2_keywords, r.tier3_keywords)
    text = "".join(parts)
    difficulty._phrase_matcher(est._phrases, wait=True)  # compiled: this estimate takes the set's test
    got = est.estimate(text, "ask")
    want = _keywords_by_regex_alone(est, text)
    assert (got.tier, got.reason.split("'")[1]) == want if want else got is None
    with pytest.MonkeyPatch.context() as mp:  # without the phrases' Hyperscan set: the runs test
        mp.setattr(difficulty, "_phrase_matcher", lambda phrases, wait=None: None)
        assert est.estimate(text, "ask") == got


def test_one_prompts_keyword_test_is_the_phrases_hyperscan_set(monkeypatch):
    # ~1 us, where cutting the head into runs costs ~2.3: the set `estimate_many` has, once compiled
    from hybridlsp.routing import difficulty

    r = Settings().routing
    est = difficulty.KeywordEstimator(r.tier1_keywords, r.tier2_keywords, r.tier3_keywords)
    scanned = []

    class Recording:
        def ends(self, data):
            scanned.append(data)
            return []

    asked = []
    monkeypatch.setattr(difficulty, "imported", lambda: True)  # as after a secret scan
    monkeypatch.setattr(difficulty, "_phrase_matcher", lambda phrases, wait=None: asked.append(wait) or Recording())
    assert est.estimate("Prove it, İ", "ask") is None  # the set says no phrase: no word is looked at
    assert scanned == ["prove it, i\u0307".encode("ascii", "replace")]
    assert asked == [False]  # a decision never waits for the set to compile (20-40 ms)


_BATCH_WORDS = ["explain", "Explain", "summarize", "step-by-step", "step", "by", "-prove", "prove's", "x", "proof",
                "why", "does", "Why  does", "why-does", "in", "depth", "in-depth", "trade-offs", "trade", "offs",
                "don't", "don", "t", "x-ray", "ray", "é", "İ", "K", "—", " ", "\n", "\r\n", "-", "'", ",", "2"]


@hyp_settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.one_of(st.sampled_from(_BATCH_WORDS), st.text(max_size=6)), max_size=30)
                .map("".join), max_size=12))
def test_keyword_batch_equals_one_by_one(texts):
    """`estimate_many` (one Hyperscan pass over the batch) says what `estimate` says of each text."""
    from hybridlsp.routing.difficulty import KeywordEstimator

    r = Settings().routing
    est = KeywordEstimator(r.tier1_keywords + ["step-by-step", "x-ray", "don't"], r.tier2_keywords, r.tier3_keywords)
    from hybridlsp.routing.difficulty import _phrase_matcher

    _phrase_matcher(est._phrases, wait=True)  # compiled (on its own thread): the batch path runs
    assert est.estimate_many(texts, "ask") == [est.estimate(t, "ask") for t in texts]


def test_keyword_batch_uses_hyperscan_and_finds_phrases_at_the_edges(monkeypatch):
    import os

    from hybridlsp.routing import difficulty

    r = Settings().routing
    est = difficulty.KeywordEstimator(r.tier1_keywords, r.tier2_keywords, r.tier3_keywords)
    texts = ["prove it", "a\nwhy does it", "why doesn't", "It's in depth.", "in-depth", "indepth", "improve",
             "x" * 500 + " prove", "Why—does", "plain"]
    want = [est.estimate(t, "ask") for t in texts]
    assert [w.reason.split("'")[1] if w else None for w in want] == [
        "prove", "why does", None, "in depth", "in-depth", None, None, None, "why does", None]
    if os.environ.get("HYBRIDLSP_PURE_PYTHON") != "1":
        assert difficulty._phrase_matcher(est._phrases, wait=True) is not None  # the batch path runs
    assert est.estimate_many(texts, "ask") == want
    monkeypatch.setattr(difficulty, "_phrase_matcher", lambda phrases, wait=False: None)  # no Hyperscan
    assert est.estimate_many(texts, "ask") == want


@pytest.mark.parametrize("path", ["/a/.env", "/a/.env.local", "/a/b/x.pem", "x.py", "/h/id_rsa.pub", "/p/mysecrets.txt",
                                  "src/private/a.py", "/src/private/a.py", "a/b/", "/a/[x].key", "/a/b.KEY", ""])
def test_local_only_globs_match_as_fnmatch_does(path):
    from fnmatch import fnmatch
    from pathlib import PurePath

    from hybridlsp.routing.policy import is_local_only_path

    globs = [".env*", "*.pem", "*.key", "id_rsa*", "*secret*", "src/private/*"]
    name = PurePath(path).name if path else ""
    expected = next((g for g in globs if fnmatch(name, g) or fnmatch(path, g)), None) if path else None
    assert is_local_only_path(path, globs) == expected


def test_each_settings_object_gets_its_own_tiers_and_chains():
    # what a decision reads from the settings alone is kept per settings object: deciding with
    # several in turn, each decision follows its own
    many = [settings_from_mapping({"tiers": {"tier2": {"backend": "ollama", "model": f"m{i}", "max_output_tokens": 64 + i}},
                                   "embedded": {"enabled": i % 2 == 0}}) for i in range(12)]
    for _ in range(2):
        for i, s in enumerate(many):
            d = decide(req(text="[tier2] x"), s)
            assert (d.model, d.max_output_tokens) == (f"m{i}", 64 + i)
            assert [h.model for h in d.chain][:1] == [f"m{i}"]
            assert (d.chain[-1].backend == "embedded") is (i % 2 == 0)


def test_settings_cannot_change_in_place_under_the_policys_memo():
    """The policy keeps what it worked out per settings object (`policy._Fixed`): a tier changed
    in place would be routed by the old chain, so a change must be a new object."""
    import pydantic

    from hybridlsp.config import merge_settings

    s = settings_from_mapping({})
    before = decide(req(), s)
    with pytest.raises(pydantic.ValidationError):
        s.tiers.tier1.model = "other:7b"
    with pytest.raises(pydantic.ValidationError):
        s.tiers.tier1 = s.tiers.tier2
    changed = merge_settings(s, {"tiers": {"tier1": {"model": "other:7b"}}}, "test")
    after = decide(req(), changed)
    assert before.chain[0].model != "other:7b" and after.chain[0].model == "other:7b"


def test_one_prompts_keyword_test_leaves_the_hyperscan_import_to_the_secret_scan():
    # a code action's title is decided before any secret scan: it must not pay the ~16 ms import
    import subprocess
    import sys

    code = ("import sys; from hybridlsp.config import Settings; from hybridlsp.routing import get_estimator; "
            "from hybridlsp.context.secrets import contains_secret; from hybridlsp.routing import difficulty; "
            "est = get_estimator(Settings()).keywords; est.estimate('Summarize this', 'ask'); "
            "print('hyperscan' in sys.modules, difficulty._phrase_patterns.cache_info().currsize); "
            "contains_secret('hello'); est.estimate('Summarize this', 'ask'); "
            "print(difficulty._phrase_patterns.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "0", "1"]  # after the scan, the estimate asks for the set (it compiles meanwhile)
