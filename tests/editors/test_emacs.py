"""The eglot setup (editor-clients/emacs/hybridlsp.el) in `emacs --batch` with Debian's
emacs-nox 28 and elpa-eglot 1.9: eglot starts the server, and the commands run the actions
through `hybridlsp/run` against a scripted fake Ollama. The driver is tests/editors/emacs/drive.el."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import CLIENTS, require
from .scripted import ANSWERS

pytestmark = pytest.mark.editor

DRIVER = Path(__file__).parent / "emacs" / "drive.el"
HOW = "apt-get install emacs-nox elpa-eglot (or `make editors`)"


@pytest.fixture
def emacs() -> str:
    path = require(shutil.which("emacs"), "Emacs", HOW)
    probe = subprocess.run([path, "--batch", "--eval", "(require 'eglot)"], capture_output=True, timeout=60)
    require(path if probe.returncode == 0 else None, "eglot", HOW)
    return path


def test_eglot_runs_the_actions(emacs, editor_env, repo, tmp_path, scripted):
    (repo / "more.py").write_text("def triple(x):\n    # three times x\n")
    commit = repo / ".git" / "COMMIT_EDITMSG"
    commit.write_text("\n# Please enter the commit message for your changes.\n")
    calc = str(repo / "calc.py")
    out = tmp_path / "emacs-result.json"
    plan = {
        "plugin": str(CLIENTS / "emacs"),
        "out": str(out),
        "steps": [
            {"file": calc, "line": 5, "command": "hybridlsp-explain"},
            {"file": calc, "region": [4, 6], "command": "hybridlsp-review"},
            {"file": str(repo / "more.py"), "line": 2, "command": "hybridlsp-complete"},
            {"file": str(commit), "line": 1, "command": "hybridlsp-commit-message"},
            {"file": calc, "line": 5, "command": "hybridlsp-explain", "args": ["slowly"], "cancel": True},
        ],
    }
    # no -Q: Debian's site-start puts the elpa packages (eglot) on the load path
    proc = subprocess.run(
        [emacs, "--batch", "-l", str(DRIVER)],
        env={**editor_env, "HYBRIDLSP_EMACS_PLAN": json.dumps(plan)},
        capture_output=True, text=True, timeout=150,
    )
    assert out.exists(), f"emacs wrote no result (exit {proc.returncode}): {proc.stderr[-3000:]}"
    result = json.loads(out.read_text())
    assert result["errors"] == [], (result["errors"], proc.stderr[-3000:])
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
    commit_request = next(r for r in reversed(scripted.requests) if "git commit messages" in r.body.decode())
    assert "def double(x):" in commit_request.body.decode()

    assert cancelled["status"] == "cancelled" and cancelled["chunks"] >= 2
    assert cancelled["output"].rstrip().endswith("cancelled")
    assert scripted.disconnected.wait(5), "the upstream stream was not closed"

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
