"""Bad editor input against a real `hybridlsp serve` process: the server answers and never dies.

The property-based test sends sequences of hostile-but-well-framed messages (inverted and huge
ranges, unknown URIs, surrogates and control characters in documents, bursts of didChange,
unknown methods, random params for our own request) to one live server; after every sequence
the process must be alive, stdout must still be pure protocol, every request in the sequence must
have been answered, none of them with an internal error (-32603: an exception a handler did not
expect), and a canary document must still get its four code actions (and, every tenth sequence,
a real answer through `hybridlsp/run`).
"""

import asyncio
import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import repo, server_env  # noqa: F401
from tests.fakes.fixtures import fake_ollama, fake_openai  # noqa: F401

from .lspwire import Background, Wire

MAX_EXAMPLES = int(os.environ.get("HYBRIDLSP_FUZZ_EXAMPLES", 250))  # more to hunt longer
CANARY = "def divide(a, b):\n    result = a / b\n    return result\n"
ANSWER = "Divides a by b and returns the result."
POINT = {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 4}}
STATS: Counter = Counter()
INTERNAL_ERROR = -32603  # JSON-RPC's code for an exception a handler did not expect
SERVER_NOT_INITIALIZED = -32002  # LSP's answer to a request before initialize


class Live:
    """A live server on a background loop, driven synchronously (hypothesis examples are sync)."""

    def __init__(self, env: dict, root):
        self.bg = Background()
        self.root = root
        self.wire: Wire = self.bg.call(Wire.start(env))
        self.bg.call(self.wire.initialize(root.as_uri()))
        canary = root / "canary.py"
        canary.write_text(CANARY)
        self.canary = canary.as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {"uri": self.canary, "languageId": "python",
                                                               "version": 1, "text": CANARY}})

    def request(self, method: str, params, timeout: float = 20.0) -> dict:
        return self.bg.call(self.wire.request(method, params, timeout))

    def notify(self, method: str, params) -> None:
        async def send():
            self.wire.notify(method, params)
            await self.wire.proc.stdin.drain()

        self.bg.call(send())

    def check_alive(self, full: bool = False) -> None:
        assert self.wire.alive, self.wire.protocol_error or f"server exited {self.wire.proc.returncode}"
        actions = self.request("textDocument/codeAction", {"textDocument": {"uri": self.canary}, "range": POINT,
                                                           "context": {"diagnostics": []}})
        assert len(actions.get("result") or []) == 4, actions
        if full:
            res = self.request("hybridlsp/run", {"action": "explain", "textDocument": {"uri": self.canary},
                                                 "range": POINT})
            assert res.get("result", {}).get("text") == ANSWER, res

    def close(self) -> int:
        code = self.bg.call(self.wire.close())
        self.bg.close()
        return code


@pytest.fixture
def live(server_env, repo, fake_ollama):  # noqa: F811
    fake_ollama.answer = ANSWER
    server = Live(server_env, repo)
    yield server
    assert server.close() == 0, server.wire.stderr.decode(errors="replace")[-3000:]


# ---- strategies -----------------------------------------------------------------------------

ODD = ["\x00", "\r", "\r\n", "\n", "\t", "\u2028", "\ufeff", "\x1b[31m", "\ud800", "\udfff", "\U0001f600", "é", "\x7f"]
texts = st.lists(st.one_of(st.characters(), st.sampled_from(ODD)), max_size=120).map("".join)
ints = st.one_of(st.integers(0, 40), st.integers(0, 2**31 - 1))
positions = st.fixed_dictionaries({"line": ints, "character": ints})
ranges = st.fixed_dictionaries({"start": positions, "end": positions})  # inverted about half the time
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


# "{root}" is the workspace root, filled in when sent (strategies exist before the workspace does)
uris = st.sampled_from([
    "{root}/fuzz0.py", "{root}/fuzz1.js", "{root}/calc.py", "{root}/missing/deeper.rs",
    "file:///nonexistent/x.py", "untitled:Untitled-1", "http://example.invalid/x.py", "", "not a uri",
    "file:///tmp/%00/x.py", "file:///%E2%82%AC/\u00fc\u00f1.py", "{root}/" + "x" * 300 + ".py",
])
documents = st.builds(lambda uri: {"uri": uri}, uris)
changes = st.one_of(st.builds(lambda rng, text: {"range": rng, "text": text}, ranges, texts),
                    st.builds(lambda text: {"text": text}, texts))
