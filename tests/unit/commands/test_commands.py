"""The command line, run in-process against fake upstreams on 127.0.0.1."""

import json
import subprocess
import sys

import pytest

from hybridlsp.context import multimatch
from hybridlsp.commands import build_parser, main, parse_args
from tests.fakes.upstreams import FakeOllama


@pytest.fixture(autouse=True)
def _route_mode_stays_in_its_test(monkeypatch):
    # `route` switches the process to compiling pattern sets in the background: undone afterwards
    monkeypatch.setattr(multimatch, "_in_background", multimatch._in_background)


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HYBRIDLSP_HOME", str(h))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("HYBRIDLSP_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (h / "config.toml").write_text("[embedded]\nenabled = false\n")
    return h


@pytest.fixture
def ollama(monkeypatch):
    with FakeOllama(answer="Add the discount helper", models=("qwen2.5-coder:14b", "llama3.3:70b")) as fake:
        monkeypatch.setenv("OLLAMA_HOST", fake.url)
        yield fake


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-" + "x" * 20)


def test_route_without_key_says_why_cloud_was_not_chosen(home, capsys):
    assert main(["route", "--json", "[cloud] Analyze the trade-offs"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tier"] == 2 and "no API key for openai" in out["reasons"][-1]


def test_route_json_article_examples(home, key, capsys):
    cases = [
        ("Summarize this meeting transcript: we agreed on dates", 1),
        ("[heavy] Review this codebase for problems", 2),
        ("[cloud] Analyze the trade-offs of sharding", 3),
    ]
    for prompt, tier in cases:
        assert main(["route", "--json", prompt]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["tier"] == tier, prompt
        assert out["reasons"] and out["input_tokens"] > 0


@pytest.mark.parametrize("action, what", [("ask", "input"), ("commit-message", "staged diff")])
def test_route_long_prompt_goes_to_cloud(home, key, capsys, action, what):
    prompt = "word " * 15_000
    assert main(["route", "--json", "--action", action, prompt]) == 0
    out = json.loads(capsys.readouterr().out)
    # the reason names what is sent as the action calls it
    assert out["tier"] == 3 and out["reasons"][0].startswith(f"{what} ") and "long-context" in out["reasons"][0]


def test_route_text_output_shows_reasons_and_chain(home, capsys):
    assert main(["route", "Translate this to German"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tier 1: ollama qwen2.5-coder:14b") and "because task keyword 'translate'" in out
    assert "chain: tier1:ollama" in out


def test_route_jsonl_one_decision_per_line_and_bad_lines_reported(home, key, tmp_path, capsys):
    f = tmp_path / "p.jsonl"
    f.write_text(
        json.dumps({"id": "a", "prompt": "Summarize this"}) + "\n"
        + "not json\n"
        + json.dumps({"id": "b", "prompt": "x", "action": "dance"}) + "\n"
        + json.dumps({"id": "c", "prompt": "[cloud] Prove it", "action": "ask"}) + "\n"
    )
    f.write_bytes(f.read_bytes() + b'{"id": "d", "prompt": "caf\xe9"}\n')  # not UTF-8: that line only
    assert main(["route", "--jsonl", str(f)]) == 0
    cap = capsys.readouterr()
    rows = [json.loads(line) for line in cap.out.splitlines()]
    assert [(r["id"], r["tier"]) for r in rows] == [("a", 1), ("c", 3)]
    assert {"id", "tier", "backend", "model", "reasons", "input_tokens"} <= set(rows[0])
    assert "line 2: skipped" in cap.err and "line 3: skipped" in cap.err and "line 5: skipped: not UTF-8" in cap.err


def _repo(path):
    env = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@e.invalid", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@e.invalid", "PATH": "/usr/bin:/bin"}
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "Start"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)
    (path / "a.py").write_text("x = 1\n")
    subprocess.run(["git", "add", "a.py"], cwd=path, check=True)


def test_commit_msg_hook_fills_the_file(home, ollama, tmp_path, capsys):
    _repo(tmp_path)
    msg = tmp_path / ".git" / "COMMIT_EDITMSG"
    msg.write_text("# Please enter the commit message\n")
    assert main(["commit-msg", "--hook", str(msg), "template"]) == 0
    assert msg.read_text().startswith("Add the discount helper\n# Please enter")
    assert "decision: tier 1" in capsys.readouterr().err


def test_a_retried_commit_gets_its_message_from_the_first_attempt(home, ollama, tmp_path, capsys):
    # each hook run is a new process: the repeat is answered from answers.sqlite3, not the model
    _repo(tmp_path)
    for _ in range(2):
        msg = tmp_path / ".git" / "COMMIT_EDITMSG"
        msg.write_text("# Please enter the commit message\n")
        assert main(["commit-msg", "--hook", str(msg), "template"]) == 0
        assert msg.read_text().startswith("Add the discount helper\n")
    assert ollama.request_count == 1
    assert "answered from cache" in capsys.readouterr().err


@pytest.mark.parametrize("source,content", [("message", "my own message\n"), (None, "already written\n")])
def test_commit_msg_hook_leaves_a_given_message_alone(home, ollama, tmp_path, source, content):
    _repo(tmp_path)
    msg = tmp_path / "MSG"
    msg.write_text(content)
    argv = ["commit-msg", "--hook", str(msg)] + ([source] if source else [])
    assert main(argv) == 0
    assert msg.read_text() == content and ollama.request_count == 0


JUNK = "```\nOutput: 1 2 3 4 5 6\n```"  # what the issue saw written into commits


def test_commit_msg_that_fails_its_check_prints_nothing_and_says_why(home, ollama, tmp_path, capsys):
    _repo(tmp_path)
    ollama.answer = JUNK
    assert main(["commit-msg"]) == 1
    cap = capsys.readouterr()
    assert cap.out == ""
    assert "failed the check" in cap.err and "is not a subject line" in cap.err
    assert "tier1:ollama/qwen2.5-coder:14b" in cap.err  # the tier that failed


def test_commit_msg_hook_that_fails_leaves_the_message_empty_with_why(home, ollama, tmp_path, capsys):
    _repo(tmp_path)
    ollama.answer = JUNK
    msg = tmp_path / ".git" / "COMMIT_EDITMSG"
    msg.write_text("# Please enter the commit message\n")
    assert main(["commit-msg", "--hook", str(msg), "template"]) == 0  # never blocks the commit
    text = msg.read_text()
    assert all(line.startswith("#") for line in text.splitlines())  # git drops every line: empty message
    assert text.startswith("# hybridlsp wrote no commit message:\n") and "failed the check" in text
    assert text.endswith("# Please enter the commit message\n")
    assert "no commit message" in capsys.readouterr().err


def test_commit_msg_hook_gives_up_at_its_time_limit(home, ollama, tmp_path):
    import time

    from tests.fakes.upstreams import Fault

    _repo(tmp_path)
    ollama.inject(Fault("drip", delay=1.0), Fault("drip", delay=1.0))
    msg = tmp_path / "MSG"
    msg.write_text("")
    t0 = time.monotonic()
    assert main(["commit-msg", "--hook", str(msg), "--timeout", "1"]) == 0
    assert time.monotonic() - t0 < 5
    assert "no message within 1 s (--timeout)" in msg.read_text()


def test_commit_msg_nothing_staged_is_a_clear_error(home, ollama, tmp_path, capsys):
    _repo(tmp_path)
    subprocess.run(["git", "reset", "-q"], cwd=tmp_path, check=True)
    assert main(["commit-msg"]) == 1
    assert "nothing is staged" in capsys.readouterr().err


def test_ask_streams_then_report_and_export(home, ollama, capsys):
    assert main(["ask", "Summarize: tests pass"]) == 0
    cap = capsys.readouterr()
    assert cap.out.strip() == "Add the discount helper"
    assert "cost $0.000000 vs $" in cap.err
    assert main(["report", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert "tier1_share" in json.dumps(rep) or "tier-1" in json.dumps(rep)
    assert main(["export", "--jsonl"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert {"timestamp", "tier", "model", "tokens", "task_type", "estimated_cost"} <= set(line)
    assert line["task_type"] == "ask" and line["model"] == "qwen2.5-coder:14b"


def test_ask_with_everything_down_is_a_clear_error(home, ollama, capsys):
    ollama.down()
    assert main(["ask", "hello"]) == 1
    err = capsys.readouterr().err
    assert "every tier failed" in err and "ollama" in err and "Traceback" not in err


def test_doctor_reports_pulled_models_and_missing_key(home, ollama, capsys):
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert "tier 1: ollama qwen2.5-coder:14b: pulled" in out
    assert "OPENAI_API_KEY is not set" in out
    assert code == 0


@pytest.mark.parametrize("down, missing, fails", [
    (True, (), 2),  # one stopped Ollama serving two tiers: two FAIL lines, two problems
    (False, ("llama3.3:70b",), 1),
])
def test_doctor_counts_every_fail_and_exits_1(home, down, missing, fails, monkeypatch, capsys):
    models = tuple(m for m in ("qwen2.5-coder:14b", "llama3.3:70b") if m not in missing)
    with FakeOllama(models=models) as fake:
        monkeypatch.setenv("OLLAMA_HOST", fake.url)
        if down:
            fake.down()
        code = main(["doctor"])
    out = capsys.readouterr().out
    assert out.count("[FAIL]") == fails and f"\n{fails} problem(s)" in out
    assert code == 1


def test_invalid_setting_names_key_and_file(home, capsys):
    (home / "config.toml").write_text("[routing]\nlong_context_tokens = -5\n")
    assert main(["route", "hi"]) == 1
    err = capsys.readouterr().err
    assert "routing.long_context_tokens" in err and "config.toml" in err


@pytest.mark.parametrize("command", [["eval-routing"], ["audit"]])
def test_a_file_that_is_not_utf8_is_an_error_naming_the_line(home, tmp_path, capsys, command):
    f = tmp_path / "prompts.jsonl"
    f.write_bytes(b'{"id": 1, "prompt": "hello", "q": [0.1, 0.9]}\n{"id": 2, "prompt": "caf\xe9", "q": [0.2, 0.8]}\n')
    assert main([*command, str(f)]) == 1
    assert f"{f}:2: not UTF-8 (byte 0xe9)" in capsys.readouterr().err


def test_route_touches_no_file(home, key, capsys):
    assert main(["route", "--json", "Summarize this"]) == 0
    assert json.loads(capsys.readouterr().out)["tier"] == 1
    assert sorted(p.name for p in home.iterdir()) == ["config.toml"]  # no ledger, no answers.sqlite3


# What deciding never uses: what calls a model, and the modules of the other commands.
NOT_FOR_ROUTE = ("asyncio", "httpx", "sqlite3", "hybridlsp.engine.dispatch", "hybridlsp.engine.pipeline",
                 "hybridlsp.engine.cache", "hybridlsp.engine.record", "hybridlsp.actions", "hybridlsp.budget",
                 "hybridlsp.ledger", "hybridlsp.telemetry", "hybridlsp.backends.ollama", "hybridlsp.backends.openai",
                 "hybridlsp.backends.anthropic", "hybridlsp.backends.embedded", "hybridlsp.tuning",
                 "hybridlsp.evaluation", "hybridlsp.lsp", "hybridlsp.commands.report", "hybridlsp.commands.ask",
                 "hybridlsp.commands.tune", "hybridlsp.commands.audit", "hybridlsp.commands.eval_routing",
                 "hybridlsp.commands.serve")


@pytest.mark.parametrize("args, stdin", [(["--json", "hello"], ""), (["--jsonl", "-"], '{"id": 1, "prompt": "hi"}\n')])
def test_route_loads_nothing_that_calls_a_model(home, key, args, stdin):
    """In a fresh interpreter, as a user runs it (this one has imported everything already). A
    None in sys.modules is a module marked not importable (backends/__init__: httpx's CLI), not
    one loaded."""
    code = ("import json, sys; from hybridlsp import commands; status = commands.main(['route', *sys.argv[1:]]); "
            "print(json.dumps([status, sorted(k for k, v in sys.modules.items() if v is not None)]), file=sys.stderr)")
    run = subprocess.run([sys.executable, "-c", code, *args], input=stdin, capture_output=True, text=True, check=True)
    status, loaded = json.loads(run.stderr.splitlines()[-1])
    assert status == 0 and json.loads(run.stdout.splitlines()[0])["tier"] == 1
    assert [m for m in loaded if any(m == b or m.startswith(b + ".") for b in NOT_FOR_ROUTE)] == []


def test_a_misspelt_command_is_told_every_command(home, capsys):
    with pytest.raises(SystemExit):
        main(["rout", "hello"])
    err = capsys.readouterr().err
    assert "invalid choice: 'rout'" in err and all(c in err for c in ("route", "report", "eval-routing", "tune"))


BROKEN_PYTHON = "return (a *"


def test_complete_that_fails_its_check_prints_nothing_and_names_the_tier(home, ollama, tmp_path, capsys):
    # every tier's completion fails to parse: no code on stdout, the failure and the tier on stderr
    (tmp_path / "calc.py").write_text("def product(a, b):\n    ")
    ollama.answer = BROKEN_PYTHON
    assert main(["complete", "calc.py:1-2"]) == 1
    cap = capsys.readouterr()
    assert cap.out == ""
    assert "does not parse as python" in cap.err and "tier1:ollama/qwen2.5-coder:14b" in cap.err


def test_review_that_fails_its_check_prints_nothing_and_names_the_tier(home, ollama, tmp_path, capsys):
    (tmp_path / "calc.py").write_text("def divide(a, b):\n    return a / b\n")
    ollama.answer = '{"findings": [{"line": 40, "severity": "error", "message": "division by zero"}]}'
    assert main(["review", "calc.py"]) == 1
    cap = capsys.readouterr()
    assert cap.out == ""
    assert "outside the reviewed lines" in cap.err and "tier1:ollama/qwen2.5-coder:14b" in cap.err


@pytest.mark.parametrize("action, left_out", [("review", True), ("explain", True), ("commit-message", False)])
def test_route_says_when_the_embedded_model_is_left_out(home, capsys, action, left_out):
    (home / "config.toml").write_text("")  # the embedded model on, as shipped
    assert main(["route", "--action", action, "def f(): pass"]) == 0
    out = capsys.readouterr().out
    said = f"not in the chain: the embedded model, since it does not do {action} (embedded.actions)"
    assert (said in out) is left_out
    assert ("embedded/SmolLM2" in out.split("chain:")[1]) is not left_out


@pytest.mark.embedded
def test_the_hook_keeps_its_time_limit_while_the_embedded_model_reads(home, ollama, tmp_path):
    # Ollama down: the embedded model answers, and reading its prompt alone takes longer than the
    # limit on a fresh home; the hook stops within a reading step, start-up included
    import time

    from tests.support import need_module

    need_module("llama_cpp", "llama-cpp-python is not installed: pip install 'hybridlsp[embedded]'")
    (home / "config.toml").write_text("")  # the embedded model on, as shipped
    ollama.down()
    _repo(tmp_path)
    msg = tmp_path / "MSG"
    msg.write_text("")
    t0 = time.monotonic()
    assert main(["commit-msg", "--hook", str(msg), "--timeout", "1"]) == 0
    assert time.monotonic() - t0 < 2.0
    assert "no message within 1 s (--timeout)" in msg.read_text()


def test_doctor_says_what_the_embedded_model_does_not_do(home, ollama, capsys):
    (home / "config.toml").write_text('[embedded]\nactions = ["commit-message"]\n')
    main(["doctor"])
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if "] embedded:" in ln]
    assert line.endswith("; it does not do complete, explain, review, ask (embedded.actions)")


@pytest.mark.parametrize("argv", [["serve"], ["serve", "--stdio"]])
def test_a_plain_serve_runs_with_what_the_parser_would_give_it(argv):
    assert vars(parse_args(argv)) == vars(build_parser("serve").parse_args(argv))


@pytest.mark.parametrize("argv", [["serve", "--tcp", "0"], ["-v", "serve"], ["serve", "--host", "::1", "--tcp", "9"]])
def test_any_other_serve_command_line_is_parsed(argv):
    assert vars(parse_args(argv)) == vars(build_parser("serve").parse_args(argv))


def test_a_plain_serve_starts_without_argparse():
    code = ("import sys; from hybridlsp.commands import parse_args; parse_args(['serve']); "
            "print('argparse' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
