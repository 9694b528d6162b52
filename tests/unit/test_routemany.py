"""`route --jsonl` in chunks (routemany.route_jsonl) decides exactly as routing each prompt alone."""

import json
import random

import pytest

from hybridlsp.config import Settings
from hybridlsp.engine import Engine
from hybridlsp.ledger.store import Ledger
from hybridlsp.routemany import decision_json, route_jsonl, route_one

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
