"""Real editors (Neovim, Emacs), the VS Code extension's build and the git hook, each driving
`hybridlsp serve` (or the CLI) against a scripted fake Ollama on 127.0.0.1.

A missing editor skips its tests with a line saying how to get it; with
HYBRIDLSP_REQUIRE_EDITORS=1 (CI) a missing editor fails them instead.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .scripted import ScriptedOllama

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "editor-clients"
SERVER = [sys.executable, "-m", "hybridlsp", "serve"]

# every tier on the one fake, so any routing decision reaches it; no embedded model (slow to load)
CONFIG = """
[tiers.tier1]
backend = "ollama"
model = "model-a"
[tiers.tier2]
backend = "ollama"
model = "model-b"
[tiers.tier3]
backend = "ollama"
model = "model-c"
[embedded]
enabled = false
[cache]
enabled = false
[dispatch]
connect_timeout_s = 2.0
read_timeout_s = 20.0
max_retries = 0
"""

CALC = '''import os


def divide(a, b):
    result = a / b
    return result


def greet(name):
    return "hello " + name
'''

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def require(tool: str | None, what: str, how: str) -> str:
    """`tool` (a path), or skip (fail under HYBRIDLSP_REQUIRE_EDITORS=1) saying how to get `what`."""
    if tool:
        return tool
    reason = f"{what} is missing: {how}"
    if os.environ.get("HYBRIDLSP_REQUIRE_EDITORS") == "1":
        pytest.fail(reason + " (HYBRIDLSP_REQUIRE_EDITORS=1)")
    pytest.skip(reason)


def git(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", *args], cwd=repo, env={**(env or os.environ), **GIT_ENV}, check=True, capture_output=True, text=True
    )


@pytest.fixture
def scripted():
    with ScriptedOllama() as fake:
        yield fake


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with `calc.py` committed, then changed and staged."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "calc.py").write_text(CALC)
    git(root, "add", "calc.py")
    git(root, "commit", "-q", "-m", "Add calc")
    (root / "calc.py").write_text(CALC + "\n\ndef double(x):\n    return 2 * x\n")
    git(root, "add", "calc.py")
    return root


@pytest.fixture
def editor_env(tmp_path: Path, scripted) -> dict[str, str]:
    """The environment for an editor and the server it starts: the fake upstream, a private
    ledger, no user config, and XDG dirs (editor state) inside the test's directory."""
    config = tmp_path / "hybridlsp.toml"
    config.write_text(CONFIG)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "OLLAMA_", "HYBRIDLSP_"))}
    xdg = tmp_path / "xdg"
    env.update(
        OLLAMA_HOST=scripted.url,
        HYBRIDLSP_HOME=str(home),
        HYBRIDLSP_CONFIG=str(config),
        HOME=str(tmp_path / "userhome"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        **{f"XDG_{d}_HOME": str(xdg / d.lower()) for d in ("CONFIG", "DATA", "STATE", "CACHE")},
    )
    (tmp_path / "userhome").mkdir()
    return env
