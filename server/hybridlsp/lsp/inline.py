"""`textDocument/inlineCompletion` (LSP 3.18): ghost text from tier 1, debounced, and a newer
request for the same document cancels the one still waiting or running."""

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from ..errors import HybridError
from .convert import readable_document, run_request
from .run import workspace_for

if TYPE_CHECKING:
    from .server import HybridLanguageServer

__all__ = ["inline_completion", "DEBOUNCE_S"]

logger = logging.getLogger(__name__)

DEBOUNCE_S = 0.15
_EMPTY = types.InlineCompletionList(items=[])


async def inline_completion(
    ls: "HybridLanguageServer", params: types.InlineCompletionParams
) -> types.InlineCompletionList:
    uri = params.text_document.uri
    task = asyncio.current_task()
    stale = ls.inline_tasks.get(uri)
    if stale is not None and not stale.done():
        stale.cancel()
    ls.inline_tasks[uri] = task
    try:
        await asyncio.sleep(DEBOUNCE_S)
        if ls.engine is None:
            return _EMPTY
        doc, why = readable_document(ls.workspace, uri)
        if doc is None:
            logger.info("inline completion: %s", why)
            return _EMPTY
        at = params.position
        req, _ = run_request(
            doc, "complete", types.Range(start=at, end=at), tier=1, workspace=workspace_for(ls, doc.path or "")
        )
        req = dataclasses.replace(req, local_only=True)  # inline completion never reaches the cloud
        try:
            result = await ls.engine.run(req)
        except HybridError as e:
            # no suggestion, and why in the output log (a popup per keystroke would be noise)
            logger.info("inline completion: %s", e)
            ls.log(f"hybridlsp: inline completion failed: {e}", types.MessageType.Warning)
            return _EMPTY
    finally:
        if ls.inline_tasks.get(uri) is task:
            del ls.inline_tasks[uri]
    if not result.text.strip():
        return _EMPTY
    item = types.InlineCompletionItem(insert_text=result.text, range=types.Range(start=at, end=at))
    return types.InlineCompletionList(items=[item])
