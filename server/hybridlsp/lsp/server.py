"""The language server: its state, the table of its handlers, and the transports.

Handlers live beside this module, one per responsibility (`code_actions`, `run`, `inline`,
`lifecycle`, `findings`); they are adapters over `hybridlsp.engine.Engine`. This module imports
none of them: they, and what they import (the engine, the settings and pydantic, the backends and
httpx, the ledger, tiktoken), are most of start-up, so they are loaded once `initialize` has been
answered, on `initialized` (or on the first message needing them, for a client that never sends
it). An editor sees the server attach in about the time a bare pygls server takes; the first
request still waits for the engine, as it did.
"""

import asyncio
import contextvars
import gc
import inspect
import json
import logging
import os
import sys
import threading
from importlib import import_module
from typing import TYPE_CHECKING, Any, Callable

from lsprotocol import types
from pygls.exceptions import (JsonRpcException, JsonRpcInternalError, JsonRpcInvalidRequest,
                              JsonRpcServerNotInitialized)
from pygls.io_ import run_async
from pygls.lsp.server import LanguageServer
from pygls.protocol import (JsonRPCNotification, JsonRPCProtocol, JsonRPCRequestMessage, LanguageServerProtocol,
                            default_converter)

from pygls.workspace import TextDocument

from .. import version
from .methods import FEEDBACK_COMMAND, KIND_PREFIX, RUN_COMMAND, RUN_REQUEST
from .stdio import serve_stdio

if TYPE_CHECKING:
    from ..budget.status import BudgetWatch
    from ..config import Settings
    from ..engine import Engine
    from .findings import FindingsStore

__all__ = ["HybridLanguageServer", "build_server", "serve", "FEATURES", "COMMANDS", "RUN_REQUEST"]

EngineFactory = Callable[["Settings"], "Engine"]
Listening = Callable[[list[tuple[str, int]]], None]  # told the (host, port) of each bound socket

log = logging.getLogger(__name__)

# The garbage collector, in the server's own process. With 100 requests in flight (bench 6) it
# took 0.34 ms of CPU a request, most of it full collections walking everything start-up built
# (76 ms each): that is frozen once the engine is loaded (`start`), out of every later collection.
# The youngest generation is collected when 50,000 more container objects are alive than at the
# last collection, not 700: what requests allocate is mostly freed by reference counting when
# they end, and 100 requests in flight hold fewer than 50,000, so a collection seldom comes, and
# seldom walks and promotes the objects of requests still running. At 7,000 it came every ~55
# requests and took 0.07 ms of CPU a request; at 50,000, one in 1,000 requests, 0.02 ms a request.
# Until then start-up collects at 7,000, so that less of what it leaves unreachable is kept for
# good by the freeze (the idle RSS).
GC_THRESHOLD = 50_000
GC_START_THRESHOLD = 7000
_pygls_log = logging.getLogger("pygls.protocol.json_rpc")  # where pygls logs each message it sends
_encode = json.JSONEncoder().encode  # what json.dumps(message) is, without making an encoder a call

# method -> (its options, the module of this package handling it, the function, whether it is a
# coroutine function): pygls needs the options to answer `initialize`, and to know whether a
# handler is a coroutine before calling it, so neither can wait for the module to load.
FEATURES: dict[str, tuple[Any, str, str, bool]] = {
    types.WORKSPACE_DID_CHANGE_CONFIGURATION: (None, "lifecycle", "did_change_configuration", True),
    types.TEXT_DOCUMENT_DID_CHANGE: (None, "findings", "did_change", False),
    types.TEXT_DOCUMENT_DID_CLOSE: (None, "findings", "did_close", False),
    types.TEXT_DOCUMENT_CODE_ACTION: (
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix, KIND_PREFIX], resolve_provider=True),
        "code_actions", "code_action", False,
    ),
    types.CODE_ACTION_RESOLVE: (None, "code_actions", "resolve_code_action", True),
    RUN_REQUEST: (None, "run", "run", True),
    types.TEXT_DOCUMENT_INLINE_COMPLETION: (types.InlineCompletionOptions(), "inline", "inline_completion", True),
}
# `workspace/executeCommand` command -> (module, function, whether it is a coroutine function)
COMMANDS: dict[str, tuple[str, str, bool]] = {
    RUN_COMMAND: ("code_actions", "run_command", True),
    FEEDBACK_COMMAND: ("run", "feedback", True),
}


