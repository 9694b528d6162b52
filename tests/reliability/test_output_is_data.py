"""Model output is data: never executed, applied only where it was asked for, and stripped of
escape sequences and control characters before it reaches a terminal or a commit message.

The fake model answers with what a hostile or confused model could send: ANSI colour, screen
clearing, OSC 52 (write the clipboard), OSC 8 hyperlinks, window titles, 8-bit CSI, BEL, NUL,
backspaces, shell substitutions, and text that names other files.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridlsp.actions.base import StreamSanitizer, sanitize
from tests.e2e.conftest import CONFIG, git, repo, server_env  # noqa: F401
from tests.fakes.fixtures import fake_ollama, fake_openai  # noqa: F401

from .answering import AnsweringOllama
from .lspwire import Wire

ESC = "\x1b"
# An OSC with a space inside, so the fake streams it in two pieces: the stream sanitizer must hold it.
HOSTILE = (f"Result: {ESC}[31mred{ESC}[0m {ESC}]52;c;ZWNobyBvd25lZA=={ESC}\\ {ESC}]0;owned window\x07 {ESC}[2J"
           f"\x9b31m{ESC}]8;;http://example.invalid/\x07link{ESC}]8;;\x07 bell\x07 nul\x00 back\x08space "
           "$(touch {marker}) `touch {marker}` ; rm -rf ~/nothing-here")
HOSTILE_COMMIT = (f"Fix {ESC}[1mthe{ESC}[0m parser{ESC}]0;t\x07\n\nKeep $(touch {{marker}}) and "
                  f"`touch {{marker}}` as text.{ESC}[2J\x07")


def _clean(text: str) -> list[str]:
    """The control characters and escape sequences left in `text` (tab and newline are fine)."""
    return [repr(c) for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]


FRAGMENTS = [ESC, "[", "]", "\\", "\x07", "\x9b", "31m", "0;", "52;c;", "2J", "8;;", "m", ";", "\r", "\n", "\x00", "a", " "]


@settings(max_examples=400, deadline=None, database=None)
@given(pieces=st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3)), max_size=40),
       cuts=st.lists(st.integers(0, 200), max_size=12))
def test_a_streamed_answer_is_cleaned_exactly_like_the_whole(pieces, cuts):
    """However the stream splits an escape sequence, the terminal sees what `sanitize` of the
    whole answer gives: no fragment of a sequence gets through between two deltas."""
    text = "".join(pieces)
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    clean = StreamSanitizer()
    out = "".join(clean.feed(text[a:b]) for a, b in zip(bounds, bounds[1:])) + clean.flush()
    assert out == sanitize(text)


@pytest.fixture
def hostile_model(tmp_path):
    marker = tmp_path / "executed"
    with AnsweringOllama() as fake:
        fake.by_action["ask"] = HOSTILE.format(marker=marker)
        fake.by_action["commit-message"] = HOSTILE_COMMIT.format(marker=marker)
        fake.by_action["explain"] = HOSTILE.format(marker=marker)
        yield fake, marker


def _cli_env(tmp_path: Path, fake) -> dict:
    config = tmp_path / "hybridlsp.toml"
    config.write_text(CONFIG)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "OLLAMA_", "HYBRIDLSP_"))}
    env.update(OLLAMA_HOST=fake.url, HYBRIDLSP_HOME=str(home), HYBRIDLSP_CONFIG=str(config))
    return env


def _hybridlsp(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hybridlsp", *args], env=env, cwd=cwd, capture_output=True,
                          timeout=60)


def test_cli_ask_streams_no_escape_sequence_to_the_terminal(hostile_model, tmp_path):
    fake, marker = hostile_model
    out = _hybridlsp(["ask", "Summarize: the release notes"], _cli_env(tmp_path, fake), tmp_path)
    assert out.returncode == 0, out.stderr.decode()
    stdout, stderr = out.stdout.decode(), out.stderr.decode()
    assert "Result: red" in stdout and "link" in stdout  # the text stays; OSC payloads (a title) go
    assert "owned window" not in stdout and "ZWNobyBvd25lZA" not in stdout
    assert _clean(stdout) == [] and _clean(stderr) == []
    assert "$(touch" in stdout and not marker.exists()  # shown, never run


def test_commit_msg_hook_writes_no_escape_sequence(hostile_model, tmp_path, repo):  # noqa: F811
    fake, marker = hostile_model
    env = _cli_env(tmp_path, fake)
    msg = repo / ".git" / "COMMIT_EDITMSG"
    msg.write_text("\n# Please enter the commit message for your changes.\n")
    out = _hybridlsp(["commit-msg", "--hook", str(msg)], env, repo)
    assert out.returncode == 0, out.stderr.decode()
    written = msg.read_text()
    assert written.startswith("Fix the parser\n\nKeep $(touch ") and written.endswith(
        "# Please enter the commit message for your changes.\n")
    assert _clean(written) == [] and _clean(out.stderr.decode()) == []
    # git takes it as it is: the substitutions stay text in the commit, nothing ran
    git(repo, "commit", "-q", "-F", str(msg), "--cleanup=strip")
    subject = subprocess.run(["git", "log", "-1", "--format=%B"], cwd=repo, capture_output=True, text=True).stdout
    assert subject.startswith("Fix the parser") and "$(touch" in subject and not marker.exists()

    plain = _hybridlsp(["commit-msg"], env, repo)  # nothing staged now: a clear error, no traceback
    assert plain.returncode == 1 and "stage your changes" in plain.stderr.decode()


class _HostileErrors(AnsweringOllama):
    """Every error body carries escape sequences, as an upstream's message may."""

    def error_body(self, status, message, kind):
        return {"error": f"{ESC}]52;c;ZWNobyBvd25lZA=={ESC}\\{ESC}[2J context length exceeded \x07{ESC}[31m"}


