"""Each action's prompt (what it includes and leaves out) and its answer check, as tables."""

import json

import pytest

from hybridlsp.actions import ACTION_MODULES, get_action
from hybridlsp.actions.base import Action, ActionContext, Shown, sanitize
from hybridlsp.errors import ValidationFailed
from tests.support import need_module

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


def test_every_action_declares_what_the_protocol_lists():
    """Callers read these instead of the action's name (an editor's presentation, the CLI's streaming,
    the policy's wording): one left out fails there at run time, not at import."""
    for m in ACTION_MODULES.values():
        missing = [attr for attr in Action.__annotations__ if not hasattr(m, attr)]
        assert missing == [], m.name
        assert all(callable(getattr(m, f)) for f in ("gather", "messages", "validate", "present")), m.name
        assert isinstance(m.shown_as, Shown) and m.label and m.input_name, m.name
        flags = ("reads_document", "surroundings", "prompt_in_text", "reads_git", "condensable",
                 "continues_at_cursor", "streamed", "think", "cacheable")
        assert all(isinstance(getattr(m, f), bool) for f in flags), m.name


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


# --- commit messages: junk, the embedded model's subject, and the floor -------------------------

from hybridlsp.actions import commit_message  # noqa: E402
from tests.unit.test_changes import DOCS, LOCK, NEW_FILE, PY_ADDED_METHOD, PY_CHANGED, PY_REMOVED_FUNC  # noqa: E402


@pytest.mark.parametrize(
    "answer, problem",
    [
        ("```\nOutput: 1 2 3 4 5\n```", "not a subject"),  # what make demo printed (issue 14)
        ("1.1.1.1 1.1.1.1", "not a subject"),
        ("Output: Add a parser", "not a subject"),
        ("This code adds two numbers", "not a subject"),
        ("The function returns the sum", "not a subject"),
        ("Add parser\n\n+def parse(s):\n+    return s", "not commit message text"),
        ("Add parser\n\ndiff --git a/x b/x", "not commit message text"),
        ("Add parser\n\nExplanation: it parses", "not commit message text"),
        ("Add parser\n\n```python\nx = 1\n```", "not commit message text"),
        ("Avoid the best_effort of the best_effort", "repeats itself"),
    ],
)
def test_commit_message_rejects_junk(answer, problem):
    with pytest.raises(ValidationFailed, match=problem):
        commit_message.validate(answer, ActionContext())


def test_commit_message_keeps_a_bulleted_body():
    message = "Add peek to pkg/queue.py\n\n- pkg/queue.py: added peek; +3 -0 lines\n- and 2 more files"
    assert commit_message.validate(message, ActionContext()) == message


@pytest.mark.parametrize(
    "diff, subject",
    [
        (PY_CHANGED, "Update loads in src/tomli/_parser.py"),
        (PY_ADDED_METHOD, "Add peek to pkg/queue.py"),
        (PY_REMOVED_FUNC, "Remove legacy_path from pkg/util.py"),
        (NEW_FILE, "Add pkg/new_mod.py"),
        (DOCS, "Update README.md"),
        (PY_CHANGED + DOCS, "Update loads in src/tomli/_parser.py and README.md"),
        # the lock file is left out of the subject and said in the body
        (LOCK + DOCS, "Update README.md"),
    ],
)
def test_floor_names_the_file_and_what_it_touches(diff, subject):
    ctx = ActionContext(staged_diff=diff)
    message = commit_message.floor(ctx)
    assert message.split("\n")[0] == subject
    assert commit_message.validate(message, ctx) == message


def test_floor_body_lists_every_file_and_fits_long_names():
    long = "".join(
        f"diff --git a/pkg/a_rather_long_module_name_{i}.py b/pkg/a_rather_long_module_name_{i}.py\n"
        f"--- a/pkg/a_rather_long_module_name_{i}.py\n+++ b/pkg/a_rather_long_module_name_{i}.py\n"
        f"@@ -1 +1 @@ def some_function_with_a_long_name_{i}():\n-    x = {i}\n+    x = {i + 1}\n"
        for i in range(14))
    message = commit_message.floor(ActionContext(staged_diff=long + LOCK))
    subject, _, body = message.partition("\n\n")
    assert len(subject) <= 72 and "13 more files" in subject
    assert len(body.splitlines()) == 12 and body.splitlines()[-1] == "- and 4 more files"
    assert commit_message.floor(ActionContext(staged_diff="")) is None


# the body the embedded model's subject gets: the diff's facts, as the floor lists them
FACTS = "- src/tomli/_parser.py: changed loads; +4 -1 lines"


@pytest.mark.parametrize(
    "answer, result",
    [
        ("loads: Raise TypeError when given bytes", "loads: Raise TypeError when given bytes"),
        ("_parser.py: Handle a non-str input in loads.", "_parser.py: Handle a non-str input in loads"),
        # tidied: the first sentence only, which no longer repeats itself
        ("loads: Return the parsed table. Return the parsed table again",
         "loads: Return the parsed table"),
        ("Update the code so it works", ("fails", "names no file or symbol")),
        ("loads: Allow is a module that parses", ("fails", "not in the imperative")),
        ("loads: Raise an error when the input of", ("fails", "ends mid-phrase")),
        ("loads: Avoid 2.0.0.0/0/1/1/", ("fails", "too few words")),
        # three words in a row from a few-shot example's subject
        ("loads: Make it readable by its user", ("fails", "copies the prompt's example")),
    ],
)
def test_small_model_subject_check(answer, result):
    ctx = ActionContext(staged_diff=PY_CHANGED)
    if isinstance(result, str):
        assert commit_message.small_validate(answer, ctx) == result + "\n\n" + FACTS
    else:
        with pytest.raises(ValidationFailed, match=result[1]):
            commit_message.small_validate(answer, ctx)


def test_small_model_subject_stopped_by_the_length_limit_loses_its_last_clause_or_word():
    ctx = ActionContext(staged_diff=PY_CHANGED)
    room = commit_message._text_max(commit_message.targets(describe(PY_CHANGED)))
    words = "an error for bytes input, so callers see at once why the parse failed and where it happened"
    cut = "loads: Raise " + words[:room]
    assert commit_message.small_validate(cut, ctx) == "loads: Raise an error for bytes input\n\n" + FACTS
    words = "an error when the input of loads is bytes rather than text so callers see why it failed early"
    cut = "loads: Raise " + words[:room]
    assert commit_message.small_validate(cut, ctx) == cut.rsplit(" ", 1)[0] + "\n\n" + FACTS


def describe(diff):
    from hybridlsp.context.changes import describe_changes

    return describe_changes(diff)


def test_small_prompt_is_short_and_its_grammar_names_the_targets():
    small = commit_message.small_prompt(ActionContext(staged_diff=PY_CHANGED + DOCS))
    assert [m.role for m in small.messages] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    last = small.messages[-1].content
    assert last.startswith("Files: src/tomli/_parser.py (changed: loads), README.md")
    assert "+    try:" in last and "@@" not in last and "diff --git" not in last
    assert 'target ::= "loads" | "_parser.py" | "README.md"' in small.grammar
    assert small.max_tokens <= 32


def test_small_grammar_compiles_in_llama_cpp():
    llama_cpp = need_module("llama_cpp", "llama-cpp-python is not installed: pip install 'hybridlsp[embedded]'")
    grammar = commit_message.small_grammar(['a"quoted\\name', "x.py"])
    assert llama_cpp.LlamaGrammar.from_string(grammar, verbose=False) is not None
