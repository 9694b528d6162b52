"""Real LSP sessions against `hybridlsp serve`, with the model servers faked on 127.0.0.1.

The server runs as a subprocess with the real engine; `OLLAMA_HOST` and `OPENAI_BASE_URL` point
its backends at the fakes (tests/fakes), `HYBRIDLSP_HOME` keeps its ledger and result documents
in the test's directory, and `HYBRIDLSP_CONFIG` names the tiers: tier 1 `model-a` and tier 2
`model-b` on the fake Ollama, tier 3 `gpt-4.1` on the fake OpenAI.
"""

import asyncio
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Union

import pytest
from lsprotocol import types as t
from pygls.protocol import JsonRPCResponseMessage, default_converter
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import register_lsp_features

from tests.fakes.fixtures import fake_ollama, fake_openai  # noqa: F401
from tests import support
from tests.support import git  # noqa: F401  (tests/reliability imports it from here)

SERVER = [sys.executable, "-m", "hybridlsp", "serve"]
EDITORS = ["neovim", "visual_studio_code"]

CONFIG = """
[tiers.tier1]
backend = "ollama"
model = "model-a"
[tiers.tier2]
backend = "ollama"
model = "model-b"
[tiers.tier3]
backend = "openai"
model = "gpt-4.1"
[embedded]
enabled = false
[cache]
enabled = false
[dispatch]
connect_timeout_s = 2.0
read_timeout_s = 10.0
max_retries = 0
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with `calc.py` committed, then changed and staged."""
    return support.make_repo(tmp_path)


@pytest.fixture
def server_env(tmp_path: Path, fake_ollama, fake_openai) -> dict[str, str]:  # noqa: F811
    return support.server_env(
        tmp_path,
        CONFIG,
        OLLAMA_HOST=fake_ollama.url,
        OPENAI_BASE_URL=fake_openai.base_url,
        OPENAI_API_KEY="sk-test",
    )


def _converter():
    """lsprotocol 2025.0.0's client side reads any code action with a `command` field as a bare
    Command; a CodeAction's `command` is an object, a Command's is a string. (Real editors are
    unaffected.)"""
    converter = default_converter()

    def structure(obj, _):
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, t.Command)
        return converter.structure(obj, t.CodeAction)

    converter.register_structure_hook(Union[t.Command, t.CodeAction], structure)
    # and keep the results of custom requests (hybridlsp/run) as JSON objects, not namedtuples
    converter.register_structure_hook(JsonRPCResponseMessage, lambda obj, cls: cls(**obj))
    return converter


class Session:
    """A started, initialized client and a few helpers."""

    def __init__(self, client: LanguageClient, root: Path):
        self.client = client
        self.root = root

    def open(self, path: Path, language: str = "python", text: str | None = None) -> str:
        uri = path.as_uri()
        body = path.read_text() if text is None else text
        self.client.text_document_did_open(t.DidOpenTextDocumentParams(t.TextDocumentItem(uri, language, 1, body)))
        return uri

    async def actions(self, uri: str, start: tuple[int, int], end: tuple[int, int] | None = None, only=None):
        end = end or start
        params = t.CodeActionParams(
            t.TextDocumentIdentifier(uri),
            t.Range(t.Position(*start), t.Position(*end)),
            t.CodeActionContext(diagnostics=[], only=only),
        )
        return await self.client.text_document_code_action_async(params)

    async def action(self, uri: str, label: str, start: tuple[int, int], end: tuple[int, int] | None = None):
        found = [a for a in await self.actions(uri, start, end) if a.title.startswith(label + " - ")]
        assert len(found) == 1, [a.title for a in await self.actions(uri, start, end)]
        return found[0]

    async def run(self, params: dict, msg_id: str | None = None):
        return await self.client.protocol.send_request_async("hybridlsp/run", params, msg_id=msg_id)

    def cancel(self, msg_id: str) -> None:
        self.client.protocol.notify(t.CANCEL_REQUEST, t.CancelParams(id=msg_id))


@asynccontextmanager
async def session(env: dict, capabilities: t.ClientCapabilities, root: Path, initialization_options=None):
    client = LanguageClient(converter_factory=_converter)
    register_lsp_features(client)
    await client.start_io(*SERVER, env=env)
    try:
        await client.initialize_session(
            t.InitializeParams(
                capabilities=capabilities,
                root_uri=root.as_uri(),
                workspace_folders=[t.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
                initialization_options=initialization_options,
            )
        )
        yield Session(client, root)
    finally:
        # also after a failed test: the client's stop() waits for the server to exit
        try:
            await asyncio.wait_for(client.shutdown_session(), 10)
        except Exception:
            if client._server is not None and client._server.returncode is None:
                client._server.kill()
        await client.stop()


@pytest.fixture(params=EDITORS)
def editor(request) -> str:
    return request.param


@pytest.fixture
async def lsp(server_env, repo, editor):
    async with session(server_env, client_capabilities(editor), repo) as s:
        yield s
