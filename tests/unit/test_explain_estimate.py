"""What `route`, `explain` and the code-action titles show of the difficulty estimate: the deciding
estimate's own account and the cold-start probabilities beside it (routing.explain)."""

import math
import re

import pytest

from hybridlsp.config import settings_from_mapping
from hybridlsp.context.tokens import head_tokens
from hybridlsp.routing.explain import estimate_lines, probabilities_by_action, probabilities_summary
from hybridlsp.routing.learned import HEAD_TOKENS, load_model

LONG = ("What is the capital of France, and why did the kings of France choose that city over the "
        "others along the river Seine when they had so many to choose from in the middle ages?")
PROBS = re.compile(r"p\(tier 1 enough\) 0\.\d\d, p\(tier 2 enough\) 0\.\d\d; moved by \w+ [+-]\d\.\d\d")


def s(difficulty):
    return settings_from_mapping({"routing": {"difficulty": difficulty}})


# (difficulty, prompt, action, what the first line says, number of lines)
@pytest.mark.parametrize("difficulty, text, action, first, n", [
    ("hybrid", "Prove that the sum of two even numbers is even, step by step.", "ask",
     "task keyword 'prove' -> tier 3 (the learned estimate is not consulted)", 2),
    ("hybrid", "hi", "ask", "learned estimate abstains: 1 tokens is shorter", 2),
    ("hybrid", LONG, "ask", "learned estimate 0.", 2),
    ("learned", LONG, "ask", "learned estimate 0.", 2),
    ("keywords", LONG, "ask", "no task keyword in the prompt's head", 2),
    ("coldstart", LONG, "ask", "cold-start p(tier 1 enough) 0.", 1),
    ("coldstart", "hi", "ask", "cold-start abstains: 2 chars is shorter than any prompt", 1),
    ("none", LONG, "ask", "cold-start estimate (not deciding): p(tier 1 enough)", 1),
    # other actions decide by size: only the cold-start probabilities, marked as not deciding
    ("hybrid", "def f(x):\n    return x + 1\n", "explain", "cold-start estimate (not deciding): ", 1),
    ("coldstart", "def f(x):\n    return x + 1\n", "review", "cold-start estimate (not deciding): ", 1),
])
def test_estimate_lines_table(difficulty, text, action, first, n):
    lines = estimate_lines(text, action, s(difficulty))
    assert len(lines) == n
    assert lines[0].startswith(first), lines[0]
    if difficulty != "coldstart" or action != "ask":
        assert lines[-1].startswith("cold-start estimate (not deciding): ")


def test_learned_line_names_the_tokens_that_moved_it():
    line = estimate_lines(LONG, "ask", s("learned"))[0]
    assert re.fullmatch(r"learned estimate 0\.\d{3}, moved by '[^']+' [+-]0\.\d{3}, .+", line), line


def test_summary_gives_both_probabilities_and_the_features():
    assert PROBS.match(probabilities_summary(LONG, "ask"))


def test_learned_contributions_add_up_to_the_logit():
    m = load_model()
    head = head_tokens(LONG, HEAD_TOKENS)
    parts = m.contributions(head)
    # every distinct id and pair bucket once; their sum is the logit less the bias
    assert math.fsum(c for _, c in parts) == pytest.approx(m.logit_of_head(head) - m.bias, abs=1e-9)
    assert [abs(c) for _, c in parts] == sorted((abs(c) for _, c in parts), reverse=True)


def test_learned_contributions_of_an_empty_head():
    assert load_model().contributions([]) == []


ACTIONS = ("complete", "explain", "review", "commit-message")


def test_probabilities_by_action_equal_one_explanation_each():
    from hybridlsp.routing.coldstart import load_coldstart

    text = "def area(r):\n    return 3.14159 * r * r\n"
    got = probabilities_by_action(text, ACTIONS)
    m = load_coldstart()
    assert got == {a: f"p(tier 1 enough) {m.explain(text, a).p_tier1:.2f}" for a in ACTIONS}


@pytest.mark.parametrize("estimate, expected", [
    ("", "Explain - local m (1,234 tokens)"),
    ("p(tier 1 enough) 0.78", "Explain - local m (1,234 tokens, p(tier 1 enough) 0.78)"),
])
def test_code_action_title_carries_the_estimate(estimate, expected):
    from hybridlsp.lsp.convert import title
    from hybridlsp.routing.types import Decision

    d = Decision(tier=1, backend="ollama", model="m", max_output_tokens=10, chain=(), reasons=(), prompt="",
                 input_tokens=1234)
    assert title("explain", d, estimate) == expected
