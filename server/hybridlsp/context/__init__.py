"""Context helpers with no LSP in them: git diffs, token counts, secret scanning, syntax checks.

All of it blocks (git, tiktoken, tree-sitter); async callers run it off the event loop.
"""

from .chunks import budget_diff
from .diff import DiffFile, DiffSummary, summarize_diff
from .git import (
    EMPTY_TREE,
    GitContext,
    branch_name,
    file_diff,
    git_context,
    recent_subjects,
    repo_for,
    staged_diff,
)
from .secrets import SecretHit, contains_secret, find_secrets, redact
from .syntax import LANGUAGES, language_for, parses, parses_in_context, syntax_error_count
from .tokens import COUNT_IS_ESTIMATE_NOTE, count_tokens, count_tokens_many, truncate_to_tokens

__all__ = [
    "COUNT_IS_ESTIMATE_NOTE",
    "EMPTY_TREE",
    "LANGUAGES",
    "DiffFile",
    "DiffSummary",
    "GitContext",
    "SecretHit",
    "branch_name",
    "budget_diff",
    "contains_secret",
    "count_tokens",
    "count_tokens_many",
    "file_diff",
    "find_secrets",
    "git_context",
    "language_for",
    "parses",
    "parses_in_context",
    "recent_subjects",
    "redact",
    "repo_for",
    "staged_diff",
    "summarize_diff",
    "syntax_error_count",
    "truncate_to_tokens",
]
