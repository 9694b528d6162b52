"""Real editors (Neovim, Emacs), the VS Code extension's build and the git hook, each driving
`hybridlsp serve` (or the CLI) against a scripted fake Ollama on 127.0.0.1.

A missing editor skips its tests with a line saying how to get it; with
HYBRIDLSP_REQUIRE_ALL=1 (CI) a missing editor fails them instead (tests.support.need).
"""

import os
import sys
from pathlib import Path

import pytest

from tests import support
from tests.support import git  # noqa: F401  (test_git_hook imports it from here)

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


def require(tool: str | None, what: str, how: str) -> str:
    """`tool` (a path), else `support.need`'s skip (or failure) saying how to get `what`."""
    return support.need(tool, f"{what} is missing: {how}")


@pytest.fixture
def scripted():
    with ScriptedOllama() as fake:
        yield fake


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with `calc.py` committed, then changed and staged."""
    return support.make_repo(tmp_path)


@pytest.fixture
def editor_env(tmp_path: Path, scripted) -> dict[str, str]:
    """The environment for an editor and the server it starts: the fake upstream, a private
    ledger, no user config, and XDG dirs (editor state) inside the test's directory."""
    xdg = tmp_path / "xdg"
    env = support.server_env(tmp_path, CONFIG, OLLAMA_HOST=scripted.url)
    env.update(
        HOME=str(tmp_path / "userhome"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        **{f"XDG_{d}_HOME": str(xdg / d.lower()) for d in ("CONFIG", "DATA", "STATE", "CACHE")},
    )
    (tmp_path / "userhome").mkdir()
    return env
