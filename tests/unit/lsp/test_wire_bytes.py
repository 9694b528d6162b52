"""`send_progress` writes the `$/progress` messages pygls' work_done_progress writes, and a handler's plain
JSON result leaves as pygls' own `_send_response` sends it, byte for byte."""

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


RESULTS = [
    {"text": "word0 wörd1 🙂", "decision": {"tier": 1, "backend": "ollama", "model": "model-a", "reasons": ["short"]},
     "usage": {"input_tokens": 120, "output_tokens": 10, "cost_usd": 0.0, "baseline_cost_usd": 0.0012},
     "fallbacks": [{"from": "tier 1", "to": "tier 2", "reason": "timeout"}], "request_id": "ab" * 16,
     "answered_by": {"tier": 1, "backend": "ollama", "model": "model-a"}, "latency_ms": 123.4, "ttft_ms": None,
     "cached": False, "notes": [], "findings": [{"line": 3, "end_line": 4, "severity": "warning", "message": "m",
                                                  "fix": None}]},
    {},
    {"request_id": "r1", "verdict": "good"},
    {"range": types.Range(start=types.Position(1, 2), end=types.Position(3, 4)), "kind": types.MessageType.Info,
     "pair": (1, "two")},
]


@pytest.mark.parametrize("msg_id", [5, "req-7"])
@pytest.mark.parametrize("result", RESULTS)
def test_a_plain_result_is_the_same_bytes_as_pygls_converting_it(msg_id, result):
    from pygls.protocol import LanguageServerProtocol

    ls, ours = _server()
    ls.protocol._send_response(msg_id, result)
    theirs_ls, theirs = _server()
    LanguageServerProtocol._send_response(theirs_ls.protocol, msg_id, result)  # pygls' own, through cattrs
    assert ours.data == theirs.data and len(ours.data) == 1


@pytest.mark.parametrize("message", [
    {"params": {"token": 1, "value": {"kind": "report", "message": "ü\u2028"}}, "method": "$/progress", "jsonrpc": "2.0"},
    {"params": {"pos": types.Position(1, 2), "kind": types.MessageType.Info}, "method": "x/y", "jsonrpc": "2.0"},
])
def test_send_plain_is_send_data(message):
    ls, ours = _server()
    ls.protocol.send_plain(message)
    theirs_ls, theirs = _server()
    theirs_ls.protocol._send_data(message)
    assert ours.data == theirs.data and len(ours.data) == 1
