"""`make demo`'s main job, through the language server, against a fake Ollama on 127.0.0.1."""

import os
import subprocess
import sys

from tests.fakes.upstreams import FakeOllama


def test_demo_runs_the_main_job_through_the_language_server(tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[embedded]\nenabled = false\n")
    with FakeOllama(answer="Add discount and average price helpers") as fake:
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
    assert "streamed progress messages" in out and "=== hybridlsp report ===" in out
    assert served >= 3  # every answer came from the upstream, through the server
