"""Answer signals (actions/signals.py): each one on answers that should and should not flag it."""

import math

import pytest

from hybridlsp.actions import signals as S

CODE = "import os\n\ndef divide(a, b):\n    result = a / b\n    return result\n"


@pytest.mark.parametrize(
    "answer,low",
    [
        ("She has 16 - 3 = 13 eggs, then 13 - 4 = 9, so 9 * $2 = $18.\n#### 18", False),
        ("So she makes 9 * 2 = 20 dollars.", True),
        ("It takes 2 + 1/2 = 5/2 = 2.5 bolts.", False),  # a chain, each step true
        ("2/2 * 1/2 = 1/2 bolt of white fiber", False),  # right side is itself an expression
        ("16 \\* 3/4 =  12 gift bags", False),  # Markdown-escaped star
        ("$10 + ($28 - $17) = $10 + $11 = $ 21 left", False),
        ("90 / 450 = 0.2 * 100 = 20% of her time", False),  # a percentage as the number before its sign
        ("11/8.5 = 1.3 hours", False),  # rounded to the digits shown
        ("235/3 = 78.33", False),
        ("235/3 = 79", True),
        ("He runs <<3*60=180>>180 meters, <<180*3=540>>540 a week", False),
        ("He runs <<3*60=190>>190 meters", True),
        ("Solve 2x + 3 = 7 for x", False),  # algebra is not a calculation
        ("rated 10/10 = 5 stars", True),  # prose can trip it: measured, not assumed
        ("no numbers here", False),
    ],
)
def test_arithmetic(answer, low):
    assert S.arithmetic(answer).low is low


def test_arithmetic_never_evaluates_code():
    # only numbers and + - * / reach the evaluator; anything else is not a calculation
    assert S.arithmetic("__import__('os').system('x') = 1").low is False
    assert S.arithmetic("9**9**9 = 1").low is False


@pytest.mark.parametrize(
    "answer,low",
    [
        ("The total is 3 bolts.", False),
        ("However, since you can't have half a bolt, it takes 3.", True),
        ("Wait, that is not right. Let me recalculate.", True),
        ("However the function returns early.", False),  # a plain "however" is not doubt
        ("I apologise for the confusion: it is 4.", True),
    ],
)
def test_hedging(answer, low):
    assert S.hedging(answer).low is low


@pytest.mark.parametrize(
    "answer,language,low",
    [
        ("Use this:\n```python\ndef f(x):\n    return x + 1\n```", "", False),
        ("Use this:\n```python\ndef f(x)\n    return x + 1\n```", "", True),
        ("Indented:\n```py\n    return x\n```", "", False),  # a fragment lifted out of a body
        ("```\nfunction f( {\n```", "javascript", True),  # untagged: the file's language
        ("```js\nconst f = (x) => x + 1;\n```", "", False),
        ("```text\nanything ( at all\n```", "", False),  # unknown language: not checked
        ("No code at all.", "python", False),
    ],
)
def test_code_parse(answer, language, low):
    assert S.code_parse(answer, language).low is low


@pytest.mark.parametrize(
    "answer,completion,low",
    [
        ("    if b == 0:\n        raise ValueError('b is 0')\n", True, False),
        ("    return os.path.join(result, str(a))\n", True, False),
        ("    return safe_divide(a, b)\n", True, True),  # not defined anywhere in the file
        ("    total = a + b\n    return total\n", True, False),  # defined by the completion itself
        ("    return [x for x in range(a)]\n", True, False),
        ("`divide` returns `result`, the quotient of `a` and `b`.", False, False),
        ("`divide` calls `check_zero` first.", False, True),
        ("It uses `os.path` and `len()`.", False, False),
    ],
)
def test_unknown_names(answer, completion, low):
    assert S.unknown_names(answer, CODE, language="python", completion=completion).low is low


def test_unknown_names_only_python_completions():
    assert S.unknown_names("return foo(x);", CODE, language="javascript", completion=True).low is False


