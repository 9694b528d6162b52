"""`textDocument/codeAction` (cheap: titles preview the routing decision, no model is called),
`codeAction/resolve` (runs the engine) and the `hybridlsp.run` command for clients that cannot
resolve. Where the answer goes is the action's `shown_as`:

- inserted (complete): an edit inserting it at the end of the selection / the cursor;
- document (explain): markdown in a result document shown with `window/showDocument`, else a message;
- diagnostics (review): diagnostics (source `hybridlsp`) with quick fixes where the model proposed one;
- commit buffer (commit message): inserted at the top of a `gitcommit` buffer (COMMIT_EDITMSG), else
  as a document.
"""

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.uris import from_fs_path
from pygls.workspace import TextDocument

from ..actions import Shown, get_action
from ..config import data_dir
from ..request import RunResult
from ..errors import HybridError
from ..routing.explain import estimate_lines, probabilities_by_action
from .convert import (
    DOCUMENT_ACTIONS,
    LABELS,
    Subject,
    range_to_json,
    readable_document,
    result_to_json,
    run_request,
    title,
    where,
)
from .methods import KIND_PREFIX, RUN_COMMAND
from .run import request_from_params, workspace_for
from .running import run_engine, server_progress_token

if TYPE_CHECKING:
    from .server import HybridLanguageServer

logger = logging.getLogger(__name__)

CLIENT_REPLY_TIMEOUT_S = 10.0  # window/showDocument, workspace/applyEdit

__all__ = ["code_action", "resolve_code_action", "run_command"]



def _kind(action: str) -> str:
    return f"{KIND_PREFIX}.{action}"


def _wanted(kind: str, only) -> bool:
    return not only or any(o == "" or kind == o or kind.startswith(f"{o}.") for o in only)


def _can_resolve(ls: "HybridLanguageServer") -> bool:
    ca = ls.client_capabilities.text_document and ls.client_capabilities.text_document.code_action
    return bool(ca and ca.resolve_support and "edit" in ca.resolve_support.properties)


def _can_disable(ls: "HybridLanguageServer") -> bool:
    ca = ls.client_capabilities.text_document and ls.client_capabilities.text_document.code_action
    return bool(ca and ca.disabled_support)


def code_action(ls: "HybridLanguageServer", params: types.CodeActionParams) -> list[types.CodeAction]:
    """Quick fixes from the last review, then the four actions titled with their decision."""
    if ls.engine is None:
        return []
    doc, why = readable_document(ls.workspace, params.text_document.uri)
    if doc is None:  # neither open nor readable on disk: nothing to offer
        logger.info("codeAction: %s", why)
        return []
    lines = doc.lines
    only = params.context.only
    out = [a for a in ls.findings.quick_fixes(doc, params.range) if _wanted(a.kind, only)]
    workspace = workspace_for(ls, doc.path or "")
    resolve = _can_resolve(ls)
    estimates: dict[str, dict[str, str]] = {}  # text -> action -> the cold-start p, shown in each title
    for action in DOCUMENT_ACTIONS:
        kind = _kind(action)
        if not _wanted(kind, only):
            continue
        req, _ = run_request(doc, action, params.range, lines=lines, workspace=workspace)
        if req.text not in estimates:  # the actions mostly share their text: its features once
            estimates[req.text] = probabilities_by_action(req.text, DOCUMENT_ACTIONS)
        try:
            name, disabled = title(action, ls.engine.preview(req), estimates[req.text].get(action, "")), None
        except HybridError as e:
            if not _can_disable(ls):
                continue
            name, disabled = f"{LABELS[action]} - unavailable", types.CodeActionDisabled(reason=str(e))
        # `data` has the shape of `hybridlsp/run` params: resolve and the command read it as such
        data = {"action": action, "textDocument": {"uri": doc.uri}, "range": range_to_json(params.range)}
        command = None if resolve else types.Command(title=name, command=RUN_COMMAND, arguments=[data])
        out.append(types.CodeAction(title=name, kind=kind, data=data, disabled=disabled, command=command))
    return out


async def resolve_code_action(ls: "HybridLanguageServer", action: types.CodeAction) -> types.CodeAction:
    """Run the action's model call; an async request handler, so `$/cancelRequest` stops it."""
    data = action.data
    if not isinstance(data, dict) or data.get("action") not in DOCUMENT_ACTIONS:
        return action
    _, _, action.edit = await _perform(ls, data)
    return action


