"""`route --jsonl` in chunks (engine.route_many.route_jsonl) decides exactly as routing each prompt alone."""

import json
import random
import sys

import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

from hybridlsp.config import Settings, settings_from_mapping
from hybridlsp.engine import Engine
from hybridlsp.ledger.store import Ledger
from hybridlsp.engine.route_many import decision_json, route_jsonl, route_one

PROMPTS = [
    "Summarize this meeting transcript: we agreed on dates",
    "[cloud] Analyze the trade-offs of sharding",
    "[heavy] Review this codebase",
    "Which of the following is a prime number?\nA. 21\nB. 23\nC. 25\nD. 27",
    "Janet has 3 apples and buys 5 more. How many does she have?",
    "Prove that there are infinitely many primes.",
    "Deploy with OPENAI_API_KEY=sk-proj-" + "Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7" + " in the env",
    'password = "hunter2hunter2hunter2"',
    "Explain the passage above: the passenger passed the pass.",
    "Tell me about Asia's largest rivers.",
    "",
    "naïve café ☕ " * 50,
    "word " * 15_000,  # past the long-context limit
]


@pytest.fixture
def engine():
    return Engine(Settings(), ledger=Ledger(":memory:"), env={"OPENAI_API_KEY": "sk-test-" + "x" * 20})


def _alone(engine, rows):
    return [json.dumps(decision_json(route_one(engine, r["prompt"], r.get("action", "ask")), r["id"])) + "\n"
            for r in rows]


@pytest.mark.parametrize("chunk", [1, 3, 256])
def test_chunked_decisions_equal_deciding_each_prompt_alone(engine, chunk):
    rng = random.Random(chunk)
    rows = [{"id": i, "prompt": rng.choice(PROMPTS), "action": rng.choice(["ask", "ask", "explain", "review"])}
            for i in range(40)]
    out = []
    n = route_jsonl(engine, [json.dumps(r) + "\n" for r in rows], out.append, pytest.fail, chunk=chunk)
    assert n == 40
    assert "".join(out) == "".join(_alone(engine, rows))
    decided = [json.loads(line) for line in "".join(out).splitlines()]
    assert {d["tier"] for d in decided} == {1, 2, 3} and any(d["private"] for d in decided)


def test_big_prompts_are_counted_on_two_threads_and_still_agree(engine):
    rows = [{"id": i, "prompt": ("def f(x):\n    return x\n" * 12_000) + str(i)} for i in range(3)]  # > 256 KB
    out = []
    route_jsonl(engine, [json.dumps(r) for r in rows], out.append, pytest.fail)
    assert "".join(out) == "".join(_alone(engine, rows))


def test_bad_lines_are_reported_and_the_rest_decided_in_order(engine):
    lines = [
        json.dumps({"id": "a", "prompt": "Summarize this"}),
        "not json",
        "",
        json.dumps({"id": "b", "prompt": "x", "action": "dance"}),
        json.dumps(["a", "list"]),
        json.dumps({"id": "c", "prompt": 5}),
        json.dumps({"no": "prompt"}),
        json.dumps({"prompt": "[cloud] Prove it"}),
    ]
    out, warned = [], []
    assert route_jsonl(engine, lines, out.append, warned.append, chunk=2) == 2
    assert [(d["id"], d["tier"]) for d in map(json.loads, "".join(out).splitlines())] == [("a", 1), (8, 3)]
    assert [w.split(":")[0] for w in warned] == ["line 2", "line 4", "line 5", "line 6", "line 7"]
    assert "prompt must be a string" in warned[3]


def test_empty_input_writes_nothing(engine):
    out = []
    assert route_jsonl(engine, [], out.append, pytest.fail) == 0
    assert route_jsonl(engine, ["\n", "  \n"], out.append, pytest.fail) == 0
    assert out == []


def test_default_estimate_reads_the_ids_from_the_count(engine, monkeypatch):
    # the learned estimate must take its token ids from counts_and_heads, not encode each prompt again
    import hybridlsp.routing.learned as learned

    def no_second_encoding(text):
        raise AssertionError("estimate encoded the prompt a second time")

    monkeypatch.setattr(learned, "head_of", no_second_encoding)
    out = []
    prompt = ("What is the capital of Australia? Answer with the letter of the best option: A. Sydney "
              "B. Canberra C. Melbourne D. Perth E. Darwin")
    route_jsonl(engine, [json.dumps({"prompt": prompt})], out.append, pytest.fail)
    assert "learned difficulty" in json.loads(out[0])["reasons"][0]


def test_a_line_that_is_not_utf8_costs_that_line_only(engine):
    lines = [b'{"id": 1, "prompt": "Summarize this"}\n', b'{"id": 2, "prompt": "caf\xe9"}\n',
             '{"id": 3, "prompt": "Prove it: caf\u00e9"}\n'.encode()]
    out, warned = [], []
    assert route_jsonl(engine, lines, out.append, warned.append) == 2
    assert [json.loads(x)["id"] for x in "".join(out).splitlines()] == [1, 3]
    assert warned == ["line 2: skipped: not UTF-8 (byte 0xe9 at offset 24)"]


