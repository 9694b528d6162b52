"""Commit message: a subject line of at most 72 characters, then an optional body."""

from __future__ import annotations

import re

from dataclasses import replace

from ..backends.base import Message
from ..errors import NotARepository, NothingStaged, ValidationFailed
from ..routing.types import GitSummary
from .base import ActionContext, Gathered, check_common, plain, sanitize, strip_fences

name = "commit-message"
json_schema = None
cacheable = True
reads_document = False
surroundings = False
prompt_in_text = False
reads_git = True  # the staged diff, recent subjects, the branch
condensable = True  # a staged diff too big for its tier is summarized chunk by chunk first
present = plain
SUBJECT_MAX = 72

SYSTEM = "You write git commit messages. Output only the commit message, nothing else."

_PREFIX_RE = re.compile(r"^\s*(commit message|subject|message)\s*:\s*", re.IGNORECASE)
# Echoes of the prompt or the diff, and chatter, are not a subject line.
_NOT_A_SUBJECT_RE = re.compile(r"^(diff --git|index [0-9a-f]|@@|[-+]{3} |```|here is|here's|sure\b)", re.IGNORECASE)
_WORD_RE = re.compile(r"[A-Za-z]{3,}")
BODY_MAX_LINES = 12
max_tokens = 160


def gather(where: str, path: str) -> Gathered:
    """The staged diff of the repository holding `where`, recent subjects and the branch."""
    from ..context import git  # GitPython: ~80 ms to import, only once a commit message reads a repository

    repo = git.repo_for(where) if where else None
    if repo is None:
        raise NotARepository(where)
    summary = git.staged_diff(repo)
    if not summary.files:
        raise NothingStaged()
    omitted = tuple(f"{p} ({why})" for p, why in summary.omitted)
    notes = ("left out of the prompt: " + "; ".join(omitted),) if omitted else ()
    fields = dict(staged_diff=summary.kept_text, recent_subjects=tuple(git.recent_subjects(repo, 10)),
                  branch=git.branch_name(repo), omitted=omitted)
    git_summary = GitSummary(diff_tokens=summary.total_tokens, files_changed=summary.files_changed, staged=True)
    return Gathered(fields, git_summary, notes, summary)


def with_summary(ctx: ActionContext, summary: str) -> ActionContext:
    """The context with its staged diff replaced by a summary of it (see `engine.condense`)."""
    return replace(ctx, staged_diff="Summary of the changes (the full diff was too large):\n" + summary)


def messages(ctx: ActionContext) -> list[Message]:
    style = ""
    if ctx.recent_subjects:
        shown = "\n".join(f"- {s}" for s in ctx.recent_subjects[:8])
        style = f"\nFollow the style of this repository's recent subjects:\n{shown}\n"
    left_out = ""
    if ctx.omitted:
        left_out = "\nFiles left out of the diff: " + "; ".join(ctx.omitted[:10]) + "\n"
    user = (
        "Write a git commit message for the staged changes below.\n"
        f"Format: one subject line in the imperative mood, at most {SUBJECT_MAX} characters; "
        "then optionally a blank line and at most 3 short lines of body.\n"
        f"Output only the message.{style}{left_out}\n"
        f"Staged diff:\n{ctx.staged_diff}"
    )
    return [Message("system", SYSTEM), Message("user", user)]


def validate(answer: str, ctx: ActionContext) -> str:
    text = strip_fences(sanitize(answer)).strip().strip('"').strip("'").strip()
    text = _PREFIX_RE.sub("", text)
    text = check_common(name, text)
    lines = [ln.rstrip() for ln in text.splitlines()]
    subject = lines[0].strip().lstrip("#").strip()
    if not subject:
        raise ValidationFailed(name, "no subject line")
    if len(subject) > SUBJECT_MAX:
        raise ValidationFailed(name, f"subject is {len(subject)} characters, more than {SUBJECT_MAX}")
    if _NOT_A_SUBJECT_RE.match(subject) or not _WORD_RE.search(subject):
        raise ValidationFailed(name, f"{subject[:40]!r} is not a subject line")
    body = lines[1:]
    while body and not body[0].strip():
        body.pop(0)
    # git's convention: subject, blank line, body; drop comment lines git would strip anyway
    body = [ln for ln in body if not ln.startswith("#")]
    if len(body) > BODY_MAX_LINES:
        raise ValidationFailed(name, f"body has {len(body)} lines, more than {BODY_MAX_LINES}")
    return subject + ("\n\n" + "\n".join(body).strip() if body else "")
