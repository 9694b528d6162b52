"""Each action's prompt (what it includes and leaves out) and its answer check, as tables."""

import json

import pytest

from hybridlsp.actions import ACTION_MODULES, get_action
from hybridlsp.actions.base import ActionContext, sanitize
from hybridlsp.errors import ValidationFailed

CODE = "def add(a, b):\n    return a + b\n"


def user_text(action, ctx):
    msgs = get_action(action).messages(ctx)
    assert msgs[0].role == "system" and msgs[-1].role == "user"
    return msgs[-1].content


@pytest.mark.parametrize(
    "action,ctx,includes,excludes",
    [
        ("explain", ActionContext(text=CODE, language="python"),
         ["Explain what this python code does", "at most 3 sentences", CODE.strip()], ["diff", "JSON"]),
        ("explain", ActionContext(text=CODE, language="python", prompt="why b?"),
         ["The developer asks: why b?"], []),
        ("complete", ActionContext(text="def f(x):\n", prefix="import os\n", suffix="print(f(2))\n", language="python"),
         ["Continue this python code", "Output only the new code", "import os\ndef f(x):", "print(f(2))"], ["```"]),
        ("complete", ActionContext(text="x = ", language="python"), ["x = "], ["Code after the cursor"]),
        ("review", ActionContext(text=CODE, start_line=9, language="python"),
         ["Answer with JSON only", '"findings"', "   10 | def add(a, b):", "   11 |     return a + b"],
         ["Recent changes"]),
        ("review", ActionContext(text=CODE, language="python", file_diff="+x = 1"),
         ["Recent changes to this file", "+x = 1"], []),
        ("commit-message", ActionContext(staged_diff="+x = 2", recent_subjects=("Add a", "Fix b")),
         ["at most 72 characters", "Output only the message", "- Add a", "- Fix b", "Staged diff:\n+x = 2"],
         ["Files left out"]),
        ("commit-message", ActionContext(staged_diff="+x", omitted=("package-lock.json (lock file)",)),
         ["Files left out of the diff: package-lock.json (lock file)"], ["recent subjects"]),
        ("ask", ActionContext(text="Translate 'hello' to French"), ["Translate 'hello' to French"], ["```"]),
    ],
)
def test_prompt_includes_and_leaves_out(action, ctx, includes, excludes):
    text = user_text(action, ctx)
    for s in includes:
        assert s in text
    for s in excludes:
        assert s not in text


def test_every_action_has_a_module_with_the_interface():
    assert set(ACTION_MODULES) == {"complete", "explain", "review", "commit-message", "ask"}
    for m in ACTION_MODULES.values():
        assert callable(m.messages) and callable(m.validate)
        assert isinstance(m.cacheable, bool)
    assert ACTION_MODULES["complete"].cacheable is False


@pytest.mark.parametrize(
    "answer,expected",
    [
        ("Add discount helper", "Add discount helper"),
        ('"Add discount helper"', "Add discount helper"),
        ("Commit message: Add discount helper", "Add discount helper"),
        ("```\nAdd discount helper\n```", "Add discount helper"),
        ("Add discount helper\n\n\nIt takes a percent.", "Add discount helper\n\nIt takes a percent."),
        ("Add discount helper\n# comment\nBody", "Add discount helper\n\nBody"),
        ("Add \x1b[31mdiscount\x1b[0m helper", "Add discount helper"),
    ],
)
def test_commit_message_accepts_and_cleans(answer, expected):
    assert get_action("commit-message").validate(answer, ActionContext()) == expected


@pytest.mark.parametrize(
    "answer,problem",
    [
        ("", "empty"),
        ("x" * 73, "more than 72"),
        ("I'm sorry, I can't help with that", "refused"),
        ("I'm not sure what this diff does", "refused"),
        ("diff --git a/x b/x", "not a subject"),
        ("Here is the commit message:", "not a subject"),
        ("12", "not a subject"),
        ("Add x\n\n" + "\n".join(str(i) for i in range(20)), "body has"),
    ],
)
def test_commit_message_rejects(answer, problem):
    with pytest.raises(ValidationFailed, match=problem):
        get_action("commit-message").validate(answer, ActionContext())


@pytest.mark.parametrize(
    "answer,ok",
    [
        ("This adds two numbers and returns the result.", True),
        ("Too short", False),
        ("As an AI, I cannot explain code.", False),
        ("   ", False),
    ],
)
def test_explain_check(answer, ok):
    ex = get_action("explain")
    if ok:
        assert ex.validate(answer, ActionContext()) == answer
    else:
        with pytest.raises(ValidationFailed):
            ex.validate(answer, ActionContext())


@pytest.mark.parametrize(
    "completion,ok",
    [
        ("    return x * 2\n", True),
        ("```python\n    return x * 2\n```", True),
        ("    return (x * \n", False),
        ("", False),
    ],
)
def test_completion_must_parse_in_its_language(completion, ok):
    ctx = ActionContext(text="def f(x):\n", language="python", path="f.py")
    c = get_action("complete")
    if ok:
        assert c.validate(completion, ctx).strip() == "return x * 2"
    else:
        with pytest.raises(ValidationFailed):
            c.validate(completion, ctx)


def test_completion_in_unknown_language_is_not_parsed():
    ctx = ActionContext(text="foo ", language="cobol", path="x.cob")
    assert get_action("complete").validate("bar (", ctx) == "bar ("


REVIEW_CTX = ActionContext(text="a = 1\nb = a / 0\n", start_line=4)


@pytest.mark.parametrize(
    "answer,findings",
    [
        ('{"findings": []}', []),
        ('```json\n{"findings": [{"line": 6, "severity": "error", "message": "division by zero"}]}\n```',
         [{"line": 5, "end_line": 5, "severity": "error", "message": "division by zero", "fix": None}]),
        ('Sure! {"findings": [{"line": 5, "severity": "LOUD", "message": "m", "fix": "a = 2"}]}',
         [{"line": 4, "end_line": 4, "severity": "warning", "message": "m", "fix": "a = 2"}]),
    ],
)
def test_review_findings_parse(answer, findings):
    out = json.loads(get_action("review").validate(answer, REVIEW_CTX))
    assert out["findings"] == findings


@pytest.mark.parametrize(
    "answer,problem",
    [
        ("no json here", "no JSON"),
        ('{"findings": [{"line": 99, "severity": "error", "message": "x"}]}', "outside the reviewed lines"),
        ('{"findings": [{"line": 5, "severity": "error"}]}', "no message"),
        ('{"items": []}', "no 'findings'"),
        ('{"findings": [', "no JSON"),
    ],
)
def test_review_rejects(answer, problem):
    with pytest.raises(ValidationFailed, match=problem):
        get_action("review").validate(answer, REVIEW_CTX)


@pytest.mark.parametrize(
    "raw,clean",
    [
        ("a\x1b[2Jb", "ab"),
        ("a\x1b]0;title\x07b", "ab"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("nul\x00bell\x07", "nulbell"),
        ("crlf\r\nline", "crlf\nline"),
    ],
)
def test_sanitize_strips_escapes_and_controls(raw, clean):
    assert sanitize(raw) == clean


def test_unknown_action_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown action 'dance'"):
        get_action("dance")


def test_review_schema_bounds_what_a_constrained_model_can_write():
    # a grammar built from this schema (llama.cpp, Ollama `format`) stops a rambling small model
    findings = get_action("review").json_schema["properties"]["findings"]
    item = findings["items"]["properties"]
    assert findings["maxItems"] == 20 and item["message"]["maxLength"] == 200 and item["fix"]["maxLength"] == 300
