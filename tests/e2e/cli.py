"""What the CLI tests of the README's promises share: the installed console script run in a
subprocess, and what a fake upstream was last asked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import CONFIG

__all__ = ["HYBRIDLSP", "CACHED", "cli", "sent_text"]

HYBRIDLSP = str(Path(sys.executable).with_name("hybridlsp"))  # the console script the install made
CACHED = CONFIG.replace("[cache]\nenabled = false", "[cache]\nenabled = true")


def cli(env: dict, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`hybridlsp ARGS` in `cwd`; with `check`, it must exit 0 (its stderr is the failure's message)."""
    proc = subprocess.run([HYBRIDLSP, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def sent_text(fake) -> str:
    """Everything the last request to `fake` asked the model, as one string."""
    return "\n".join(m["content"] for m in fake.requests[-1].json["messages"])
