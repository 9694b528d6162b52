"""What every action shares: its context, the prompt shape, and the common answer checks.

Prompts are written for small local models, as the article advises: a direct instruction, an
explicit output format, a constrained scope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from ..backends.base import Message
from ..errors import ValidationFailed
from ..request import Finding
from ..routing.types import GitSummary

__all__ = ["ActionContext", "Action", "Gathered", "Shown", "SmallPrompt", "plain", "sanitize", "StreamSanitizer",
           "strip_fences", "check_common", "REFUSAL_RE"]


class Shown(StrEnum):
    """Where an editor puts an action's answer (`Action.shown_as`); `lsp/` turns each into LSP calls."""

    INSERTED = "inserted"  # an edit inserting it where the subject ends (the cursor)
    DIAGNOSTICS = "diagnostics"  # its findings, as diagnostics with quick fixes
    COMMIT_BUFFER = "commit-buffer"  # at the top of a commit message buffer; anywhere else as a document
    DOCUMENT = "document"  # a result document, else a message


@dataclass(frozen=True)
class ActionContext:
    text: str = ""  # the selection or enclosing function, or the prompt for `ask`
    prompt: str = ""  # an extra instruction from the user
    language: str = ""
    path: str = ""
    prefix: str = ""  # document text before the selection (already trimmed to a budget)
    suffix: str = ""  # document text after the selection (already trimmed)
    start_line: int = 0  # 0-based document line of the selection's first line
    file_diff: str = ""  # the file's diff against HEAD
    staged_diff: str = ""  # the staged diff (already budgeted), for commit messages
    recent_subjects: tuple[str, ...] = ()
    branch: str = ""
    omitted: tuple[str, ...] = field(default=())  # what the git context left out, and why


@dataclass(frozen=True)
class SmallPrompt:
    """How an action asks the embedded 135M model: a short few-shot prompt of its own, a GBNF
    grammar its output must follow (llama.cpp enforces it token by token), and an output budget."""

    messages: list[Message]
    grammar: str | None = None
    max_tokens: int | None = None
    temperature: float = 0.0  # greedy: the same change gets the same message
    # leading messages that are the action's own text, the same for every request (no user text):
    # the embedded backend keeps the model's state after them (ChatRequest.fixed_messages)
    fixed_messages: int = 0


@dataclass(frozen=True)
class Gathered:
    """What an action read from git: fields of its `ActionContext`, the summary the policy reads,
    notes for the person, and the staged diff (a `context.diff.DiffSummary`) when it can be condensed."""

    fields: dict = field(default_factory=dict)
    git: GitSummary = GitSummary()
    notes: tuple[str, ...] = ()
    diff: object | None = None


class Action(Protocol):
    """What an action module declares; the engine reads these and never an action's name.

    Optional, for the embedded tier: `small_prompt(ctx) -> SmallPrompt` (its own prompt and
    grammar; without it the embedded tier gets `messages`) with `small_validate(answer, ctx)` (its
    check), and `floor(ctx) -> str | None` (an answer built without a model, given when the
    embedded model's answer fails its check)."""

    name: str
    label: str  # how editors and messages name it ("Commit message")
    json_schema: dict | None
    cacheable: bool
    max_tokens: int | None  # output budget for this action; the tier's cap applies too
    think: bool  # whether a model that can reason before answering should (ChatRequest.think)
    reads_document: bool  # with no selection, the whole document is the subject
    surroundings: bool  # the document before and after the selection goes with it
    prompt_in_text: bool  # the text is the prompt, and may start with a tier flag
    reads_git: bool  # `gather` reads the repository (blocking: the engine runs it off the loop)
    condensable: bool  # a context too big for its tier is summarized first (`with_summary`)
    continues_at_cursor: bool  # the answer goes on from the cursor: the subject stops there
    input_name: str  # what the policy's reasons call what is sent ("input", "staged diff")
    shown_as: Shown  # where an editor puts the answer
    streamed: bool  # the command line prints the answer as it arrives, before its check ends

    def gather(self, where: str, path: str) -> Gathered:
        """Read git for a request in folder `where` on file `path` (only when `reads_git`)."""
        ...

    def messages(self, ctx: ActionContext) -> list[Message]: ...

    def validate(self, answer: str, ctx: ActionContext) -> str:
        """Return the cleaned answer or raise ValidationFailed."""
        ...

    def present(self, validated: str) -> tuple[str, list[Finding]]:
        """The validated answer as shown, and the findings it carries for diagnostics."""
        ...


def plain(validated: str) -> tuple[str, list[Finding]]:
    """`present` of an action whose answer is shown as it is, with no findings."""
    return validated, []


def no_git(where: str, path: str) -> Gathered:
    """`gather` of an action that reads no git."""
    return Gathered()


# ANSI CSI/OSC sequences and C0/C1 controls except tab and newline: model output is data, and it
# reaches terminals and commit messages.
_ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")
_CTRL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize(text: str) -> str:
    text = text.replace("\r\n", "\n")
    return _CTRL_RE.sub("", _ANSI_RE.sub("", text))


# The start of an escape sequence that the next delta may complete: ESC, a CSI without its final
# byte, an OSC without its terminator (or with only the ESC of "ESC \\").
_OPEN_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?)?\Z")


class StreamSanitizer:
    """`sanitize` for streamed deltas: a sequence split across two deltas is held back until it
    is complete, so no half of one reaches a terminal or an editor's progress line."""

    HOLD_MAX = 512  # longer than this and still open: not a sequence worth waiting for

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, delta: str) -> str:
        text = self._pending + delta
        self._pending = ""
        m = _OPEN_RE.search(text)
        if m and len(text) - m.start() <= self.HOLD_MAX:
            text, self._pending = text[: m.start()], text[m.start() :]
        return sanitize(text)

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return sanitize(text)

    def reset(self) -> None:
        """A fallback restarts the answer: what was held belongs to the discarded one."""
        self._pending = ""


_FENCE_RE = re.compile(r"^\s*```[\w+-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)


def strip_fences(text: str) -> str:
    m = _FENCE_RE.match(text)
    return m.group(1) if m else text


REFUSAL_RE = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry, (but )?i|i cannot|i can'?t|i'?m unable|i am unable|as an ai\b"
    r"|i'?m not sure|i am not sure|i don'?t know|i do not know)",
    re.IGNORECASE,
)


def check_common(action: str, answer: str, min_chars: int = 1) -> str:
    text = sanitize(answer).strip()
    if not text:
        raise ValidationFailed(action, "empty answer")
    if len(text) < min_chars:
        raise ValidationFailed(action, f"answer too short ({len(text)} < {min_chars} characters)")
    if REFUSAL_RE.match(text):
        raise ValidationFailed(action, "the model refused or was not sure")
    return text
