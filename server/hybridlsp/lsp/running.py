"""Running the engine from a request handler: streamed text to `$/progress`, cancellation in.

A run is cancelled three ways, and each cancels the handler's task, which cancels `engine.run`,
which closes the upstream stream:
- `$/cancelRequest` of an async request (pygls cancels the task itself);
- `$/cancelRequest` of a `workspace/executeCommand` (pygls only drops the response, so the
  server's protocol class cancels the task registered in `command_tasks`);
- `window/workDoneProgress/cancel` of the run's progress token (a callback on pygls' token future).

Progress reports carry the *delta*: each `message` is the text streamed since the previous
report, so a client appends them to rebuild the answer (the first at once, then at most one report
every 20 ms). A report with an empty `message` means
a fallback restarted the answer on another tier: discard what was appended so far (a
`window/showMessage` says why, and which tier answers instead). The streamed text is the model's
raw output; the request's result carries the final, validated answer.
"""

import asyncio
import logging
import threading
import uuid
from concurrent.futures import Future
from typing import TYPE_CHECKING

from lsprotocol import types

from ..request import RunRequest, RunResult

if TYPE_CHECKING:
    from .server import HybridLanguageServer

__all__ = ["run_engine", "server_progress_token", "send_progress"]

logger = logging.getLogger(__name__)

COALESCE_S = 0.02  # at most one progress report per 20 ms after the first
CONFIRM_TIMEOUT_S = 120.0  # a person deciding; no answer by then means no


def send_progress(ls: "HybridLanguageServer", token, value: dict) -> None:
    """`$/progress` with `value` (a WorkDoneProgressBegin/Report/End as JSON), the message pygls'
    `work_done_progress.begin/report/end` sends, key for key: without the lsprotocol objects and
    their conversion by cattrs, which cost about as much again as the sending, for every report."""
    ls.protocol.send_plain({"params": {"token": token, "value": value}, "method": types.PROGRESS, "jsonrpc": "2.0"})


async def server_progress_token(ls: "HybridLanguageServer") -> str | None:
    """Create a progress token for a run the client did not give one to (resolve, commands)."""
    window = ls.client_capabilities.window
    if window is None or not window.work_done_progress:
        return None
    token = f"hybridlsp-{uuid.uuid4()}"
    try:
        await ls.work_done_progress.create_async(token)
    except Exception as e:  # the client refused: run without progress
        logger.info("work done progress refused: %s", e)
        return None
    return token


async def _confirm(ls: "HybridLanguageServer", message: str) -> bool:
    """Ask before an unusually expensive cloud request; no answer means no."""
    send = types.MessageActionItem(title="Send")
    try:
        choice = await asyncio.wait_for(
            ls.window_show_message_request_async(
                types.ShowMessageRequestParams(type=types.MessageType.Warning, message=message,
                                               actions=[send, types.MessageActionItem(title="Use tier 2")])
            ),
            CONFIRM_TIMEOUT_S,
        )
    except Exception as e:  # no answer in time, or a client without showMessageRequest: keep the money
        logger.info("confirmation not possible: %s", e)
        return False
    return choice is not None and choice.title == send.title


def _say_budget(ls: "HybridLanguageServer", result: RunResult) -> None:
    if result.budget is None:
        return
    rose = ls.budget_watch.update(result.budget)
    if rose is not None:
        kind = types.MessageType.Warning if rose.level == "warn" else types.MessageType.Error
        ls.show(rose.message, kind)


async def _run(ls: "HybridLanguageServer", req: RunRequest, **kw) -> RunResult:
    result = await ls.engine.run(req, confirm=lambda m: _confirm(ls, m), **kw)
    _say_budget(ls, result)
    return result


async def run_engine(ls: "HybridLanguageServer", req: RunRequest, *, token=None, title: str = "hybridlsp") -> RunResult:
    """`engine.run` with its stream reported on `token` (when given), cancellable through it."""
    if token is None:
        return await _run(ls, req)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    progress = ls.work_done_progress
    # what `progress.begin` does: a future the client's window/workDoneProgress/cancel cancels
    cancelled_by_client = progress.tokens.setdefault(token, Future())
    send_progress(ls, token, {"title": title, "kind": "begin", "cancellable": True})

    def cancel_run(fut) -> None:
        if fut.cancelled() and task is not None:
            loop.call_soon_threadsafe(task.cancel)

    cancelled_by_client.add_done_callback(cancel_run)

    # The first delta goes out at once (time to first token); later ones are gathered into one
    # report every COALESCE_S, so a fast stream does not cost a notification per token.
    pending: list[str] = []
    flush_at: list[asyncio.TimerHandle] = []
    sent_first = False

    def flush() -> None:
        flush_at.clear()
        if pending:
            text = "".join(pending)
            pending.clear()
            send_progress(ls, token, {"kind": "report", "message": text})

    def report(delta: str) -> None:
        nonlocal sent_first
        if not sent_first:
            sent_first = True
            send_progress(ls, token, {"kind": "report", "message": delta})
            return
        pending.append(delta)
        if not flush_at:
            flush_at.append(loop.call_later(COALESCE_S, flush))

    def restart() -> None:
        nonlocal sent_first
        for handle in flush_at:
            handle.cancel()
        flush_at.clear()
        pending.clear()  # what was not sent yet belongs to the answer being discarded
        send_progress(ls, token, {"kind": "report", "message": ""})
        sent_first = False

    loop_thread = threading.get_ident()

    def in_loop(fn, *args) -> None:
        # the embedded backend may stream from a worker thread. Told by the thread, not by
        # `asyncio.get_running_loop()`, which costs a getpid() system call in Python 3.11, a token.
        if threading.get_ident() == loop_thread:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def on_text(delta: str) -> None:
        in_loop(report, delta)

    def on_reset(reason: str) -> None:
        # the progress text is cleared; the person reading it is told why, and who answers now
        ls.show(f"hybridlsp: {reason}", types.MessageType.Info)
        in_loop(restart)

    outcome = "cancelled"
    try:
        result = await _run(ls, req, on_text=on_text, on_reset=on_reset)
        outcome = f"done: {result.backend} {result.model}"
        return result
    except Exception as e:
        outcome = f"failed: {e}"
        raise
    finally:
        for handle in flush_at:
            handle.cancel()
        flush()  # the tail of the stream, before the end of progress
        progress.tokens.pop(token, None)
        send_progress(ls, token, {"kind": "end", "message": outcome})
