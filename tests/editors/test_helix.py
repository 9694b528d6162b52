"""The Helix snippet (editor-clients/helix/languages.toml): Helix itself is not installable here,
so check that the snippet parses, that the command it names is our console script and starts the
language server over stdio, and that its `config` is valid server settings."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from hybridlsp.commands import build_parser
from hybridlsp.config import Settings, lsp_options_to_settings

from .conftest import CLIENTS, ROOT

SNIPPET = CLIENTS / "helix" / "languages.toml"


def _snippet() -> dict:
    return tomllib.loads(SNIPPET.read_text())


def test_names_our_console_script_and_serve():
    server = _snippet()["language-server"]["hybridlsp"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert server["command"] in scripts
    args = build_parser().parse_args(server["args"])
    assert args.command == "serve" and not args.tcp  # stdio, as Helix speaks it


def test_config_is_valid_settings():
    config = _snippet()["language-server"]["hybridlsp"]["config"]
    settings = lsp_options_to_settings(Settings(), config)
    assert settings.budget.monthly_cloud_usd == 20.0


def test_every_language_lists_the_server():
    languages = _snippet()["language"]
    assert {lang["name"] for lang in languages} >= {"python", "git-commit"}
    assert all("hybridlsp" in lang["language-servers"] for lang in languages)


def _frame(obj: dict) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def test_the_command_starts_the_server(tmp_path):
    server = _snippet()["language-server"]["hybridlsp"]
    command = Path(sys.executable).parent / server["command"]  # the console script, as on PATH
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"processId": None, "rootUri": None, "capabilities": {}, "initializationOptions": server["config"]}},
        {"jsonrpc": "2.0", "method": "initialized", "params": {}},
        {"jsonrpc": "2.0", "id": 2, "method": "shutdown"},
        {"jsonrpc": "2.0", "method": "exit"},
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDLSP_")}
    env["HYBRIDLSP_HOME"] = str(tmp_path)
    proc = subprocess.run([str(command), *server["args"]], input=b"".join(map(_frame, messages)),
                          capture_output=True, timeout=60, env=env)
    head, _, rest = proc.stdout.partition(b"\r\n\r\n")
    headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n"))
    reply = json.loads(rest[: int(headers[b"Content-Length"])])
    assert reply["id"] == 1 and reply["result"]["serverInfo"]["name"] == "hybridlsp"
    assert reply["result"]["capabilities"]["codeActionProvider"]
