"""`hybridlsp route` and the model-calling commands show what the difficulty estimate saw; `route
--jsonl` keeps its shape (no estimate lines there, they would cost the batch its speed)."""

import json

import pytest

from hybridlsp.context import multimatch
from hybridlsp.commands import main
from tests.fakes.upstreams import FakeOllama

LONG = ("What is the capital of France, and why did the kings of France choose that city over the "
        "others along the river Seine when they had so many to choose from in the middle ages?")


@pytest.fixture(autouse=True)
def _route_mode_stays_in_its_test(monkeypatch):
    monkeypatch.setattr(multimatch, "_in_background", multimatch._in_background)


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HYBRIDLSP_HOME", str(h))
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HYBRIDLSP_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (h / "config.toml").write_text("[embedded]\nenabled = false\n")
    return h


def config(home, difficulty):
    (home / "config.toml").write_text(f'[embedded]\nenabled = false\n[routing]\ndifficulty = "{difficulty}"\n')


# (difficulty, prompt, lines expected after "estimate: ")
@pytest.mark.parametrize("difficulty, prompt, expected", [
    ("hybrid", LONG, ["learned estimate 0.", "cold-start estimate (not deciding): p(tier 1 enough) 0."]),
    ("hybrid", "Translate this to German", ["task keyword 'translate' -> tier 1 (the learned estimate is not consulted)",
                                           "cold-start estimate (not deciding): p(tier 1 enough)"]),
    # the deciding estimate's reason says it all, and is shown as a reason, not twice
    ("coldstart", LONG, []),
    ("coldstart", "hi", []),
])
def test_route_text_shows_the_estimate(home, capsys, difficulty, prompt, expected):
    config(home, difficulty)
    assert main(["route", prompt]) == 0
    shown = [ln.strip()[len("estimate: "):] for ln in capsys.readouterr().out.splitlines()
             if ln.strip().startswith("estimate: ")]
    assert len(shown) == len(expected)
    for line, start in zip(shown, expected):
        assert line.startswith(start), line


@pytest.mark.parametrize("prompt, reason", [
    (LONG, "because cold-start p(tier 1 enough) 0."),
    ("hi", "because cold-start abstains: 2 chars is shorter"),
])
def test_route_text_shows_the_cold_start_reason(home, capsys, prompt, reason):
    config(home, "coldstart")
    assert main(["route", prompt]) == 0
    assert reason in capsys.readouterr().out


def test_route_json_carries_the_estimate_lines(home, capsys):
    config(home, "coldstart")
    assert main(["route", "--json", LONG]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reasons"][0] == out["estimate"][0]  # the deciding estimate's reason is its account
    assert "moved by" in out["estimate"][0]


def test_route_jsonl_keeps_its_shape(home, tmp_path, capsys):
    config(home, "coldstart")
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"id": "a", "prompt": LONG}) + "\n")
    assert main(["route", "--jsonl", str(f)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert list(row) == ["id", "tier", "backend", "model", "reasons", "input_tokens", "private", "chain"]
    assert row["reasons"][0].startswith("cold-start p(tier 1 enough)")


def test_explain_command_shows_the_estimate(home, tmp_path, monkeypatch, capsys):
    src = tmp_path / "a.py"
    src.write_text("def add(a, b):\n    return a + b\n")
    with FakeOllama(answer="It adds two numbers.", models=("qwen2.5-coder:14b", "llama3.3:70b")) as fake:
        monkeypatch.setenv("OLLAMA_HOST", fake.url)
        assert main(["explain", str(src)]) == 0
    err = capsys.readouterr().err
    assert "  estimate: cold-start estimate (not deciding): p(tier 1 enough) 0." in err


def test_route_jsonl_with_the_default_estimate_loads_no_cold_start_code(home):
    """In a fresh interpreter: the batch path stays as fast as it was (no feature patterns compiled)."""
    import subprocess
    import sys

    code = ("import json, sys; from hybridlsp.commands import main; main(['route', '--jsonl', '-']); "
            "print(json.dumps(sorted(sys.modules)), file=sys.stderr)")
    run = subprocess.run([sys.executable, "-c", code], input='{"id": 1, "prompt": "hi"}\n', capture_output=True,
                         text=True, check=True)
    loaded = json.loads(run.stderr.splitlines()[-1])
    assert json.loads(run.stdout)["id"] == 1
    assert [m for m in loaded if m.startswith(("hybridlsp.routing.coldstart", "hybridlsp.routing.promptfeatures",
                                               "hybridlsp.routing.explain"))] == []
