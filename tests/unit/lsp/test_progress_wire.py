"""`send_progress` writes the `$/progress` messages pygls' work_done_progress writes, byte for byte."""

from __future__ import annotations

import pytest
from lsprotocol import types

from hybridlsp.lsp.running import send_progress
from hybridlsp.lsp.server import build_server


class _Out:
    def __init__(self):
        self.data: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.data.append(data)


def _server():
    ls = build_server()
    out = _Out()
    ls.protocol.set_writer(out)
    return ls, out


CASES = [
    (types.WorkDoneProgressBegin(title="hybridlsp: Explain", cancellable=True),
     {"title": "hybridlsp: Explain", "kind": "begin", "cancellable": True}),
    (types.WorkDoneProgressReport(message="word0 wörd1 \u2028 🙂 \"q\"\n"), {"kind": "report", "message": "word0 wörd1 \u2028 🙂 \"q\"\n"}),
    (types.WorkDoneProgressReport(message=""), {"kind": "report", "message": ""}),
    (types.WorkDoneProgressEnd(message="done: ollama model-a"), {"kind": "end", "message": "done: ollama model-a"}),
]


@pytest.mark.parametrize("token", ["r0-12", 7, "hybridlsp-3f2a"])
@pytest.mark.parametrize("value,raw", CASES)
def test_the_same_bytes_as_pygls(token, value, raw):
    ls, theirs = _server()
    kind = {"begin": ls.work_done_progress.begin, "report": ls.work_done_progress.report,
            "end": ls.work_done_progress.end}[raw["kind"]]
    kind(token, value)
    ours_ls, ours = _server()
    send_progress(ours_ls, token, raw)
    assert ours.data == theirs.data and len(ours.data) == 1
