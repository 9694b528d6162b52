"""`make demo`'s main job, through the language server, against a fake Ollama on 127.0.0.1."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

from bench.commits import junk_kinds
from hybridlsp.actions import commit_message
from hybridlsp.actions.base import ActionContext
from tests.fakes.upstreams import FakeOllama
from tests.support import need_module


def test_demo_runs_the_main_job_through_the_language_server(tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[embedded]\nenabled = false\n")
    finding = ('{"findings": [{"line": 13, "severity": "warning", '
               '"message": "a percent over 100 gives a negative total"}]}')
    # the review goes to tier 2 (a larger file): its model answers findings, the others plain text
    with FakeOllama(answer="Add discount and average price helpers", answers={"llama3.3:70b": finding}) as fake:
        env = {**os.environ, "OLLAMA_HOST": fake.url, "HYBRIDLSP_CONFIG": str(cfg),
               "HYBRIDLSP_HOME": str(tmp_path / "home")}
        env.pop("OPENAI_API_KEY", None)
        env.pop("ANTHROPIC_API_KEY", None)
        proc = subprocess.run([sys.executable, "-m", "hybridlsp", "demo", "--dir", str(tmp_path / "d")],
                              env=env, capture_output=True, text=True, timeout=120)
        served = fake.request_count
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for title in ("Explain apply_discount", "Review inventory.py", "Commit message for the staged change"):
        assert f"=== {title} ===" in out
    assert out.count("-> decision: tier") == 3 and out.count("all-cloud") >= 3
    assert "Add discount and average price helpers" in out
    assert "line 13 **warning**: a percent over 100 gives a negative total" in out
    assert "streamed progress messages" in out and "=== hybridlsp report ===" in out
    assert served >= 3  # every answer came from the upstream, through the server


@pytest.mark.embedded
def test_demo_with_nothing_running_reads_cold_without_junk(tmp_path):
    """As a new user sees it: no Ollama, no key, the embedded model on. The two jobs it does not do
    list each tier and why; the commit message is one that passes its check, with no junk in it."""
    need_module("llama_cpp", "llama-cpp-python is not installed: pip install 'hybridlsp[embedded]'")
    with FakeOllama() as fake:
        fake.down()
        env = {**os.environ, "OLLAMA_HOST": fake.url, "HYBRIDLSP_HOME": str(tmp_path / "home")}
        for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HYBRIDLSP_CONFIG"):
            env.pop(var, None)
        proc = subprocess.run([sys.executable, "-m", "hybridlsp", "demo", "--dir", str(tmp_path / "d")],
                              env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    sections = dict(re.findall(r"=== (.+?) ===\n(.*?)(?=\n===|\Z)", proc.stdout, re.S))
    for title, action in (("Explain apply_discount", "explain"), ("Review inventory.py", "review")):
        shown = sections[title]
        assert shown.startswith("  no answer: every tier failed\n    - tier")
        assert f"- embedded: not asked: it does not do {action}" in shown
    commit = sections["Commit message for the staged change"]
    message = textwrap.dedent(commit.split("  -> decision:")[0]).strip()
    assert message and not junk_kinds(message)
    assert commit_message.validate(message, ActionContext(staged_diff="")) == message
    assert "answered by" not in commit and "embedded/SmolLM2-135M-Instruct" in commit
