"""Pure text helpers for the language server: which lines a request is about.

`enclosing_block` finds the function (or class) around a line with an indentation heuristic:
cheap enough to run on every `textDocument/codeAction` of a 5,000-line file, and good enough
for Python, and for C-family, Go, Rust and JavaScript code laid out the usual way.
"""

from __future__ import annotations

import re
from typing import Sequence

__all__ = ["enclosing_block", "paragraph", "shift_spans"]

_MODIFIERS = r"(?:(?:export|default|pub(?:\([^)]*\))?|async|static|public|private|protected|override|unsafe|extern|inline|virtual|final|abstract)\s+)*"
_KEYWORD_DEF = re.compile(_MODIFIERS + r"(?:def|fn|func|function\*?|class|impl|interface|struct|trait|module|sub)\b")
_ARROW_DEF = re.compile(r"(?:(?:export|const|let|var)\s+)+[\w$]+\s*=\s*(?:async\s+)?(?:function\b|\([^)]*\)\s*=>|[\w$]+\s*=>)")
# C/Java/C++/C# style: `type name(args) {` or a return type and a name, brace maybe on the next line.
_C_DEF = re.compile(
    r"(?!(?:if|for|while|switch|catch|return|else|do|try|await|yield|new|throw|delete|case|sizeof)\b)(?:"
    r"(?:[\w$<>\[\],\*&:~]+\s+)+\**[\w$:~]+\s*\([^;]*\)\s*(?:const\s*)?(?:noexcept\s*)?(?:throws\s+[\w.,\s]+)?\{?\s*$"
    r"|[\w$]+\s*\([^;]*\)\s*\{\s*$)"
)
_CLOSER = re.compile(r"[}\])]|end\b")
_TRANSPARENT = re.compile(r"[}\]){#@]|end\b")  # lines at the margin that do not end a block
_INDENT_LANGUAGES = {"python", "coffeescript", "nim", "yaml"}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _is_def(stripped: str, indent_language: bool) -> bool:
    if _KEYWORD_DEF.match(stripped) or _ARROW_DEF.match(stripped):
        return True
    return not indent_language and _C_DEF.match(stripped) is not None


def _block_end(lines: Sequence[str], start: int) -> int:
    """Last line of the block that opens at `start`: deeper-indented lines, plus a closer at the same indent."""
    base = _indent(lines[start])
    end = start
    for j in range(start + 1, len(lines)):
        text = lines[j]
        stripped = text.strip()
        if not stripped:
            continue
        indent = _indent(text)
        if indent > base:
            end = j
            continue
        if stripped.startswith("#"):  # a comment or preprocessor line at the margin
            continue
        if indent == base and stripped.startswith("{"):  # brace on its own line
            end = j
            continue
        if indent == base and _CLOSER.match(stripped):
            end = j
            # `) -> int:` closes a multi-line Python signature, not the function
            if stripped.endswith(":") or stripped.endswith("{"):
                continue
        break
    return end


def enclosing_block(lines: Sequence[str], line: int, language: str = "", max_scan: int = 4000) -> tuple[int, int] | None:
    """(first, last) 0-based lines of the innermost function or class containing `line`, or None."""
    if not lines:
        return None
    line = min(max(line, 0), len(lines) - 1)
    indent_language = language in _INDENT_LANGUAGES
    # A def line qualifies only if nothing between it and `line` is indented less than it.
    lowest = _indent(lines[line]) if lines[line].strip() else 1 << 30
    for i in range(line, max(-1, line - max_scan), -1):
        text = lines[i]
        stripped = text.strip()
        if not stripped:
            continue
        indent = _indent(text)
        if indent > lowest:
            continue
        if _is_def(stripped, indent_language):
            end = _block_end(lines, i)
            if end >= line:
                return i, end
        lowest = min(lowest, indent)
        if indent == 0 and i < line and not _TRANSPARENT.match(stripped):
            # a top-level statement ends every block above it
            return None
    return None


def paragraph(lines: Sequence[str], line: int) -> tuple[int, int]:
    """The run of non-blank lines around `line` (the line itself when it is blank)."""
    if not lines:
        return 0, 0
    line = min(max(line, 0), len(lines) - 1)
    if not lines[line].strip():
        return line, line
    first = line
    while first > 0 and lines[first - 1].strip():
        first -= 1
    last = line
    while last + 1 < len(lines) and lines[last + 1].strip():
        last += 1
    return first, last


def shift_spans(spans: Sequence[tuple[int, int]], changed_first: int, changed_last: int, delta: int) -> list[int | None]:
    """After an edit replaced lines changed_first..changed_last and moved later lines by `delta`:
    for each (first, last) span, its new first line, or None when the edit touched it."""
    out: list[int | None] = []
    for first, last in spans:
        if last < changed_first:
            out.append(first)
        elif first > changed_last:
            out.append(first + delta)
        else:
            out.append(None)
    return out
