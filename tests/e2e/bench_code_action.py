"""How long `textDocument/codeAction` takes on a 5,000-line file, as an editor sees it.

    .venv/bin/python -m tests.e2e.bench_code_action [requests]

Starts `hybridlsp serve` over stdio (no model server is needed: code actions never call one),
opens a generated 5,000-line Python file and asks for code actions at random places: empty
ranges (the enclosing function is found) and selections. Prints p50/p99 of the round trip, then
of the handler alone (in process, without the pipe and the client), since on a busy machine the
round trip mostly measures scheduling.
"""

import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types as t
from pygls.lsp.client import LanguageClient
from pygls.workspace import Workspace

from hybridlsp.config import Settings
from hybridlsp.engine import Engine
from hybridlsp.ledger.store import Ledger
from hybridlsp.lsp import build_server
from hybridlsp.lsp.code_actions import code_action
from hybridlsp.lsp.findings import FindingsStore

LINES = 5000


def source(lines: int = LINES) -> str:
    out = ["import os", "import sys", ""]
    n = 0
    while len(out) < lines:
        n += 1
        out += [f"def function_{n}(items, limit=10):", f'    """Do thing number {n}."""', "    total = 0"]
        out += [f"    for i, item in enumerate(items):  # step {k}" if k % 3 == 0 else f"        total += item * {k}" for k in range(13)]
        out += ["    if total > limit:", "        return limit", "    return total", ""]
    return "\n".join(out[:lines]) + "\n"


CAPS = t.ClientCapabilities(
    text_document=t.TextDocumentClientCapabilities(
        code_action=t.CodeActionClientCapabilities(
            data_support=True, resolve_support=t.ClientCodeActionResolveOptions(properties=["edit"])
        )
    )
)


def _params(rnd: random.Random, i: int, uri: str) -> t.CodeActionParams:
    line = rnd.randrange(LINES)
    end = line if i % 2 else min(LINES - 1, line + rnd.randrange(1, 40))
    rng = t.Range(t.Position(line, 0), t.Position(end, 0 if end == line else 4))
    return t.CodeActionParams(t.TextDocumentIdentifier(uri), rng, t.CodeActionContext(diagnostics=[]))


def _report(what: str, times: list[float]) -> None:
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"{what}: p50 {statistics.median(times):.2f} ms, p99 {p99:.2f} ms, max {times[-1]:.2f} ms")


def handler_only(requests: int, text: str, tmp: Path) -> list[float]:
    ls = build_server()
    ls.protocol._workspace = Workspace(tmp.as_uri())
    ls.protocol.client_capabilities = CAPS
    ls.engine = Engine(Settings(), ledger=Ledger(":memory:"))
    ls.findings = FindingsStore()  # what lifecycle.start makes past initialize
    uri = (tmp / "big.py").as_uri()
    ls.workspace.put_text_document(t.TextDocumentItem(uri, "python", 1, text))
    rnd = random.Random(7)
    times = []
    for i in range(requests + 50):
        params = _params(rnd, i, uri)
        t0 = time.perf_counter()
        assert len(code_action(ls, params)) == 4
        if i >= 50:
            times.append((time.perf_counter() - t0) * 1000)
    return times


async def main(requests: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    doc = tmp / "big.py"
    text = source()
    doc.write_text(text)
    env = dict(os.environ, HYBRIDLSP_HOME=str(tmp))
    client = LanguageClient("bench", "0")
    await client.start_io(sys.executable, "-m", "hybridlsp", "serve", env=env)
    await client.initialize_async(t.InitializeParams(capabilities=CAPS, root_uri=tmp.as_uri()))
    client.initialized(t.InitializedParams())
    uri = doc.as_uri()
    client.text_document_did_open(t.DidOpenTextDocumentParams(t.TextDocumentItem(uri, "python", 1, text)))
    rnd = random.Random(7)
    times = []
    for i in range(requests + 50):
        params = _params(rnd, i, uri)
        t0 = time.perf_counter()
        actions = await client.text_document_code_action_async(params)
        if i >= 50:  # warm-up: imports, tokenizer load
            times.append((time.perf_counter() - t0) * 1000)
        assert actions and len(actions) == 4, actions
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    _report(f"codeAction on a {LINES}-line file, {len(times)} requests, round trip over stdio", times)
    _report("the handler alone, in process", handler_only(requests, text, tmp))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