@pytest.mark.parametrize(
    "logprobs,th,low",
    [
        ([math.log(0.9)] * 10, S.Thresholds(), False),
        ([math.log(0.3)] * 10, S.Thresholds(), True),
        ([math.log(0.9)] * 29 + [math.log(0.001)], S.Thresholds(), False),  # the minimum alone: off by default
        ([math.log(0.9)] * 29 + [math.log(0.001)], S.Thresholds(min_prob_floor=0.01), True),
        ([], S.Thresholds(), False),
        ([float("-inf"), math.log(0.9)], S.Thresholds(), False),  # a non-finite value is dropped
    ],
)
def test_token_confidence(logprobs, th, low):
    assert S.token_confidence(logprobs, th).low is low


@pytest.mark.parametrize(
    "a,b,low",
    [
        ("so 9 * 2 = 18\n#### 18", "She sells 9 eggs for $18. The answer is 18", False),
        ("#### 18", "#### 20", True),
        ("The function adds two numbers and returns the sum.", "It adds two numbers, returning the sum.", False),
        ("The function adds two numbers.", "This opens a socket to the server and waits.", True),
    ],
)
def test_samples_disagree(a, b, low):
    assert S.samples_disagree(a, b).low is low


@pytest.mark.parametrize(
    "action,kwargs,names",
    [
        ("ask", {}, ["arithmetic", "hedging", "code-parse"]),
        ("ask", {"max_tokens": 10, "output_tokens": 10}, ["arithmetic", "unfinished", "hedging", "code-parse"]),
        ("complete", {"source": CODE, "language": "python"}, ["unknown-names"]),
        ("review", {"source": CODE}, ["unknown-names"]),
        ("commit-message", {"logprobs": [-0.1]}, ["token-confidence"]),
        ("explain", {"second": "x"}, ["arithmetic", "code-parse", "samples-disagree"]),
        ("ask", {"enabled": ("hedging",)}, ["hedging"]),
    ],
)
def test_evaluate_applies_signals_per_action(action, kwargs, names):
    assert [s.name for s in S.evaluate(action, "an answer", **kwargs)] == names


def test_first_low_is_the_first_that_flags():
    sigs = S.evaluate("ask", "9 * 2 = 20. However, since we cannot have half, 3.", max_tokens=100, output_tokens=100)
    assert [s.name for s in sigs if s.low] == ["arithmetic", "unfinished", "hedging"]
    assert S.first_low(sigs).name == "arithmetic"
    assert S.first_low(S.evaluate("ask", "Paris.")) is None


def test_the_settings_name_every_signal():
    import typing

    from hybridlsp.config import Settings, SignalName

    assert set(typing.get_args(SignalName)) == set(S.SIGNALS)
    # the opt-in one is off by default: it doubles local calls
    assert "samples-disagree" not in Settings().escalation.signals


@pytest.mark.parametrize(
    "action,answer,ctx,escalation,kwargs,flag",
    [
        ("ask", "So 9 * 2 = 20.", dict(text="q"), {}, {}, "arithmetic"),
        ("ask", "So 9 * 2 = 20.", dict(text="q"), {"enabled": False}, {}, None),
        ("ask", "So 9 * 2 = 20.", dict(text="q"), {"signals": ["hedging"]}, {}, None),
        ("complete", "    return safe_divide(a, b)\n", dict(prefix=CODE, path="calc.py"), {}, {}, "unknown-names"),
        ("complete", "    return safe_divide(a, b)\n", dict(prefix=CODE, language="go"), {}, {}, None),
        ("explain", "It divides.", dict(text=CODE), {}, {"logprobs": [math.log(0.2)] * 5}, "token-confidence"),
        ("explain", "It divides.", dict(text=CODE), {"mean_token_prob_floor": 0.1}, {"logprobs": [math.log(0.2)] * 5},
         None),
        ("ask", "#### 18", dict(text="q"), {"signals": ["samples-disagree"]}, {"second": "#### 20"}, "samples-disagree"),
        ("ask", "A long answer", dict(text="q"), {}, {"output_tokens": 50, "max_tokens": 50}, "unfinished"),
    ],
)
def test_assess_follows_the_settings(action, answer, ctx, escalation, kwargs, flag):
    from hybridlsp.actions.base import ActionContext
    from hybridlsp.config import settings_from_mapping

    settings = settings_from_mapping({"escalation": escalation})
    got = S.assess(action, answer, ActionContext(**ctx), settings, **kwargs)
    assert (got.name if got else None) == flag
