"""`hybridlsp install-hook [--uninstall]`: the prepare-commit-msg hook in the current repository.

Idempotent; a hook that was there before is kept as `prepare-commit-msg.chained` and runs first;
`--uninstall` puts it back. The hook itself (data/prepare-commit-msg) never blocks a commit.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import NotARepository

__all__ = ["install_hook", "uninstall_hook", "MARKER", "add_parser"]

MARKER = "hybridlsp prepare-commit-msg hook"
TEMPLATE = Path(__file__).parent.parent / "data" / "prepare-commit-msg"


def _hooks_dir(cwd: Path) -> Path:
    try:
        out = subprocess.run(["git", "rev-parse", "--git-path", "hooks"], cwd=cwd, capture_output=True,
                             text=True, check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        raise NotARepository(str(cwd)) from None
    return (cwd / out).resolve()  # follows core.hooksPath


def _ours(hook: Path) -> bool:
    return hook.is_file() and MARKER in hook.read_text(encoding="utf-8", errors="replace")


def _command() -> str:
    found = shutil.which("hybridlsp")
    if found:
        return found
    # not on PATH (a virtualenv that is not activated): the script next to this interpreter
    beside = Path(sys.executable).with_name("hybridlsp")
    return str(beside) if beside.exists() else "hybridlsp"


def install_hook(cwd: Path) -> list[str]:
    hooks = _hooks_dir(cwd)
    hooks.mkdir(parents=True, exist_ok=True)
    hook = hooks / "prepare-commit-msg"
    said = []
    if hook.exists() and not _ours(hook):
        hook.rename(hooks / "prepare-commit-msg.chained")
        said.append(f"kept your existing hook as {hook}.chained; it runs first")
    cmd = _command()
    tmp = hooks / "prepare-commit-msg.tmp"
    tmp.write_text(TEMPLATE.read_text(encoding="utf-8").replace("@HYBRIDLSP@", cmd), encoding="utf-8")
    tmp.chmod(0o755)
    tmp.replace(hook)
    said.append(f"installed {hook} (using {cmd})")
    return said


def uninstall_hook(cwd: Path) -> list[str]:
    hooks = _hooks_dir(cwd)
    hook = hooks / "prepare-commit-msg"
    if not _ours(hook):
        return [f"no hybridlsp hook in {hooks}"]
    hook.unlink()
    chained = hooks / "prepare-commit-msg.chained"
    if chained.exists():
        chained.rename(hook)
    return [f"removed the hook from {hooks}"]


def add_parser(sub) -> None:
    s = sub.add_parser("install-hook", help="install the prepare-commit-msg hook in this repository")
    s.add_argument("--uninstall", action="store_true", help="remove it (and restore a chained hook)")
    s.set_defaults(fn=run)


def run(args) -> int:
    for line in (uninstall_hook if args.uninstall else install_hook)(Path.cwd()):
        print(f"hybridlsp: {line}")
    return 0
