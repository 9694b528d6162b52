"""What stays on disk and what leaves it, through the real CLI with the model faked on 127.0.0.1:
the ledger and the answer cache never hold prompt text or paths; a cached answer is never
exported (export, report, telemetry)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from tests import support
from tests.fakes.collector import Collector

from .cli import CACHED, cli


# ---- the ledger never holds prompt text; the cache is never exported ----------------------------

def _stored_bytes(home: Path, name: str) -> bytes:
    """The SQLite file `name` in the home, its write-ahead log and shared memory included."""
    files = sorted(home.glob(f"{name}*"))
    assert any(f.name == name for f in files), files
    return b"".join(f.read_bytes() for f in files)


def test_the_ledger_and_the_cache_never_hold_prompt_text_or_paths(tmp_path, repo, fake_ollama, fake_openai):
    env = support.server_env(tmp_path, CACHED, OLLAMA_HOST=fake_ollama.url, OPENAI_BASE_URL=fake_openai.base_url,
                             OPENAI_API_KEY="sk-test")
    marker = "quokka" + secrets.token_hex(6)
    answered = "wombat" + secrets.token_hex(6)
    source = repo / f"{marker}_module.py"
    source.write_text(f"def {marker}(x):\n    # {marker} in a comment\n    return x + 1\n")
    fake_ollama.answer = fake_openai.answer = f"Adds one to its argument ({answered})."
    cli(env, repo, "ask", f"Summarize: the {marker} release notes.")
    cli(env, repo, "explain", f"{source.name}:1-3")
    cli(env, repo, "ask", "--tier", "3", f"Why is {marker} slow?")
    rows = [json.loads(line) for line in cli(env, repo, "export", "--jsonl").stdout.splitlines()]
    assert len(rows) == 3  # the ledger has the three
    home = Path(env["HYBRIDLSP_HOME"])
    ledger, cache = _stored_bytes(home, "ledger.sqlite3"), _stored_bytes(home, "answers.sqlite3")
    holds = lambda data, text: text.encode() in data  # noqa: E731  (a bool: no 100 kB of bytes in a failure)
    assert not holds(ledger, marker) and not holds(ledger, answered), "the ledger holds prompt, path or answer"
    assert not holds(cache, marker), "the cache holds the prompt: it keys answers by a hash of the request"
    assert holds(cache, answered)  # what the cache is for: so reading the bytes does find text that is there
    assert marker not in json.dumps(rows) and answered not in json.dumps(rows)


def _answered_twice(env: dict, repo: Path, fake_ollama) -> str:
    """The same ask twice: the model answers the first, the shared cache the second. The answer."""
    answer = "Cached answer " + secrets.token_hex(6) + "."
    fake_ollama.answer = answer
    first = cli(env, repo, "ask", "Summarize: the build is green.")
    second = cli(env, repo, "ask", "Summarize: the build is green.")
    assert first.stdout.strip() == second.stdout.strip() == answer
    assert fake_ollama.request_count == 1  # the second came from the cache
    return answer


def test_the_cache_answers_a_repeat_and_is_never_exported(tmp_path, repo, fake_ollama):
    env = support.server_env(tmp_path, CACHED, OLLAMA_HOST=fake_ollama.url, OPENAI_API_KEY="sk-test")
    answer = _answered_twice(env, repo, fake_ollama)
    secret_part = answer.split()[-1].rstrip(".")
    exported = cli(env, repo, "export", "--jsonl").stdout
    rows = [json.loads(line) for line in exported.splitlines()]
    assert len(rows) >= 2 and [r["outcome"] for r in rows].count("cache-hit") == 1, rows
    page = tmp_path / "report.html"
    said = {
        "export --jsonl": exported,
        "report": cli(env, repo, "report", "--no-charts").stdout,
        "report --json": cli(env, repo, "report", "--json").stdout,
        "report --html": (cli(env, repo, "report", "--html", str(page)), page.read_text())[1],
    }
    assert "Summarize" not in exported
    for what, text in said.items():
        assert text.strip() and secret_part not in text, f"{what} holds the cached answer"


def test_the_cache_never_reaches_telemetry(tmp_path, repo, fake_ollama):
    support.need_module("opentelemetry.exporter.otlp.proto.http", "needs the otel extra: pip install 'hybridlsp[otel]'")
    with Collector() as collector:
        config = CACHED + f'[telemetry]\nenabled = true\nendpoint = "{collector.url}"\n'
        env = support.server_env(tmp_path, config, OLLAMA_HOST=fake_ollama.url, OPENAI_API_KEY="sk-test")
        answer = _answered_twice(env, repo, fake_ollama)
    traces = collector.bodies("/v1/traces")
    assert len(traces) >= 2 and b"hybridlsp.cached" in b"".join(traces)  # both requests' spans arrived
    sent = b"".join(collector.bodies())
    assert answer.split()[-1].rstrip(".").encode() not in sent and b"Summarize" not in sent