actions = st.sampled_from(["complete", "explain", "review", "commit-message", "ask"])
run_params = st.fixed_dictionaries({}, optional={
    "action": st.one_of(actions, json_values),
    "textDocument": st.one_of(documents, json_values),
    "range": st.one_of(ranges, json_values),
    "prompt": st.one_of(texts, json_values),
    "tier": st.one_of(st.sampled_from([1, 2, 3]), json_values),
})
action_data = st.builds(lambda a, doc, rng: {"action": a, "textDocument": doc, "range": rng},
                        st.one_of(actions, st.just("rm -rf")), documents, ranges)
kinds = st.one_of(st.none(), st.lists(st.sampled_from(
    ["", "quickfix", "refactor", "refactor.hybridlsp.explain", "source", "zz"]), max_size=3))


def _op(kind: str, method: str, params):
    return st.tuples(st.just(kind), st.just(method), params)


ops = st.one_of(
    _op("notify", "textDocument/didOpen", st.builds(
        lambda uri, lang, version, text: {"textDocument": {"uri": uri, "languageId": lang, "version": version,
                                                           "text": text}},
        uris, st.sampled_from(["python", "javascript", "rust", "plaintext", "", "gitcommit", "x" * 40]),
        st.integers(-2**31, 2**31 - 1), texts)),
    _op("notify", "textDocument/didChange", st.builds(
        lambda doc, version, cs: {"textDocument": {**doc, "version": version}, "contentChanges": cs},
        documents, st.integers(0, 2**31 - 1), st.lists(changes, min_size=1, max_size=4))),
    _op("burst", "textDocument/didChange", st.tuples(uris, st.integers(20, 200), texts)),
    _op("notify", "textDocument/didClose", st.builds(lambda doc: {"textDocument": doc}, documents)),
    _op("request", "textDocument/codeAction", st.builds(
        lambda doc, rng, only: {"textDocument": doc, "range": rng,
                                "context": {"diagnostics": [], **({"only": only} if only else {})}},
        documents, ranges, kinds)),
    _op("request", "codeAction/resolve", st.builds(
        lambda title, data: {"title": title, "data": data}, texts, st.one_of(json_values, action_data))),
    _op("request", "hybridlsp/run", st.one_of(json_values, run_params)),
    _op("request", "textDocument/inlineCompletion", st.builds(
        lambda doc, pos: {"textDocument": doc, "position": pos, "context": {"triggerKind": 2}}, documents, positions)),
    _op("request", "workspace/executeCommand", st.builds(
        lambda cmd, args: {"command": cmd, "arguments": args},
        st.sampled_from(["hybridlsp.run", "hybridlsp.feedback", "rm -rf /", ""]), st.lists(json_values, max_size=2))),
    _op("notify", "workspace/didChangeConfiguration", st.builds(
        lambda junk: {"settings": {"hybridlsp": junk}},
        st.dictionaries(st.text("zqxj_", min_size=1, max_size=6), json_values, max_size=3))),
    st.tuples(st.sampled_from(["request", "notify"]),
              st.one_of(st.sampled_from(["foo/bar", "$/unknown", "textDocument/unknownThing", "hybridlsp/nope", ""]),
                        st.text(max_size=30)),
              json_values),
)


def _fill(obj, root: str):
    """Put the workspace root into `{root}` URIs (strategies are built before the root exists)."""
    if isinstance(obj, str):
        return obj.replace("{root}", root)
    if isinstance(obj, list):
        return [_fill(v, root) for v in obj]
    if isinstance(obj, dict):
        return {k: _fill(v, root) for k, v in obj.items()}
    return obj


