"""The eglot setup (editor-clients/emacs/hybridlsp.el) in `emacs --batch` with Debian's
emacs-nox 28 and elpa-eglot 1.9: eglot starts the server, and the commands run the actions
through `hybridlsp/run` against a scripted fake Ollama. The same with lsp-mode 8.0
(hybridlsp-lsp.el, Debian's elpa-lsp-mode). The driver is tests/editors/emacs/drive.el."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import CLIENTS, SERVER, require
from .scripted import ANSWERS

pytestmark = pytest.mark.editor

DRIVER = Path(__file__).parent / "emacs" / "drive.el"
HOW = "apt-get install emacs-nox elpa-eglot (or `make editors`)"
HOW_LSP = "apt-get install emacs-nox elpa-eglot elpa-lsp-mode (or `make editors`)"


def _emacs_with(feature: str, how: str) -> str:
    """Emacs, if `(require FEATURE)` works in `emacs --batch` (no -Q: Debian's site-start puts
    the elpa packages on the load path); else skip (fail under HYBRIDLSP_REQUIRE_ALL=1)."""
    path = require(shutil.which("emacs"), "Emacs", how)
    probe = subprocess.run([path, "--batch", "--eval", f"(require '{feature})"], capture_output=True, timeout=60)
    return require(path if probe.returncode == 0 else None, feature, how)


@pytest.fixture
def emacs() -> str:
    return _emacs_with("eglot", HOW)


@pytest.fixture
def lsp_emacs(emacs) -> str:
    return _emacs_with("lsp-mode", HOW_LSP)


def _drive(emacs: str, env: dict[str, str], plan: dict) -> dict:
    out = Path(plan["out"])
    # no -Q: Debian's site-start puts the elpa packages (eglot, lsp-mode) on the load path
    proc = subprocess.run(
        [emacs, "--batch", "-l", str(DRIVER)],
        env={**env, "HYBRIDLSP_EMACS_PLAN": json.dumps(plan)},
        capture_output=True, text=True, timeout=150,
    )
    assert out.exists(), f"emacs wrote no result (exit {proc.returncode}): {proc.stderr[-3000:]}"
    result = json.loads(out.read_text())
    assert result["errors"] == [], (result["errors"], proc.stderr[-3000:])
    return result


def _action_plan(repo, tmp_path, out: str, **client) -> dict:
    """The same five steps for either client: explain, review, complete, commit message, cancel."""
    (repo / "more.py").write_text("def triple(x):\n    # three times x\n")
    commit = repo / ".git" / "COMMIT_EDITMSG"
    commit.write_text("\n# Please enter the commit message for your changes.\n")
    calc = str(repo / "calc.py")
    return {
        "plugin": str(CLIENTS / "emacs"),
        "out": str(tmp_path / out),
        **client,
        "steps": [
            {"file": calc, "line": 5, "command": "hybridlsp-explain"},
            {"file": calc, "region": [4, 6], "command": "hybridlsp-review"},
            {"file": str(repo / "more.py"), "line": 2, "command": "hybridlsp-complete"},
            {"file": str(commit), "line": 1, "command": "hybridlsp-commit-message"},
            {"file": calc, "line": 5, "command": "hybridlsp-explain", "args": ["slowly"], "cancel": True},
        ],
    }


def _check_actions(result: dict, repo, scripted) -> None:
    explain, review, complete, commit_msg, cancelled = result["steps"]

    assert explain["mode"] == "python-mode" and explain["status"] == "done"
    assert explain["chunks"] >= 2  # streamed through $/progress
    assert ANSWERS["explain"] in explain["output"]
    assert re.search(r"local ollama model-\w \(tier \d\)", explain["output"])
    assert explain["result"]["decision"]["backend"] == "ollama"
    assert explain["text"] == (repo / "calc.py").read_text()

    assert review["status"] == "done"
    assert [(f["line"], f["severity"], f["message"]) for f in review["findings"]] == [(4, "warning", "b may be zero")]
    assert "- line 5 warning: b may be zero" in review["output"]

    assert complete["status"] == "done"
    assert complete["text"] == "def triple(x):\n    # three times x\n    return 3 * x\n"

    assert commit_msg["mode"] == "hybridlsp-commit-mode" and commit_msg["status"] == "done"
    assert commit_msg["text"].startswith(ANSWERS["commit-message"] + "\n\n# Please enter")

    assert cancelled["status"] == "cancelled" and cancelled["chunks"] >= 2
    assert cancelled["output"].rstrip().endswith("cancelled")
    assert scripted.disconnected.wait(5), "the upstream stream was not closed"


def test_eglot_runs_the_actions(emacs, editor_env, repo, tmp_path, scripted):
    result = _drive(emacs, editor_env, _action_plan(repo, tmp_path, "emacs-result.json"))
    _check_actions(result, repo, scripted)
    commit_request = next(r for r in reversed(scripted.requests) if "git commit messages" in r.body.decode())
    assert "def double(x):" in commit_request.body.decode()
    assert re.search(r"hybridlsp usage \(all time\): [4-9] requests", result["report"]), result["report"]


def test_byte_compiles_without_warnings(emacs, tmp_path):
    source = tmp_path / "hybridlsp.el"
    shutil.copy(CLIENTS / "emacs" / "hybridlsp.el", source)
    proc = subprocess.run(
        [emacs, "--batch", "--eval", "(setq byte-compile-error-on-warn t)", "-f", "batch-byte-compile", str(source)],
        capture_output=True, text=True, timeout=60,
    )
    output = "\n".join(ln for ln in proc.stderr.splitlines() if not ln.startswith("Loading "))
    assert proc.returncode == 0 and output.strip() == "", output


def test_lsp_client_byte_compiles_without_warnings(lsp_emacs, tmp_path):
    for name in ("hybridlsp.el", "hybridlsp-lsp.el"):
        shutil.copy(CLIENTS / "emacs" / name, tmp_path / name)
    proc = subprocess.run(
        [lsp_emacs, "--batch", "-L", str(tmp_path), "--eval", "(setq byte-compile-error-on-warn t)",
         "-f", "batch-byte-compile", str(tmp_path / "hybridlsp-lsp.el")],
        capture_output=True, text=True, timeout=60,
    )
    output = "\n".join(ln for ln in proc.stderr.splitlines() if not ln.startswith("Loading "))
    assert proc.returncode == 0 and output.strip() == "", output


def test_lsp_mode_runs_the_actions(lsp_emacs, editor_env, repo, tmp_path, scripted):
    """lsp-mode starts `python -m hybridlsp serve` (the venv's interpreter) as an add-on client,
    and the same commands run through `hybridlsp/run` on lsp-mode's connection."""
    state = tmp_path / "lsp-state"
    state.mkdir()
    plan = _action_plan(repo, tmp_path, "emacs-lsp-result.json", client="lsp-mode", state=str(state), command=SERVER)
    result = _drive(lsp_emacs, editor_env, plan)
    _check_actions(result, repo, scripted)

    # one server process for all the buffers (the commit message's too)
    assert len(set(re.findall(r"Connected to \[hybridlsp:(\d+)", result["messages"]))) == 1, result["messages"]
    assert "languageId" not in result["messages"], result["messages"]
