"""Turn a RunRequest into what an action needs: document slices, git context, budgets.

Blocking (GitPython, tiktoken): the engine calls `build_context` in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .actions.base import ActionContext
from .errors import NotARepository, NothingStaged
from .routing.types import Decision, GitSummary

__all__ = ["Prepared", "build_context", "capacity", "diff_chunks", "with_diff", "NothingStaged", "NotARepository"]

PREFIX_LINES = 60  # completion context before the cursor
SUFFIX_LINES = 20
FILE_DIFF_TOKENS = 2000  # the file's own diff is context for review, not the subject
CHUNK_TOKENS = 1500  # per map step when condensing a huge staged diff; fits the embedded model too
MAX_CHUNKS = 8


@dataclass
class Prepared:
    context: ActionContext
    git: GitSummary = GitSummary()
    notes: list[str] = field(default_factory=list)
    diff: object | None = None  # context.git.DiffSummary of the staged diff, for condensing


def _slices(req, text: str) -> tuple[str, str]:
    if req.document is None:
        return "", ""
    lines = req.document.splitlines(keepends=True)
    before = lines[max(0, req.start_line - PREFIX_LINES): req.start_line]
    after = lines[req.end_line + 1: req.end_line + 1 + SUFFIX_LINES]
    if req.end_char is not None and req.end_line < len(lines):
        # the rest of the cursor's line belongs after the completion, not nowhere
        after.insert(0, lines[req.end_line][req.end_char:])
    return "".join(before), "".join(after)


def build_context(req, text: str, prompt: str, settings) -> Prepared:
    from .context import git as g
    from .context.tokens import truncate_to_tokens

    notes: list[str] = []
    if not text and req.document is not None and req.action in ("explain", "review", "complete"):
        text = req.document
    prefix, suffix = _slices(req, text) if req.action == "complete" else ("", "")
    where = req.workspace or (str(Path(req.path).parent) if req.path else "")
    # only review and commit-message read git: the others skip opening the repository
    repo = g.repo_for(where) if where and req.action in ("review", "commit-message") else None
    base = dict(text=text, prompt=prompt, language=req.language, path=req.path, prefix=prefix, suffix=suffix,
                start_line=req.start_line)

    if req.action == "commit-message":
        if repo is None:
            raise NotARepository(where)
        summary = g.staged_diff(repo)
        if not summary.files:
            raise NothingStaged()
        omitted = tuple(f"{p} ({why})" for p, why in summary.omitted)
        if omitted:
            notes.append("left out of the prompt: " + "; ".join(omitted))
        ctx = ActionContext(**base, staged_diff=summary.kept_text, recent_subjects=tuple(g.recent_subjects(repo, 10)),
                            branch=g.branch_name(repo), omitted=omitted)
        git = GitSummary(diff_tokens=summary.total_tokens, files_changed=summary.files_changed, staged=True)
        return Prepared(ctx, git, notes, summary)

    if req.action == "review" and repo is not None and req.path:
        summary = g.file_diff(repo, req.path)
        diff_text = truncate_to_tokens(summary.kept_text, FILE_DIFF_TOKENS) if summary.kept_text else ""
        ctx = ActionContext(**base, file_diff=diff_text)
        return Prepared(ctx, GitSummary(diff_tokens=summary.total_tokens, files_changed=summary.files_changed), notes)
    return Prepared(ActionContext(**base), GitSummary(), notes)


def capacity(decision: Decision, settings) -> int:
    """Input tokens the decided tier can take with room for its answer."""
    hop = decision.chain[0] if decision.chain else None
    if hop is None or hop.tier == 0:
        n_ctx, out = settings.embedded.n_ctx, settings.embedded.max_output_tokens
    else:
        ts = settings.tier(hop.tier)
        n_ctx, out = ts.num_ctx, ts.max_output_tokens
    return max(256, n_ctx - out - 256)


def diff_chunks(prepared: Prepared, settings) -> tuple[list[str], list[str]]:
    """Chunks of the staged diff for the map step, and the files left for a plain list."""
    from .context import git as g

    chunks = g.budget_diff(prepared.diff, CHUNK_TOKENS)
    kept = chunks[:MAX_CHUNKS]
    covered = "\n".join(kept)
    left = [f.path for f in prepared.diff.files if not f.omitted_reason and f.path not in covered]
    return kept, left


def with_diff(ctx: ActionContext, text: str) -> ActionContext:
    return replace(ctx, staged_diff="Summary of the changes (the full diff was too large):\n" + text)
