"""Cheap syntax checks for model output, with the tree-sitter org's grammar wheels.

`parses(code, language)` checks a standalone snippet; `parses_in_context(...)` checks a completion
where it will be inserted, which is the right test for completions that start or end mid-statement.
Both return None when the language is unknown, so callers skip the check instead of rejecting.
"""

from __future__ import annotations

import importlib
import posixpath
import textwrap
import threading
from typing import Callable

import tree_sitter

__all__ = ["LANGUAGES", "language_for", "parse_tree", "parses", "parses_in_context", "syntax_error_count"]

# Our language name -> (grammar module, function returning the grammar pointer).
_GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),  # includes JSX
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
}
LANGUAGES = frozenset(_GRAMMARS)

_BY_LANGUAGE_ID = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "go": "go",
    "rust": "rust",
    "java": "java",
    "c": "c",
    "cpp": "cpp",
    "cuda-cpp": "cpp",
}

_BY_EXTENSION = {
    **dict.fromkeys([".py", ".pyi", ".pyw"], "python"),
    **dict.fromkeys([".js", ".mjs", ".cjs", ".jsx"], "javascript"),
    **dict.fromkeys([".ts", ".mts", ".cts"], "typescript"),
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    # .h is shared by C and C++; C is the safer guess because C++ parses most C, not the reverse.
    **dict.fromkeys([".c", ".h"], "c"),
    **dict.fromkeys([".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp", ".cu"], "cpp"),
}


def language_for(path: str = "", language_id: str = "") -> str | None:
    """Our language name for an LSP languageId or, failing that, a file extension; else None."""
    by_id = _BY_LANGUAGE_ID.get(language_id.lower())
    if by_id:
        return by_id
    ext = posixpath.splitext(path.replace("\\", "/"))[1].lower()
    return _BY_EXTENSION.get(ext)


_languages: dict[str, tree_sitter.Language] = {}
_languages_lock = threading.Lock()
# tree-sitter parsers keep mutable state, so each thread gets its own (they are cheap).
_local = threading.local()


def _parser(language: str) -> tree_sitter.Parser | None:
    if language not in _GRAMMARS:
        return None
    parsers: dict[str, tree_sitter.Parser] = _local.__dict__.setdefault("parsers", {})
    parser = parsers.get(language)
    if parser is None:
        with _languages_lock:
            lang = _languages.get(language)
            if lang is None:
                module, func = _GRAMMARS[language]
                grammar: Callable[[], object] = getattr(importlib.import_module(module), func)
                lang = _languages[language] = tree_sitter.Language(grammar())
        parser = parsers[language] = tree_sitter.Parser(lang)
    return parser


def parse_tree(code: str, language: str) -> tree_sitter.Tree | None:
    """The tree-sitter tree of `code`, errors and all; None for unknown languages."""
    parser = _parser(language)
    if parser is None:
        return None
    return parser.parse(code.encode("utf-8", errors="surrogatepass"))


def _error_starts(root: tree_sitter.Node) -> list[int]:
    """Start bytes of the ERROR and MISSING nodes under `root`."""
    # Only subtrees flagged has_error can hold them, so the walk stays small.
    starts, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            starts.append(node.start_byte)
        if node.has_error:
            stack.extend(node.children)
    return starts


def _errors(code: str, language: str) -> list[int] | None:
    parser = _parser(language)
    if parser is None:
        return None
    return _error_starts(parser.parse(code.encode("utf-8", errors="surrogatepass")).root_node)


def syntax_error_count(code: str, language: str) -> int | None:
    """Number of ERROR and MISSING nodes tree-sitter finds in `code`; None for unknown languages."""
    errors = _errors(code, language)
    return None if errors is None else len(errors)


def parses(code: str, language: str) -> bool | None:
    """True when `code` parses without errors as a standalone fragment; None if language unknown."""
    parser = _parser(language)
    if parser is None:
        return None
    if language == "python":
        # A body lifted out of a function keeps its indentation; at top level that is an error.
        code = textwrap.dedent(code)
    return not parser.parse(code.encode("utf-8", errors="surrogatepass")).root_node.has_error


def parses_in_context(prefix: str, completion: str, suffix: str, language: str) -> bool | None:
    """True when inserting `completion` between `prefix` and `suffix` adds no syntax errors.

    The document without the completion is usually broken at the cursor (the user is mid-line),
    so zero errors is not the bar. The completion passes when the document has no more errors
    with it than without, and none of them starts inside the inserted text: a completion that
    leaves a parenthesis open trades the cursor's error for its own, same count, and fails.
    """
    before = _errors(prefix + suffix, language)
    if before is None:
        return None
    after = _errors(prefix + completion + suffix, language) or []
    start = len(prefix.encode("utf-8", errors="surrogatepass"))
    end = start + len(completion.encode("utf-8", errors="surrogatepass"))
    return len(after) <= len(before) and not any(start <= at < end for at in after)