# --- shapes: asks the estimate alone decides share one policy run per (tier, secret) ------------

_QUESTIONS = [
    "Which of the following statements about the French Revolution is correct? A. It began in 1789 "
    "B. It ended in 1750 C. It was led by Napoleon from the start D. It took place in Spain",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May? Show each step of the arithmetic.",
    "Compose an engaging travel blog post about a recent trip to Hawaii, highlighting cultural "
    "experiences and must-see attractions, in a friendly and lively tone for a general audience.",
    "Suppose you are a mathematician and poet. You always write your proofs as short poems with less "
    "than 10 lines but rhyme. Prove the square root of 2 is irrational number.",
]
_PIECES = [*PROMPTS[:10], *_QUESTIONS, "[tier2] ", "[cloud] ", "refactor this ", "Summarize: ", " why does it ",
           "token AKIA" + "ABCDEFGHIJKLMNOP", " prove ", "\n", "é", "x" * 30]
_SETTINGS = {
    "default": {},
    "keywords": {"routing": {"difficulty": "keywords"}},
    "learned-40%": {"routing": {"difficulty": "learned", "cloud_share_target": 0.4}},
    "no estimate": {"routing": {"difficulty": "none", "default_tier": 2}},
    "cloud spent": {"budget": {"monthly_cloud_usd": 0.0001}},
    "short context": {"routing": {"long_context_tokens": 60}},
}


def _engine_for(name, key=True):
    env = {"OPENAI_API_KEY": "sk-test-" + "x" * 20} if key else {}
    return Engine(settings_from_mapping(_SETTINGS[name]), ledger=Ledger(":memory:"), env=env)


@hyp_settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(_SETTINGS)), st.booleans(),
       st.lists(st.tuples(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=5).map("".join),
                          st.sampled_from(["ask", "ask", "ask", "explain", "complete"]),
                          st.one_of(st.integers(), st.text(max_size=5), st.none(), st.floats(allow_nan=False))),
                min_size=1, max_size=25),
       st.sampled_from([1, 4, 256]))
def test_shared_shapes_equal_deciding_each_prompt_alone(name, key, rows, chunk):
    engine = _engine_for(name, key)
    rows = [{"id": rid, "prompt": prompt, "action": action} for prompt, action, rid in rows]
    out = []
    route_jsonl(engine, [json.dumps(r) for r in rows], out.append, pytest.fail, chunk=chunk)
    assert "".join(out) == "".join(_alone(engine, rows))


def test_shapes_are_reused_so_the_policy_runs_once_per_shape(engine, monkeypatch):
    import hybridlsp.routing.policy as policy

    calls = []
    real = policy.decide
    monkeypatch.setattr(sys.modules["hybridlsp.engine.route"], "decide",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    rows = [{"id": i, "prompt": _QUESTIONS[i % len(_QUESTIONS)] + f" ({i})"} for i in range(200)]
    out = []
    route_jsonl(engine, [json.dumps(r) for r in rows], out.append, pytest.fail)
    assert len(out[0].splitlines()) == 200
    assert len(calls) <= 6, len(calls)  # at most one per (estimated tier, secret) seen
    monkeypatch.undo()
    assert "".join(out) == "".join(_alone(engine, rows))


def test_an_id_of_null_is_echoed(engine):
    out = []
    route_jsonl(engine, [json.dumps({"id": None, "prompt": "hi"}), json.dumps({"prompt": "hi"})], out.append,
                pytest.fail)
    assert [json.loads(line)["id"] for line in "".join(out).splitlines()] == [None, 2]


@pytest.mark.parametrize("action", ["ask", "explain", "review", "complete", "commit-message"])
def test_a_bare_prompt_is_decided_as_its_run_request(engine, action):
    from hybridlsp.context.tokens import count_tokens
    from hybridlsp.request import RunRequest

    for prompt in PROMPTS:
        tokens = count_tokens(prompt)
        for secret in (False, True):
            assert engine.decide_prompt(action, prompt, tokens, secret) == engine.decide(
                RunRequest(action=action, text=prompt), tokens, secret=secret)


def test_new_settings_are_followed_by_the_next_decision(engine):
    # the router keeps what it works out from the settings per settings object: a change is seen
    prompt = "Prove that there are infinitely many primes."
    assert route_one(engine, prompt, "ask").tier == 3
    engine.update_settings(settings_from_mapping({"routing": {"difficulty": "none", "default_tier": 2}}))
    d = route_one(engine, prompt, "ask")
    assert d.tier == 2 and "default tier 2" in d.reasons[0]
    engine.update_settings(settings_from_mapping({"tiers": {"tier3": {"backend": "anthropic", "model": "claude-x"}}}))
    d = route_one(engine, prompt, "ask")  # no ANTHROPIC_API_KEY in this engine's environment
    assert d.tier == 2 and "no API key for anthropic" in d.reasons[-1]