class _Protocol(LanguageServerProtocol):
    """Four places where pygls 2 leaves an editor waiting or answers with an internal error, closed here:
    - `$/cancelRequest` of a `workspace/executeCommand` is answered but the command's task keeps
      running: cancel the task too, so a command's model call stops like a request's;
    - a request whose params do not fit its method's types is dropped unanswered: answer it with
      InvalidParams;
    - requests after `shutdown` are ignored: the spec says they error with InvalidRequest;
    - a request before `initialize` reaches its handler, which fails reading the workspace (an
      internal error): the spec says it errors with ServerNotInitialized.
    And three costs: a request is dispatched without pygls' isinstance checks, a plain JSON result
    is sent without being converted by cattrs first, and `send_plain` sends a plain JSON message
    with one kept encoder."""

    _server: "HybridLanguageServer"

    def structure_message(self, data):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "jsonrpc" in data and "id" in data and "method" in data:
                self._send_response(data["id"], None, exc.to_response_error())
            raise

    def handle_message(self, message):
        method = getattr(message, "method", None)
        is_request = method is not None and getattr(message, "id", None) is not None
        if self._shutdown and is_request and method != types.EXIT:
            error = JsonRpcInvalidRequest("the server is shutting down: no more requests")
            self._send_response(message.id, None, error.to_response_error())
            return
        if self._workspace is None and is_request and method != types.INITIALIZE:
            error = JsonRpcServerNotInitialized(f"{method} before initialize: send initialize first")
            self._send_response(message.id, None, error.to_response_error())
            return
        if is_request and not self._shutdown and getattr(message, "jsonrpc", None) == JsonRPCProtocol.VERSION:
            # pygls' own dispatch of a request, without first telling its kind by isinstance
            # against runtime-checkable Protocols (10 us a message in Python 3.11)
            contextvars.copy_context().run(self._handle_request, message.id, method, message.params)
            return
        super().handle_message(message)

    def _send_response(self, msg_id, result=None, error=None):
        # A handler's plain JSON result (hybridlsp/run's, a command's) leaves as the same bytes
        # without cattrs walking the whole answer first: 26 us a response against 8.
        if error is None and type(result) is dict and msg_id not in self._result_types:
            self.send_plain({"id": msg_id, "jsonrpc": JsonRPCProtocol.VERSION, "result": result})
        else:
            super()._send_response(msg_id, result, error)

    def send_plain(self, message: dict) -> None:
        """`_send_data` for a message already plain JSON (a `$/progress` report): the same bytes,
        encoded by one encoder kept for it rather than one made for every message."""
        writer = self.writer
        try:
            body = _encode(message)
        except (TypeError, ValueError):
            body = None
        if body is None or writer is None or not self._include_headers:
            self._send_data(message)  # pygls' way: a default for the odd value, its error handling
            return
        if _pygls_log.isEnabledFor(logging.INFO):
            _pygls_log.info("Sending data: %s", body)
        data = f"Content-Length: {len(body)}\r\nContent-Type: {self.CONTENT_TYPE}; charset={self.CHARSET}\r\n\r\n{body}"
        try:
            res = writer.write(data.encode(self.CHARSET))
            if res is not None and inspect.isawaitable(res):
                asyncio.ensure_future(res)
        except BrokenPipeError:
            _pygls_log.exception("Error sending data. BrokenPipeError", exc_info=True)
            raise
        except Exception as error:
            _pygls_log.exception("Error sending data", exc_info=True)
            self._server._report_server_error(error, JsonRpcInternalError)

    def _handle_cancel_notification(self, msg_id):
        super()._handle_cancel_notification(msg_id)
        task = self._server.command_tasks.pop(msg_id, None)
        if task is not None:
            task.cancel()


def _converter():
    """pygls turns the params of methods it does not know (`hybridlsp/run`) into namedtuples,
    renaming keys that are not identifiers; keep them as the JSON objects they are."""
    converter = default_converter()
    for cls in (JsonRPCRequestMessage, JsonRPCNotification):
        converter.register_structure_hook(cls, lambda obj, cls: cls(**obj))
    return converter


