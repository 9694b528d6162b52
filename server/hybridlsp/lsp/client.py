"""A small LSP client that drives `hybridlsp serve` over stdio: used by `hybridlsp demo`."""

import sys
from pathlib import Path
from typing import Callable

from lsprotocol import types as t
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient
from pygls.protocol import JsonRPCResponseMessage, default_converter

__all__ = ["DemoClient"]


def _converter():
    """Keep results of custom requests (hybridlsp/run) as JSON objects: pygls would make them
    namedtuples, renaming keys that are Python keywords ("from")."""
    converter = default_converter()
    converter.register_structure_hook(JsonRPCResponseMessage, lambda obj, cls: cls(**obj))
    return converter


class DemoClient:
    """Start the server as a subprocess, open documents, run `hybridlsp/run` with streaming."""

    def __init__(self, root: Path, on_progress: Callable[[str, str], None] | None = None):
        self.root = root
        self.client = LanguageClient("hybridlsp-demo", "0.1", converter_factory=_converter)
        self._on_progress = on_progress
        self._n = 0

        @self.client.feature(t.PROGRESS)
        def progress(params: t.ProgressParams) -> None:
            value = params.value
            msg = value.get("message") if isinstance(value, dict) else getattr(value, "message", None)
            if msg and self._on_progress:
                self._on_progress(str(params.token), msg)

        @self.client.feature(t.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def create(params: t.WorkDoneProgressCreateParams) -> None:
            return None

        @self.client.feature(t.WINDOW_SHOW_MESSAGE)
        def show(params: t.ShowMessageParams) -> None:
            print(f"[server] {params.message}", file=sys.stderr)

        @self.client.feature(t.WINDOW_LOG_MESSAGE)
        def log(params: t.LogMessageParams) -> None:
            pass

    async def start(self) -> None:
        await self.client.start_io(sys.executable, "-m", "hybridlsp", "serve")
        await self.client.initialize_async(
            t.InitializeParams(
                process_id=None,
                root_uri=self.root.as_uri(),
                capabilities=t.ClientCapabilities(window=t.WindowClientCapabilities(work_done_progress=True)),
            )
        )
        self.client.initialized(t.InitializedParams())

    def open(self, path: Path, language: str) -> str:
        uri = path.resolve().as_uri()
        self.client.text_document_did_open(
            t.DidOpenTextDocumentParams(t.TextDocumentItem(uri, language, 1, path.read_text(encoding="utf-8")))
        )
        return uri

    async def run(self, action: str, uri: str, rng: tuple[int, int, int, int] | None = None,
                  prompt: str = "") -> dict:
        """The run's result; a run that failed (no tier's answer passed its check, none reachable)
        is `{"error": why, "hops": [{"tier", "why"}, ...]}` (hops: each tier tried, when known)."""
        self._n += 1
        params: dict = {"action": action, "textDocument": {"uri": uri}, "workDoneToken": f"demo-{self._n}"}
        if rng:
            params["range"] = {"start": {"line": rng[0], "character": rng[1]}, "end": {"line": rng[2], "character": rng[3]}}
        if prompt:
            params["prompt"] = prompt
        try:
            return await self.client.protocol.send_request_async("hybridlsp/run", params)
        except JsonRpcException as e:
            hops = e.data.get("hops", []) if isinstance(e.data, dict) else []
            return {"error": e.message, "hops": hops}

    async def stop(self) -> None:
        try:
            await self.client.shutdown_async(None)
            self.client.exit(None)
        finally:
            await self.client.stop()