def _send(live: Live, op) -> None:
    kind, method, params = op
    params = _fill(params, live.root.as_uri())
    if kind == "burst":
        uri, n, text = params
        for version in range(n):
            live.notify(method, {"textDocument": {"uri": uri, "version": version}, "contentChanges": [
                {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": text}]})
        STATS["messages"] += n
        return
    STATS["messages"] += 1
    if kind == "notify":
        live.notify(method, params)
        return
    reply = live.request(method, params)  # lspwire.NoAnswer fails the example
    STATS["requests"] += 1
    STATS["errors" if "error" in reply else "results"] += 1
    if "error" in reply:
        STATS[f"error {reply['error'].get('code')}"] += 1
        assert reply["error"].get("code") != INTERNAL_ERROR, (
            f"{method} answered an internal error to {params!r}: {reply['error'].get('message', '')[:300]}")


# No shrinking: a failing sequence is at most six messages, readable as it is, and shrinking a
# live-server test can outlast the suite's timeout.
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(sequence=st.lists(ops, min_size=1, max_size=6))
def test_server_survives_hostile_editor_input(live, sequence, figures):
    for op in sequence:
        _send(live, op)
    STATS["sequences"] += 1
    live.check_alive(full=STATS["sequences"] % 10 == 0)
    codes = ", ".join(f"{k.split()[1]}: {v}" for k, v in sorted(STATS.items()) if k.startswith("error "))
    figures["bad editor input (hypothesis)"] = (
        f"{STATS['sequences']} generated sequences, {STATS['messages']} messages, {STATS['requests']} requests "
        f"all answered ({STATS['results']} results, {STATS['errors']} errors by code: {codes or 'none'}); "
        "server alive and the canary answered after every sequence; no internal errors"
    )


# ---- the edges of a session, and sizes ---------------------------------------------------------


def _open(wire: Wire, uri: str, text: str, language: str = "python") -> None:
    wire.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": language, "version": 1,
                                                          "text": text}})


async def _canary_answers(wire: Wire, uri: str) -> None:
    actions = await wire.request("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": POINT,
                                                             "context": {"diagnostics": []}})
    assert len(actions["result"]) == 4, actions
    res = await wire.request("hybridlsp/run", {"action": "explain", "textDocument": {"uri": uri}, "range": POINT})
    assert res["result"]["text"] == ANSWER, res


async def test_before_initialize_and_garbage_frames_then_a_normal_session(server_env, repo, fake_ollama):  # noqa: F811
    fake_ollama.answer = ANSWER
    wire = await Wire.start(server_env)
    uri = (repo / "calc.py").as_uri()
    point = {"textDocument": {"uri": uri}, "range": POINT, "context": {"diagnostics": []}}
    try:
        for method, params in [("textDocument/codeAction", point), ("hybridlsp/run", {"action": "ask", "prompt": "hi"}),
                               ("foo/bar", {}), ("textDocument/inlineCompletion", {
                                   "textDocument": {"uri": uri}, "position": POINT["start"],
                                   "context": {"triggerKind": 1}})]:
            reply = await wire.request(method, params, timeout=10)
            assert reply.get("error", {}).get("code") == SERVER_NOT_INITIALIZED, (method, reply)  # as the spec says
        for garbage in (b"\xff\xfe not json", b"[1, 2, 3]", b"null", b'{"no": "jsonrpc"}',
                        b'{"jsonrpc": "1.0", "id": 99, "method": "initialize"}',
                        b'{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": '
                        b'{"uri": "file:///x.py", "languageId": "python", "version": 1, "text": "a\xff\xfe b"}}}'):
            wire.send_raw(garbage)
        init = await wire.initialize(repo.as_uri())
        assert init["result"]["capabilities"]["codeActionProvider"]["resolveProvider"] is True
        _open(wire, uri, CANARY)
        await _canary_answers(wire, uri)
        assert wire.alive
    finally:
        assert await wire.close() == 0