async def run_command(ls, *args) -> dict | None:
    """`hybridlsp.run` (code action data as its one argument), for clients without resolve:
    the edit goes through `workspace/applyEdit`; returns what `hybridlsp/run` would.
    (pygls resolves a command's annotations at call time: `ls` stays unannotated.)"""
    # pygls would keep a command running after `$/cancelRequest`; the protocol cancels this task
    msg_id = ls.protocol.msg_id
    if msg_id is not None:
        ls.command_tasks[msg_id] = asyncio.current_task()
    try:
        action, result, edit = await _perform(ls, args[0] if args else None)
        if edit is not None:
            try:
                await asyncio.wait_for(
                    ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label="hybridlsp")),
                    CLIENT_REPLY_TIMEOUT_S,
                )
            except asyncio.TimeoutError:
                logger.warning("the client did not answer workspace/applyEdit within %.0f s", CLIENT_REPLY_TIMEOUT_S)
        return None if result is None else result_to_json(result, action)
    finally:
        ls.command_tasks.pop(msg_id, None)


async def _perform(ls: "HybridLanguageServer", params) -> tuple[str, RunResult | None, types.WorkspaceEdit | None]:
    """Run the engine with a server-created progress token, then deliver the answer."""
    req, doc, subject, _ = request_from_params(ls, params)
    label = LABELS[req.action]
    token = await server_progress_token(ls)
    try:
        result = await run_engine(ls, req, token=token, title=f"hybridlsp: {label}")
    except HybridError as e:
        ls.show(f"hybridlsp: {label} failed: {e}", types.MessageType.Error)
        return req.action, None, None
    return req.action, result, await _deliver(ls, req.action, doc, subject, result)


async def _deliver(ls: "HybridLanguageServer", action: str, doc: TextDocument | None, subject: Subject | None,
                   result: RunResult):
    if doc is None:  # a commit message run on the workspace alone: nowhere to put it but a message
        ls.show(f"hybridlsp: {LABELS[action]}: {result.text}", types.MessageType.Info)
        return None
    shown_as = get_action(action).shown_as
    if shown_as is Shown.INSERTED:
        return _insert(doc.uri, subject.insert_at, result.text)
    if shown_as is Shown.DIAGNOSTICS:
        ls.findings.replace(doc.uri, result.findings)
        ls.publish_findings(doc)
        if not result.findings:
            ls.show(f"hybridlsp: {LABELS[action]} found nothing ({_answered_by(result)})", types.MessageType.Info)
        return None
    if shown_as is Shown.COMMIT_BUFFER and _is_gitcommit(doc):
        return _insert(doc.uri, types.Position(0, 0), result.text.strip() + "\n")
    await _show_result(ls, action, doc, subject, result)
    return None


def _insert(uri: str, at: types.Position, text: str) -> types.WorkspaceEdit:
    edit = types.TextEdit(range=types.Range(start=at, end=at), new_text=text)
    return types.WorkspaceEdit(changes={uri: [edit]})


def _is_gitcommit(doc: TextDocument) -> bool:
    return doc.language_id == "gitcommit" or doc.uri.endswith("COMMIT_EDITMSG")


def _answered_by(result: RunResult) -> str:
    return f"{where(result.decision, result.tier)} {result.backend} {result.model}"


def _result_markdown(action: str, doc: TextDocument, subject: Subject, result: RunResult,
                     estimate: list[str] | None = None) -> str:
    name = Path(doc.path).name if doc.path else doc.uri
    u = result.usage
    why = "; ".join([*result.decision.reasons, *(estimate or ())])
    footer = (
        f"*{_answered_by(result)} (tier {result.tier}) - {u.input_tokens:,} in / {u.output_tokens:,} out tokens"
        f" - ${u.cost_usd:.4f} (all-cloud ${u.baseline_cost_usd:.4f}) - request {result.request_id}*"
        + (f"\n\n*routed because {why}*" if why else "")
    )
    return f"# {LABELS[action]}: {name} lines {subject.first + 1}-{subject.last + 1}\n\n{result.text.strip()}\n\n---\n{footer}\n"


async def _show_result(ls: "HybridLanguageServer", action: str, doc: TextDocument, subject: Subject, result: RunResult):
    """A markdown result document when the client can show one, else a message."""
    window = ls.client_capabilities.window
    if window is not None and window.show_document is not None and window.show_document.support:
        path = data_dir() / "results" / f"{action}-{result.request_id}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        estimate = estimate_lines(subject.text, action, ls.engine.settings)
        path.write_text(_result_markdown(action, doc, subject, result, estimate), encoding="utf-8")
        try:  # a client that never answers must not hold the request forever
            shown = await asyncio.wait_for(
                ls.window_show_document_async(types.ShowDocumentParams(uri=from_fs_path(str(path)), take_focus=True)),
                CLIENT_REPLY_TIMEOUT_S,
            )
        except asyncio.TimeoutError:
            shown = None
        if shown is not None and shown.success:
            return
    ls.show(f"{LABELS[action]} ({_answered_by(result)}):\n{result.text.strip()}", types.MessageType.Info)
