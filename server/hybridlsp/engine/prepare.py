"""The prepare stage: a `RunRequest` made into what its action needs - the text without any tier
flag, document slices, git context - and the messages that will be sent.

Blocking (GitPython, tiktoken): the engine runs `prepare` in a worker thread when the action
reads git or the document is big.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..actions.base import ActionContext
from ..backends.base import Message
from ..request import RunRequest
from ..routing import parse_flag
from ..routing.types import GitSummary

__all__ = ["Prepared", "encodable", "prepare", "sent_text"]

PREFIX_LINES = 60  # completion context before the cursor
SUFFIX_LINES = 20

# Lone UTF-16 surrogates: an editor may send them (a JSON "\udc80" escape), and Python makes them of
# undecodable bytes on stdin and in file names. No backend, and no ledger hash, can encode them.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Prepared:
    context: ActionContext
    messages: tuple[Message, ...]
    git: GitSummary = GitSummary()
    notes: tuple[str, ...] = ()
    diff: object | None = None  # context.diff.DiffSummary of the staged diff, for condensing
    # what is sent, as one text: what the protect stage counts and scans
    sent: str = field(default="", repr=False)


def encodable(req: RunRequest) -> RunRequest:
    """`req` with every lone surrogate replaced by U+FFFD."""
    fields = {}
    for name in ("text", "document", "prompt", "path", "workspace"):
        value = getattr(req, name)
        if value and _SURROGATE_RE.search(value):
            fields[name] = _SURROGATE_RE.sub("\ufffd", value)
    return replace(req, **fields) if fields else req


def _slices(req: RunRequest) -> tuple[str, str]:
    if req.document is None:
        return "", ""
    lines = req.document.splitlines(keepends=True)
    before = lines[max(0, req.start_line - PREFIX_LINES): req.start_line]
    after = lines[req.end_line + 1: req.end_line + 1 + SUFFIX_LINES]
    if req.end_char is not None and req.end_line < len(lines):
        # the rest of the cursor's line belongs after the completion, not nowhere
        after.insert(0, lines[req.end_line][req.end_char:])
    return "".join(before), "".join(after)


def sent_text(messages) -> str:
    return "\n".join(m.content for m in messages)


def prepare(req: RunRequest, action) -> Prepared:
    """The action's context and messages for `req` (an action module: see `actions.base.Action`)."""
    prompt = parse_flag(req.prompt)[2]
    text = req.text
    # an ask's text is its prompt (the editor sends it as both): the flag goes from both, or it is
    # sent, and the prompt twice
    if action.prompt_in_text and (not req.prompt or req.text == req.prompt):
        text = parse_flag(req.text)[2]
    if not text and req.document is not None and action.reads_document:
        text = req.document
    prefix, suffix = _slices(req) if action.surroundings else ("", "")
    where = req.workspace or (str(Path(req.path).parent) if req.path else "")
    gathered = action.gather(where, req.path) if action.reads_git else None
    ctx = ActionContext(text=text, prompt=prompt, language=req.language, path=req.path, prefix=prefix,
                        suffix=suffix, start_line=req.start_line, **(gathered.fields if gathered else {}))
    messages = tuple(action.messages(ctx))
    if gathered is None:
        return Prepared(ctx, messages, sent=sent_text(messages))
    return Prepared(ctx, messages, gathered.git, gathered.notes, gathered.diff, sent=sent_text(messages))