class HybridLanguageServer(LanguageServer):
    def __init__(self, engine_factory: EngineFactory | None = None, settings: "Settings | None" = None):
        super().__init__(
            "hybridlsp",
            version(),
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=_Protocol,
            converter_factory=_converter,
        )
        self.engine_factory = engine_factory  # None: `Engine(settings)`
        self.base_settings: "Settings | None" = settings  # files + environment (or given by the caller)
        self.settings: "Settings | None" = None  # base_settings + the client's options
        self.engine: "Engine | None" = None
        self.initialize_params: types.InitializeParams | None = None
        self.findings: "FindingsStore | None" = None  # these two are made by `start`
        self.budget_watch: "BudgetWatch | None" = None  # says each budget warning once
        self.inline_tasks: dict[str, asyncio.Task] = {}
        self.command_tasks: dict[object, asyncio.Task] = {}
        self._handlers: dict[tuple[str, str], Callable] | None = None
        self.tune_gc = False  # `serve` sets it, for a process of its own: see GC_THRESHOLD

    def start(self) -> None:
        """Load the handlers, then settings and engine (`lifecycle.start`); once. Before
        `initialize` there is nothing to start from: ServerNotInitialized."""
        if self._handlers is not None:
            return
        if self.initialize_params is None:
            raise JsonRpcServerNotInitialized("send initialize first")
        wanted = [(m, f) for _, m, f, _ in FEATURES.values()] + [(m, f) for m, f, _ in COMMANDS.values()]
        handlers = {(m, f): getattr(import_module(f".{m}", __package__), f) for m, f in wanted}
        import_module(".lifecycle", __package__).start(self, self.initialize_params)
        self._handlers = handlers
        if self.tune_gc:
            gc.freeze()  # what start-up built lives as long as the process: out of every later collection
            gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])

    def handler(self, module: str, function: str) -> Callable:
        """The handler `module.function`, once `start` has loaded it."""
        if self._handlers is None:
            self.start()
        return self._handlers[(module, function)]

    def start_tcp(self, host: str, port: int, listening: Listening | None = None) -> None:
        """pygls' `start_tcp` (2.1), which also tells `listening` where it listens once its sockets
        are bound: with port 0 the system picks the port, and only then can anyone learn which."""
        self._stop_event = stop = threading.Event()  # what pygls' `shutdown` sets and closes
        exit_code: list[int | str | None] = []

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.protocol.set_writer(writer)  # type: ignore[arg-type]
            try:
                await run_async(stop_event=stop, reader=reader, protocol=self.protocol, logger=log,
                                error_handler=self.report_server_error)
            except SystemExit as e:
                # pygls' `exit` handler calls sys.exit inside this connection's task, which asyncio
                # would print as an unhandled error: the server closes, then exits with that code
                exit_code.append(e.code)
            self.shutdown()

        async def listen() -> None:
            self._server = server = await asyncio.start_server(connection, host, port)
            bound = [sock.getsockname()[:2] for sock in server.sockets]
            log.info("serving on %s", bound)
            if listening is not None:
                listening(bound)
            async with server:
                await server.serve_forever()

        try:
            asyncio.run(listen())
        except asyncio.CancelledError:  # serve_forever, once `shutdown` closed the server
            log.debug("the TCP server was closed")
        if exit_code:  # 0 after `shutdown`, 1 without (the LSP's rule, pygls' code)
            sys.exit(exit_code[0])

    def show(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def log(self, message: str, kind: types.MessageType = types.MessageType.Log) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=message))

    def publish_findings(self, doc: TextDocument) -> None:
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=doc.uri, diagnostics=self.findings.diagnostics(doc), version=doc.version)
        )


def _deferred(module: str, function: str, is_async: bool) -> Callable:
    """What pygls calls for `module.function` (a coroutine function when that is one): the
    handler itself, looked up when the message arrives."""
    if is_async:
        async def handler(ls, *args):
            return await ls.handler(module, function)(ls, *args)
    else:
        def handler(ls, *args):
            return ls.handler(module, function)(ls, *args)
    handler.__name__ = handler.__qualname__ = function
    return handler  # `ls` unannotated: pygls resolves a command's annotations when it is called


def _initialize(ls: HybridLanguageServer, params: types.InitializeParams) -> None:
    ls.initialize_params = params  # `start` builds the engine from it, once this is answered


def _initialized(ls: HybridLanguageServer, params: types.InitializedParams) -> None:
    ls.start()


async def _shutdown(ls: HybridLanguageServer, params) -> None:
    for task in list(ls.inline_tasks.values()):
        task.cancel()
    if ls.engine is not None:
        await ls.engine.aclose()  # shuts the observers down too: telemetry flushes, may take seconds


def build_server(engine_factory: EngineFactory | None = None, settings: "Settings | None" = None) -> HybridLanguageServer:
    """A server whose engine is made by `engine_factory(settings)` (default `Engine`) once
    `initialize` is answered. Without `settings`, they are loaded then from the files and
    environment (see `hybridlsp.config`)."""
    ls = HybridLanguageServer(engine_factory, settings)
    ls.feature(types.INITIALIZE)(_initialize)
    ls.feature(types.INITIALIZED)(_initialized)
    ls.feature(types.SHUTDOWN)(_shutdown)
    for method, (options, module, function, is_async) in FEATURES.items():
        ls.feature(method, options)(_deferred(module, function, is_async))
    for command, (module, function, is_async) in COMMANDS.items():
        ls.command(command)(_deferred(module, function, is_async))
    return ls


def _claim_stdout():
    """Keep file descriptor 1 for the protocol alone: the protocol writes to a duplicate, and fd 1
    (where native libraries such as llama.cpp may print) and `sys.stdout` now go to stderr."""
    sys.stdout.flush()
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol_out


def serve(
    transport: str = "stdio",
    host: str = "127.0.0.1",
    port: int | None = None,
    settings: "Settings | None" = None,
    engine_factory: EngineFactory | None = None,
    listening: Listening | None = None,
) -> None:
    """Run the server until the client exits: over stdio, or as a TCP server on host:port (port 0:
    one the system picks), telling `listening` where once it listens."""
    ls = build_server(engine_factory=engine_factory, settings=settings)
    ls.tune_gc = True
    gc.set_threshold(GC_START_THRESHOLD, *gc.get_threshold()[1:])
    if transport == "stdio":
        serve_stdio(ls, sys.stdin.buffer, _claim_stdout())
    elif transport == "tcp":
        if port is None:
            raise ValueError("the tcp transport needs a port")
        ls.start_tcp(host, port, listening)
    else:
        raise ValueError(f"unknown transport {transport!r}; expected 'stdio' or 'tcp'")