async def test_ten_megabyte_documents_and_a_burst_of_changes(server_env, repo, fake_ollama, figures):  # noqa: F811
    fake_ollama.answer = ANSWER
    line = "value_%07d = %d  # \x00 \x1b[31m \udc80 \U0001f600 generated-looking content\n"
    big = "".join(line % (i, i) for i in range(150_000))
    assert len(big.encode("utf-8", "surrogatepass")) > 10_000_000
    wire = await Wire.start(server_env)
    try:
        await wire.initialize(repo.as_uri())
        big_uri = (repo / "big.py").as_uri()
        _open(wire, big_uri, big)
        end = {"start": {"line": 149_998, "character": 0}, "end": {"line": 149_999, "character": 10}}
        actions = await wire.request("textDocument/codeAction", {"textDocument": {"uri": big_uri}, "range": end,
                                                                 "context": {"diagnostics": []}}, timeout=60)
        assert len(actions["result"]) == 4
        res = await wire.request("hybridlsp/run", {"action": "explain", "textDocument": {"uri": big_uri},
                                                   "range": end}, timeout=60)
        assert res.get("result", {}).get("text") == ANSWER, res
        # the whole 10 MB as the subject: answered (by a tier or with an error), not hung
        whole = await wire.request("hybridlsp/run", {"action": "explain", "textDocument": {"uri": big_uri}},
                                   timeout=120)
        assert "result" in whole or "error" in whole

        # 500 incremental changes in a row, then the server's copy must be exactly ours
        small_uri = (repo / "burst.py").as_uri()
        text = "def f():\n    return 1\n"
        _open(wire, small_uri, text)
        for version in range(2, 502):
            lines = text.split("\n")
            row = version % (len(lines) - 1)
            col = version % (len(lines[row]) + 1)
            piece = f"x{version}" + ("\n" if version % 7 == 0 else "")
            wire.notify("textDocument/didChange", {
                "textDocument": {"uri": small_uri, "version": version},
                "contentChanges": [{"range": {"start": {"line": row, "character": col},
                                              "end": {"line": row, "character": col}}, "text": piece}]})
            lines[row] = lines[row][:col] + piece + lines[row][col:]
            text = "\n".join(lines)
        res = await wire.request("hybridlsp/run", {"action": "explain", "textDocument": {"uri": small_uri}})
        assert res["result"]["text"] == ANSWER
        assert text in fake_ollama.requests[-1].json["messages"][-1]["content"]
        assert wire.alive
        ended = (f"answered by {whole['result']['answered_by']['backend']}" if "result" in whole
                 else f"refused: {whole['error']['message'][:90]}")
        figures["big documents"] = (f"{len(big.encode('utf-8', 'surrogatepass')) / 1e6:.1f} MB document opened, "
                                    f"code actions and a run on a range answered; the whole document as the subject "
                                    f"{ended}; 500 didChange in a burst applied exactly")
    finally:
        assert await wire.close() == 0


async def test_requests_with_params_of_the_wrong_shape_get_an_error(server_env, repo):  # noqa: F811
    wire = await Wire.start(server_env)
    uri = (repo / "calc.py").as_uri()
    try:
        await wire.initialize(repo.as_uri())
        bad = [{"textDocument": {"uri": uri}, "range": {"start": {"line": -1, "character": 0},
                                                        "end": {"line": 0, "character": 0}}, "context": {"diagnostics": []}},
               {"textDocument": {"uri": uri}, "context": {"diagnostics": []}},
               {"textDocument": uri, "range": POINT, "context": {"diagnostics": []}}]
        replies = await asyncio.gather(*(wire.request("textDocument/codeAction", p, timeout=3) for p in bad),
                                       return_exceptions=True)
        assert all(isinstance(r, dict) and "error" in r for r in replies), replies
        assert all(r["error"]["code"] != INTERNAL_ERROR for r in replies), replies
    finally:
        await wire.close()


async def test_requests_after_shutdown_get_an_error(server_env, repo):  # noqa: F811
    wire = await Wire.start(server_env)
    try:
        await wire.initialize(repo.as_uri())
        assert "result" in await wire.request("shutdown", None)
        reply = await wire.request("textDocument/codeAction", {
            "textDocument": {"uri": (repo / "calc.py").as_uri()}, "range": POINT, "context": {"diagnostics": []}},
            timeout=3)
        assert reply.get("error", {}).get("code") == -32600, reply
    finally:
        wire.notify("exit", None)
        await asyncio.wait_for(wire.proc.wait(), 10)
        await wire.close()
