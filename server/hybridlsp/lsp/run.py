"""The custom request `hybridlsp/run` and the `hybridlsp.feedback` command.

`hybridlsp/run` params: `{action, textDocument?: {uri}, range?, prompt?, tier?, workDoneToken?}`
(`textDocument` may be left out for `ask` and `commit-message`; without `range` the whole document is the subject).
Result: `{text, decision: {tier, backend, model, reasons}, usage: {input_tokens, output_tokens,
cost_usd, baseline_cost_usd}, fallbacks: [{from, to, reason}], request_id, answered_by, latency_ms,
ttft_ms, cached, notes}` plus `findings` for `review`. With a `workDoneToken` the answer streams as
`$/progress` reports whose `message` is the delta since the previous report.
"""

import os
from typing import TYPE_CHECKING, Any

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from ..actions import get_action
from ..request import RunRequest
from ..errors import AllTiersFailed, HybridError
from ..routing.types import ACTIONS
from .convert import LABELS, Subject, range_from_json, readable_document, result_to_json, run_request
from .running import run_engine

if TYPE_CHECKING:
    from .server import HybridLanguageServer

__all__ = ["run", "feedback", "request_from_params", "workspace_for", "VERDICTS"]

VERDICTS = ("good", "bad")
REQUEST_FAILED = -32803  # LSPErrorCodes.RequestFailed


def _request_failed(err: HybridError) -> JsonRpcException:
    data: dict = {"error": type(err).__name__}
    if isinstance(err, AllTiersFailed):  # each tier and why it failed, for a client to list
        data["hops"] = [{"tier": who, "why": why} for who, why in err.hops]
    return JsonRpcException(message=str(err), code=REQUEST_FAILED, data=data)


def workspace_for(ls: "HybridLanguageServer", path: str) -> str:
    """The workspace folder holding `path` (the deepest one), else the root."""
    best = ""
    for folder in ls.workspace.folders.values():
        root = to_fs_path(folder.uri)
        if root and path.startswith(root.rstrip("/") + "/") and len(root) > len(best):
            best = root
    return best or ls.workspace.root_path or ""


def request_from_params(
    ls: "HybridLanguageServer", params: Any
) -> tuple[RunRequest, TextDocument | None, Subject | None, dict]:
    """Validate `hybridlsp/run`-shaped params (also code action data) into an engine request."""
    p = {} if params is None else params
    if not isinstance(p, dict):
        raise JsonRpcInvalidParams("hybridlsp/run expects an object of params")
    action = p.get("action")
    if action not in ACTIONS:
        raise JsonRpcInvalidParams(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    tier = p.get("tier")
    if tier is not None and tier not in (1, 2, 3):
        raise JsonRpcInvalidParams(f"tier must be 1, 2 or 3, not {tier!r}")
    prompt = p.get("prompt") or ""
    if not isinstance(prompt, str):
        raise JsonRpcInvalidParams("prompt must be a string")
    text_document = p.get("textDocument") or {}
    uri = text_document.get("uri") if isinstance(text_document, dict) else None
    if uri is not None and not isinstance(uri, str) or (text_document and uri is None):
        raise JsonRpcInvalidParams("textDocument must be {uri: string}")
    a = get_action(action)
    if uri is None and a.reads_document:  # the others (ask, commit-message) can run on the workspace alone
        raise JsonRpcInvalidParams(f"{action} needs textDocument.uri")
    if a.prompt_in_text and not prompt:
        raise JsonRpcInvalidParams(f"{action} needs a prompt")
    doc = None
    if uri:
        doc, why = readable_document(ls.workspace, uri)
        if doc is None:
            raise JsonRpcInvalidParams(why)
    try:
        rng = range_from_json(p.get("range"))
    except (KeyError, TypeError, ValueError) as e:
        raise JsonRpcInvalidParams(f"range is not an LSP range: {e}") from None
    if doc is not None and doc.path and not os.path.exists(doc.path) and doc.version is None:
        raise JsonRpcInvalidParams(f"{uri} is neither open nor on disk")
    workspace = workspace_for(ls, doc.path or "") if doc is not None else (ls.workspace.root_path or "")
    req, subject = run_request(doc, action, rng, prompt=prompt, tier=tier, workspace=workspace)
    return req, doc, subject, p


async def run(ls: "HybridLanguageServer", params) -> dict:
    """`hybridlsp/run`: an async request handler, so `$/cancelRequest` cancels the engine task."""
    req, _, _, p = request_from_params(ls, params)
    try:
        result = await run_engine(ls, req, token=p.get("workDoneToken"), title=f"hybridlsp: {LABELS[req.action]}")
    except HybridError as e:
        raise _request_failed(e) from None
    # review findings come back in the result; the client shows them (the editor clients set their
    # own diagnostics), while the Review code action publishes them as the server's diagnostics
    return result_to_json(result, req.action)


async def feedback(ls, *args) -> dict:
    """`hybridlsp.feedback` `{request_id, verdict: "good"|"bad", note?}`: recorded in the ledger.
    (pygls resolves a command's annotations at call time: `ls` stays unannotated.)"""
    p = args[0] if len(args) == 1 else None
    if not isinstance(p, dict) or not p.get("request_id") or p.get("verdict") not in VERDICTS:
        raise JsonRpcInvalidParams('hybridlsp.feedback expects one argument {request_id, verdict: "good"|"bad", note?}')
    try:
        await ls.engine.feedback(str(p["request_id"]), p["verdict"], str(p.get("note") or ""))
    except HybridError as e:
        raise _request_failed(e) from None
    return {"request_id": p["request_id"], "verdict": p["verdict"]}