def test_cli_error_messages_carry_no_escape_sequence(tmp_path):
    with _HostileErrors() as fake:
        fake.inject("400-context", "400-context", "500", "500")
        out = _hybridlsp(["ask", "Summarize: the release notes"], _cli_env(tmp_path, fake), tmp_path)
    stderr = out.stderr.decode()
    assert out.returncode == 1 and "every tier failed" in stderr and "context length exceeded" in stderr
    assert _clean(stderr) == [] and "Traceback" not in stderr


# ---- the language server: edits only where asked -------------------------------------------------

def _point(line: int, ch: int) -> dict:
    return {"start": {"line": line, "character": ch}, "end": {"line": line, "character": ch}}


async def test_edits_land_only_in_the_requested_document_and_range(server_env, repo, fake_ollama, tmp_path):  # noqa: F811
    marker = tmp_path / "executed"
    other = repo / "other.py"
    other.write_text("SECRET_PLACE = 1\n")
    fake_ollama.answer = (f"    return a * b  # {ESC}[31m{other.as_uri()}{ESC}[0m "
                          f'{{"changes": {{"{other.as_uri()}": []}}}} $(touch {marker})\n')
    wire = await Wire.start(server_env)
    try:
        await wire.initialize(repo.as_uri())
        target = repo / "ops.py"
        target.write_text("def multiply(a, b):\n\n\ndef unrelated():\n    pass\n")
        uri = target.as_uri()
        for path in (target, other):
            wire.notify("textDocument/didOpen", {"textDocument": {"uri": path.as_uri(), "languageId": "python",
                                                                  "version": 1, "text": path.read_text()}})
        actions = (await wire.request("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": _point(1, 0), "context": {"diagnostics": []}}))["result"]
        (complete,) = [a for a in actions if a["title"].startswith("Complete - ")]
        resolved = (await wire.request("codeAction/resolve", complete))["result"]
        assert "command" not in resolved  # nothing for the editor to execute
        assert list(resolved["edit"]["changes"]) == [uri] and "documentChanges" not in resolved["edit"]
        (edit,) = resolved["edit"]["changes"][uri]
        assert edit["range"] == _point(1, 0)  # inserted at the cursor, replacing nothing
        assert edit["newText"].startswith("    return a * b  # ") and _clean(edit["newText"]) == []

        # review: a finding outside the reviewed lines is refused, so no diagnostic or fix lands there
        fake_ollama.answer = json.dumps({"findings": [
            {"line": 2, "severity": "error", "message": f"bad {ESC}[5mblink", "fix": "    return a * b"},
            {"line": 4, "severity": "error", "message": "elsewhere", "fix": "import os; os.system('x')"}]})
        reply = await wire.request("hybridlsp/run", {"action": "review", "textDocument": {"uri": uri},
                                                     "range": {"start": {"line": 0, "character": 0},
                                                               "end": {"line": 1, "character": 0}}})
        # every tier's answer failed the check: a failure naming the tier and why, nothing applied
        assert "result" not in reply and "failed the check" in reply["error"]["message"]
        assert "outside the reviewed lines" in reply["error"]["message"]

        # explain: shown from a file the server names, in its own results folder, text cleaned
        fake_ollama.answer = HOSTILE.format(marker=marker) + " see ../../../etc/passwd"
        await wire.request("codeAction/resolve", next(a for a in actions if a["title"].startswith("Explain - ")))
        shown = [r for r in wire.server_requests if r["method"] == "window/showDocument"]
        (doc,) = shown
        path = Path(doc["params"]["uri"].removeprefix("file://"))
        assert path.parent == Path(server_env["HYBRIDLSP_HOME"]) / "results"
        assert _clean(path.read_text()) == []
        progress = [n["params"]["value"].get("message", "") for n in wire.notifications if n["method"] == "$/progress"]
        assert progress and _clean("".join(progress)) == []  # the stream too, not only the answer
    finally:
        assert await wire.close() == 0
    assert other.read_text() == "SECRET_PLACE = 1\n" and not marker.exists()
