"""Context helpers with no LSP in them: git diffs, token counts, secret scanning, syntax checks.

All of it blocks (git, tiktoken, tree-sitter); async callers run it off the event loop.
"""
# Names load on first use (PEP 562): GitPython and detect-secrets cost ~80 ms of start-up that
# a server answering `initialize` should not pay.

from .. import lazy_names

__all__ = [
    "COUNT_IS_ESTIMATE_NOTE",
    "EMPTY_TREE",
    "LANGUAGES",
    "DiffFile",
    "FileChange",
    "Redactor",
    "DiffSummary",
    "GitContext",
    "SecretHit",
    "branch_name",
    "budget_diff",
    "contains_secret",
    "contains_secret_many",
    "count_tokens",
    "count_tokens_many",
    "counts_and_heads",
    "describe_changes",
    "head_tokens",
    "file_diff",
    "find_secrets",
    "git_context",
    "language_for",
    "mentions_change",
    "parse_tree",
    "parses",
    "parses_in_context",
    "recent_subjects",
    "redact",
    "repo_for",
    "secret_spans",
    "staged_diff",
    "summarize_diff",
    "syntax_error_count",
    "truncate_to_tokens",
]

_WHERE = {
    "budget_diff": "chunks",
    "FileChange": "changes",
    "describe_changes": "changes",
    "mentions_change": "changes",
    "DiffFile": "diff",
    "DiffSummary": "diff",
    "summarize_diff": "diff",
    "EMPTY_TREE": "git",
    "GitContext": "git",
    "branch_name": "git",
    "file_diff": "git",
    "git_context": "git",
    "recent_subjects": "git",
    "repo_for": "git",
    "staged_diff": "git",
    "SecretHit": "secrets",
    "contains_secret": "secrets",
    "contains_secret_many": "secrets",
    "find_secrets": "secrets",
    "redact": "secrets",
    "secret_spans": "secrets",
    "Redactor": "redaction",
    "LANGUAGES": "syntax",
    "language_for": "syntax",
    "parse_tree": "syntax",
    "parses": "syntax",
    "parses_in_context": "syntax",
    "syntax_error_count": "syntax",
    "COUNT_IS_ESTIMATE_NOTE": "tokens",
    "count_tokens": "tokens",
    "count_tokens_many": "tokens",
    "counts_and_heads": "tokens",
    "head_tokens": "tokens",
    "truncate_to_tokens": "tokens",
}


__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)
