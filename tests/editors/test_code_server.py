"""The VS Code extension in a real workbench: code-server (VS Code in the browser, from npm) with
our .vsix and a small driver extension installed, opened by headless Chromium. The driver
(tests/editors/vscode/driver) runs the commands as a user would and writes what happened to a
file. code-server needs Node 24 and ~600 MB: `make code-server` installs both under .venv/editors;
HYBRIDLSP_CODE_SERVER / HYBRIDLSP_NODE24 point elsewhere."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fakes.upstreams import free_port

from .conftest import CLIENTS, ROOT, require
from .scripted import ANSWERS

pytestmark = [pytest.mark.editor, pytest.mark.timeout(300)]

VSCODE = CLIENTS / "vscode"
DRIVER = Path(__file__).parent / "vscode" / "driver"
EDITORS = ROOT / ".venv" / "editors"
HOW = "run `make code-server` (code-server 4.139.1 and Node 24 from npm, ~3 minutes)"


def _existing(path: str | Path | None) -> str | None:
    return str(path) if path and Path(path).exists() else None


@pytest.fixture
def tools() -> dict[str, str]:
    code_server = os.environ.get("HYBRIDLSP_CODE_SERVER") or EDITORS / "code-server" / "node_modules" / ".bin" / "code-server"
    node = os.environ.get("HYBRIDLSP_NODE24") or EDITORS / "node" / "bin" / "node"
    return {
        "code_server": require(_existing(code_server), "code-server", HOW),
        "node": require(_existing(node), "Node 24", HOW),
        "chromium": require(shutil.which("chromium"), "Chromium", "apt-get install chromium (or `make editors`)"),
        "vsix": require(_existing(VSCODE / "dist" / "hybridlsp.vsix"), "the extension's .vsix",
                        "run `npm ci && npm run check` in editor-clients/vscode (or `make vscode`)"),
        "vsce": require(_existing(VSCODE / "node_modules" / ".bin" / "vsce"), "vsce", "npm ci in editor-clients/vscode"),
    }


def _wait_http(url: str, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer in {seconds} s")


def _stop(proc: subprocess.Popen) -> None:
    """Stop `proc` and what it started (it leads its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


def test_the_extension_runs_the_actions_in_code_server(tools, editor_env, repo, tmp_path, scripted):
    (repo / "more.py").write_text("def triple(x):\n    # three times x\n")
    data, extensions, chrome = tmp_path / "cs-data", tmp_path / "cs-extensions", tmp_path / "chrome"
    out = tmp_path / "driver.json"
    env = {**editor_env, "PATH": f"{Path(tools['node']).parent}{os.pathsep}{editor_env['PATH']}",
           "HYBRIDLSP_DRIVER_OUT": str(out)}

    driver = tmp_path / "driver.vsix"
    subprocess.run([tools["vsce"], "package", "--no-dependencies", "--allow-missing-repository", "--skip-license",
                    "-o", str(driver)], cwd=DRIVER, env=env, check=True, capture_output=True, timeout=120)
    # the workbench resolves the login shell's environment, whose PATH lacks our venv: name the
    # server's command in the user's settings, as a user with hybridlsp in a venv would
    (data / "User").mkdir(parents=True)
    (data / "User" / "settings.json").write_text(json.dumps(
        {"hybridlsp.server.command": [str(Path(sys.executable).parent / "hybridlsp"), "serve"]}))
    common = ["--extensions-dir", str(extensions), "--user-data-dir", str(data)]
    subprocess.run([tools["code_server"], *common, "--install-extension", tools["vsix"],
                    "--install-extension", str(driver)], env=env, check=True, capture_output=True, timeout=180)

    port = free_port()
    log = open(tmp_path / "code-server.log", "w")
    server = subprocess.Popen(
        [tools["code_server"], *common, "--auth", "none", "--disable-telemetry", "--disable-update-check",
         "--disable-workspace-trust", "--bind-addr", f"127.0.0.1:{port}", str(repo)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    browser = None
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", 60)
        browser = subprocess.Popen(
            [tools["chromium"], "--headless=new", "--no-sandbox", "--disable-gpu", f"--user-data-dir={chrome}",
             "--no-first-run", f"http://127.0.0.1:{port}/?folder={repo}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        end = time.monotonic() + 150
        while not out.exists() and time.monotonic() < end:
            time.sleep(0.5)
    finally:
        if browser is not None:
            _stop(browser)
        _stop(server)
        log.close()
    assert out.exists(), "the driver wrote nothing: " + (tmp_path / "code-server.log").read_text()[-3000:]
    result = json.loads(out.read_text())
    assert result["errors"] == [], result["errors"]

    titles = [t for t in result["titles"] if re.match(r"(Complete|Explain|Review|Commit message) - ", t)]
    assert len(titles) == 4 and any(re.fullmatch(r"Explain - local model-a \(\d+ tokens, p\(tier 1 enough\) [01]\.\d\d\)", t) for t in titles), result["titles"]
    assert any(ANSWERS["explain"] in doc and "local ollama model-a (tier 1)" in doc for doc in result["explain"])
    assert result["cancelled"]["status"] == "cancelled" and result["cancelled"]["chunks"] >= 2  # streamed, then stopped
    assert scripted.disconnected.wait(5), "the upstream stream was not closed"
    assert result["diagnostics"] == [{"line": 4, "message": "b may be zero", "source": "hybridlsp"}]
    assert result["complete"] == "def triple(x):\n    # three times x\n    return 3 * x\n"
    assert result["commit"] == ANSWERS["commit-message"]
    assert re.search(r"t\d model-\w .*this month, saved \$\d+\.\d\d", result["status"]), result["status"]
