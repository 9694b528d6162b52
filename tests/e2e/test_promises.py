"""The README's promises that had no test, each through the real CLI (`python -m hybridlsp` in a
subprocess) or a real LSP session, with the model servers faked on 127.0.0.1."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types as t
from pytest_lsp import client_capabilities

from tests import support
from tests.fakes.upstreams import free_port

from .conftest import CONFIG, session

CACHED = CONFIG.replace("[cache]\nenabled = false", "[cache]\nenabled = true")


def cli(env: dict, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "hybridlsp", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def sent_text(fake) -> str:
    """Everything the last request to `fake` asked the model, as one string."""
    return "\n".join(m["content"] for m in fake.requests[-1].json["messages"])


# ---- explain | review | complete FILE[:START-END] --------------------------------------------

def test_explain_a_line_range_sends_those_lines(server_env, repo, fake_ollama):
    fake_ollama.answer = "Divides a by b and returns the quotient."
    out = cli(server_env, repo, "explain", "calc.py:4-6")
    assert out.stdout.strip() == "Divides a by b and returns the quotient."
    assert "decision: tier 1" in out.stderr
    sent = sent_text(fake_ollama)
    assert "def divide(a, b):\n    result = a / b\n    return result" in sent
    assert "def double(x)" not in sent  # lines 12-13: outside the range


def test_review_a_whole_file_prints_its_findings(server_env, repo, fake_ollama):
    fake_ollama.answer = json.dumps({"findings": [
        {"line": 5, "severity": "error", "message": "division by zero when b is 0"}]})
    out = cli(server_env, repo, "review", "calc.py")
    assert "division by zero when b is 0" in out.stdout
    assert "def double(x):" in sent_text(fake_ollama)  # the whole file, its last function included


def test_complete_a_range_prints_the_completion(server_env, repo, fake_ollama):
    fake_ollama.answer = "    return a * b"
    out = cli(server_env, repo, "complete", "calc.py:4-5")
    assert out.stdout.strip() == "return a * b"
    assert "result = a / b" in sent_text(fake_ollama)


@pytest.mark.parametrize("spec", ["calc.py:50-60", "calc.py:0-2", "calc.py:6-4"])
def test_a_range_outside_the_file_is_an_error_before_any_request(server_env, repo, fake_ollama, spec):
    out = cli(server_env, repo, "explain", spec, check=False)
    assert out.returncode != 0
    assert "outside the file's 1-" in out.stderr and "Traceback" not in out.stderr
    assert fake_ollama.request_count == 0


# ---- ask --tier, and a [tier] flag ---------------------------------------------------------------

@pytest.mark.parametrize("tier, model", [("1", "model-a"), ("2", "model-b"), ("3", "gpt-4.1")])
def test_ask_tier_sends_to_that_tier(server_env, repo, fake_ollama, fake_openai, tier, model):
    out = cli(server_env, repo, "ask", "--tier", tier, "Summarize: the build is green.")
    assert f"decision: tier {tier}" in out.stderr
    fake = fake_openai if tier == "3" else fake_ollama
    assert fake.request_count == 1 and fake.requests[-1].json["model"] == model
    assert (fake_ollama if tier == "3" else fake_openai).request_count == 0


@pytest.mark.parametrize("flag, tier, model", [("[heavy]", 2, "model-b"), ("[CLOUD]", 3, "gpt-4.1"),
                                                ("[tier1]", 1, "model-a")])
def test_a_tier_flag_is_obeyed_and_removed_from_what_is_sent(server_env, repo, fake_ollama, fake_openai, flag, tier,
                                                               model):
    out = cli(server_env, repo, "ask", f"{flag} Name three primary colours.")
    assert f"decision: tier {tier}" in out.stderr
    fake = fake_openai if tier == 3 else fake_ollama
    assert fake.requests[-1].json["model"] == model
    body = fake.requests[-1].body.decode()
    assert "Name three primary colours." in sent_text(fake)
    assert flag.lower() not in body.lower()


# ---- serve --tcp -------------------------------------------------------------------------------

def _frame(msg: dict) -> bytes:
    body = json.dumps(msg).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def _read(sock_file) -> dict:
    length = None
    while True:
        line = sock_file.readline()
        if not line:
            raise EOFError("the server closed the connection")
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return json.loads(sock_file.read(length))


def _answer(sock_file, msg_id: int) -> dict:
    while True:
        msg = _read(sock_file)
        if msg.get("id") == msg_id and "method" not in msg:
            return msg


def test_serve_tcp_speaks_lsp_on_that_port(server_env, repo):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hybridlsp", "serve", "--tcp", str(port)], cwd=repo,
                            env=server_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except ConnectionRefusedError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "nothing listened on the port"
                time.sleep(0.1)
        with conn, conn.makefile("rb") as fh:
            conn.sendall(_frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                 "params": {"processId": None, "rootUri": repo.as_uri(), "capabilities": {}}}))
            init = _answer(fh, 1)
            assert init["result"]["capabilities"]["codeActionProvider"]["resolveProvider"] is True
            uri = (repo / "calc.py").as_uri()
            conn.sendall(_frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}) + _frame(
                {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
                    "uri": uri, "languageId": "python", "version": 1, "text": (repo / "calc.py").read_text()}}}))
            point = {"line": 4, "character": 4}
            conn.sendall(_frame({"jsonrpc": "2.0", "id": 2, "method": "textDocument/codeAction", "params": {
                "textDocument": {"uri": uri}, "range": {"start": point, "end": point}, "context": {"diagnostics": []}}}))
            titles = [a["title"] for a in _answer(fh, 2)["result"]]
            assert [title.split(" - ")[0] for title in titles] == ["Complete", "Explain", "Review", "Commit message"]
            conn.sendall(_frame({"jsonrpc": "2.0", "id": 3, "method": "shutdown", "params": None}))
            assert "error" not in _answer(fh, 3)
            conn.sendall(_frame({"jsonrpc": "2.0", "method": "exit", "params": None}))
        assert proc.wait(30) == 0
        assert proc.stdout.read() == b""  # over TCP nothing goes to stdout either
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- doctor never prints keys ---------------------------------------------------------------------

def test_doctor_never_prints_keys(server_env, repo, fake_ollama):
    keys = {"OPENAI_API_KEY": "sk-" + secrets.token_hex(24), "ANTHROPIC_API_KEY": "sk-ant-" + secrets.token_hex(24)}
    env = {**server_env, **keys}
    out = cli(env, repo, "-v", "doctor", check=False)  # -v: debug logging to stderr too
    said = out.stdout + out.stderr
    assert "OPENAI_API_KEY is set" in said
    for key in keys.values():
        body = key.split("-")[-1]
        leaked = [body[i:i + 8] for i in range(len(body) - 7) if body[i:i + 8] in said]
        assert not leaked, f"doctor printed part of a key: {leaked[:3]}"


# ---- the ledger never holds prompt text; the cache is never exported ----------------------------

def _stored_bytes(home: Path) -> bytes:
    """Every SQLite file in the home (the ledger, the answer cache), write-ahead logs included."""
    files = sorted(home.glob("*.sqlite3*"))
    assert any(f.name == "ledger.sqlite3" for f in files), files
    return b"".join(f.read_bytes() for f in files)


def test_the_ledger_and_the_cache_never_hold_prompt_text_or_paths(tmp_path, repo, fake_ollama, fake_openai):
    env = support.server_env(tmp_path, CACHED, OLLAMA_HOST=fake_ollama.url, OPENAI_BASE_URL=fake_openai.base_url,
                             OPENAI_API_KEY="sk-test")
    marker = "quokka" + secrets.token_hex(6)
    source = repo / f"{marker}_module.py"
    source.write_text(f"def {marker}(x):\n    # {marker} in a comment\n    return x + 1\n")
    fake_ollama.answer = "Adds one to its argument."
    cli(env, repo, "ask", f"Summarize: the {marker} release notes.")
    cli(env, repo, "explain", f"{source.name}:1-3")
    cli(env, repo, "ask", "--tier", "3", f"Why is {marker} slow?")
    rows = [json.loads(line) for line in cli(env, repo, "export", "--jsonl").stdout.splitlines()]
    assert len([r for r in rows if r.get("kind", "request") == "request"]) >= 3  # the ledger has the three
    stored = _stored_bytes(Path(env["HYBRIDLSP_HOME"]))
    assert marker.encode() not in stored
    assert marker not in json.dumps(rows)


def test_the_cache_answers_a_repeat_and_is_never_exported(tmp_path, repo, fake_ollama):
    env = support.server_env(tmp_path, CACHED, OLLAMA_HOST=fake_ollama.url, OPENAI_API_KEY="sk-test")
    answer = "Cached answer " + secrets.token_hex(6) + "."
    fake_ollama.answer = answer
    first = cli(env, repo, "ask", "Summarize: the build is green.")
    second = cli(env, repo, "ask", "Summarize: the build is green.")
    assert first.stdout.strip() == second.stdout.strip() == answer
    assert fake_ollama.request_count == 1  # the second came from the cache
    exported = cli(env, repo, "export", "--jsonl").stdout
    assert len(exported.splitlines()) >= 2  # both requests are in the ledger's export
    assert answer not in exported and answer.split()[-1] not in exported


# ---- the 80 % budget warning reaches the editor ----------------------------------------------------

PROMPT = {"action": "ask", "prompt": "[cloud] Analyze the trade-offs of sharding"}


async def test_the_80_percent_budget_warning_reaches_the_editor_once(server_env, repo, fake_openai):
    fake_openai.usage = (20_000, 2_500)  # $0.04 in + $0.02 out on gpt-4.1: $0.06 a request, against a $1 cap
    async with session(server_env, client_capabilities("neovim"), repo,
                       initialization_options={"budget": {"monthlyCloudUsd": 1.0}}) as s:
        said = lambda: [m for m in s.client.messages if "budget" in m.message]  # noqa: E731
        for _ in range(13):  # $0.78: 78 %
            assert (await s.run(PROMPT))["decision"]["tier"] == 3
        assert said() == []
        assert (await s.run(PROMPT))["decision"]["tier"] == 3  # $0.84: 84 %
        (warning,) = said()
        assert warning.type == t.MessageType.Warning and "monthly cloud budget" in warning.message
        assert (await s.run(PROMPT))["decision"]["tier"] == 3  # $0.90: still below the cap, still cloud
        assert said() == [warning]  # said once, not after every request


# ---- boundaries: a 72-character subject, 8,000 against 8,001 tokens -------------------------------

def _subject(n: int) -> str:
    words = "Add a double helper that returns twice its argument and document why it exists here".split()
    out = ""
    for w in words * 3:
        out = f"{out} {w}".strip()
        if len(out) >= n:
            break
    return (out[:n - 1].rstrip() + "s").ljust(n, "s")[:n]


@pytest.mark.parametrize("length", [72, 73])
def test_a_commit_subject_of_72_characters_is_accepted_and_73_is_not(server_env, repo, fake_ollama, fake_openai,
                                                                     length):
    subject = _subject(length)
    assert len(subject) == length
    fake_ollama.answer = subject
    out = cli(server_env, repo, "commit-msg")
    if length == 72:
        assert out.stdout.strip() == subject
        assert "fallback" not in out.stderr and fake_openai.request_count == 0
    else:
        assert out.stdout.strip() != subject
        # the same words one character longer: refused as an invalid answer, the next tier asked
        assert "fallback tier1:ollama/model-a -> tier2:ollama/model-b: invalid-answer" in out.stderr


def test_8000_tokens_stay_local_and_8001_go_to_the_cloud(server_env, repo, tmp_path):
    # " word" is one cl100k token: prompts around the limit, one token apart
    lines = [json.dumps({"id": n, "action": "explain", "prompt": "word" + " word" * (n - 1)}) for n in
             range(7_990, 8_011)]
    data = tmp_path / "around-the-limit.jsonl"
    data.write_text("\n".join(lines) + "\n")
    decided = {d["input_tokens"]: d for d in map(json.loads, cli(server_env, repo, "route", "--jsonl",
                                                                  str(data)).stdout.splitlines())}
    at, over = decided[8_000], decided[8_001]
    assert at["tier"] != 3 and not any("long-context" in r for r in at["reasons"]), at
    assert over["tier"] == 3 and any("8,001" in r and "8,000" in r for r in over["reasons"]), over
