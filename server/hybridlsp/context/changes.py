"""What a diff touches, file by file: the functions and types added, removed or changed, and the
names it brings in or drops.

Read from the diff text alone (no working tree): each hunk's two sides, context plus added lines
and context plus removed lines, are parsed with tree-sitter where the language is known, and a
definition counts as touched when a changed line falls inside it. A hunk that starts inside a
function shows no `def` line; git's hunk header names the enclosing one, and that name is used.
Files in other languages get the hunk-header names and the changed words only.
"""

from __future__ import annotations

import posixpath
import re
import textwrap
from dataclasses import dataclass, field

import tree_sitter

from .diff import summarize_diff
from .syntax import language_for, parse_tree

__all__ = ["FileChange", "describe_changes", "mentions_change"]

# Node types that define a named thing, across the grammars context.syntax loads.
_DEFINITIONS = frozenset(
    {
        "function_definition", "class_definition",  # python, c, cpp
        "function_declaration", "generator_function_declaration", "class_declaration", "method_definition",
        "interface_declaration", "type_alias_declaration", "enum_declaration", "abstract_class_declaration",
        "method_declaration", "type_spec", "constructor_declaration", "record_declaration",  # go, java
        "function_item", "struct_item", "enum_item", "trait_item", "impl_item", "mod_item", "macro_definition",
        "struct_specifier", "class_specifier", "enum_specifier", "namespace_definition",
        "variable_declarator",  # js/ts: only when it binds a function (checked below)
    }
)  # fmt: skip
_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
_NAME_TYPES = frozenset({"identifier", "field_identifier", "type_identifier", "property_identifier",
                         "qualified_identifier", "destructor_name", "operator_name", "name"})

_HUNK_RE = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@ ?(.*)$")
# The enclosing definition git prints after a hunk's range ("@@ ... @@ def loads(s):").
_HEADER_DEF_RE = re.compile(
    r"^\s*(?:(?:export|default|async|pub(?:\([^)]*\))?|static|public|private|protected|abstract|final|unsafe)\s+)*"
    r"(?:def|class|func|function\*?|fn|struct|enum|trait|interface|type|impl|module|macro_rules!)\s+"
    r"(?:\([^)]*\)\s*)?([A-Za-z_$][\w$]*)"
)
# A C-like declaration: words, then the name and its parameters ("static int parse(const char *s)").
_HEADER_CALL_RE = re.compile(r"^(?:[A-Za-z_$][\w$\s*&:<>,]*?[\s*&])?([A-Za-z_$][\w$]*)\s*\(")
_COMMON = frozenset(
    "self this true false none null nil return import from def class func function const let var else "
    "elif for while not and the for with int str bool string void public private static final async await "
    "new pass raise try except finally yield lambda type struct enum impl pub use mod package interface "
    "export default break continue case switch".split()
)


@dataclass
class FileChange:
    path: str
    old_path: str | None
    status: str  # added | modified | deleted | renamed | copied | submodule
    language: str | None
    added: list[str] = field(default_factory=list)  # definitions only on the new side
    removed: list[str] = field(default_factory=list)  # definitions only on the old side
    changed: list[str] = field(default_factory=list)  # definitions with a changed line inside
    words_in: list[str] = field(default_factory=list)  # identifiers on added lines, on no removed line
    words_out: list[str] = field(default_factory=list)  # identifiers on removed lines, on no added line
    lines_added: int = 0
    lines_removed: int = 0
    omitted_reason: str | None = None

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    def symbols(self) -> list[str]:
        """The definitions touched, added first, each once."""
        return list(dict.fromkeys(self.added + self.changed + self.removed))


def _def_name(node: tree_sitter.Node) -> str | None:
    if node.type == "variable_declarator":
        value = node.child_by_field_name("value")
        if value is None or value.type not in _FUNCTION_VALUES:
            return None
    if node.type == "impl_item":
        target = node.child_by_field_name("type")
        return target.text.decode("utf-8", "replace") if target is not None else None
    name = node.child_by_field_name("name")
    if name is None:
        # C and C++ put the name inside the declarator chain: int *f(void) -> f
        decl = node.child_by_field_name("declarator")
        while decl is not None and decl.type not in _NAME_TYPES:
            decl = decl.child_by_field_name("declarator")
        name = decl
    if name is None or name.type not in _NAME_TYPES and node.type not in ("type_spec",):
        return None
    return name.text.decode("utf-8", "replace")


def _parse(code: str, language: str, lines: set[int]) -> tuple[list[tuple[str, int, int]], list[str]]:
    """(name, first line, last line) of each definition in `code` (0-based lines), and the
    identifiers on `lines`."""
    tree = parse_tree(code, language)
    if tree is None:
        return [], []
    defs, names, stack = [], [], [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type in _DEFINITIONS:
            name = _def_name(node)
            if name:
                defs.append((name, node.start_point[0], node.end_point[0]))
        if node.type in _NAME_TYPES and node.start_point[0] in lines:
            names.append(node.text.decode("utf-8", "replace"))
        stack.extend(reversed(node.children))
    return defs, names


@dataclass
class _Side:
    lines: list[str] = field(default_factory=list)
    changed: set[int] = field(default_factory=set)  # indexes into lines


def _hunks(patch: str) -> list[tuple[str, _Side, _Side]]:
    """(header context, new side, old side) for each hunk of one file's patch."""
    out: list[tuple[str, _Side, _Side]] = []
    new = old = None
    for line in patch.split("\n"):
        m = _HUNK_RE.match(line)
        if m:
            new, old = _Side(), _Side()
            out.append((m.group(1), new, old))
            continue
        if new is None or old is None or not line or line.startswith("\\"):
            continue
        tag, text = line[0], line[1:]
        if tag == " ":
            new.lines.append(text)
            old.lines.append(text)
        elif tag == "+":
            new.changed.add(len(new.lines))
            new.lines.append(text)
        elif tag == "-":
            old.changed.add(len(old.lines))
            old.lines.append(text)
    return out


def _header_name(context: str) -> str | None:
    m = _HEADER_DEF_RE.match(context) or _HEADER_CALL_RE.match(context)
    return m.group(1) if m and m.group(1).lower() not in _COMMON else None


def _touched(side: _Side, language: str | None, header: str | None) -> tuple[list[str], list[str], list[str]]:
    """Names of the definitions with a changed line inside, of those whose first line changed, and
    the identifiers on changed lines."""
    if not side.changed:
        return [], [], []
    defs, names = _parse(textwrap.dedent("\n".join(side.lines)), language, side.changed) if language else ([], [])
    touched: list[str] = []
    started: list[str] = []  # lists, not sets: the order of names in a message must not vary
    covered: set[int] = set()
    for name, first, last in defs:
        inside = {i for i in side.changed if first <= i <= last}
        if inside:
            touched.append(name)
            covered |= inside
            if first in side.changed:
                started.append(name)
    if header and any(side.lines[i].strip() for i in side.changed - covered):
        touched.insert(0, header)  # changed lines outside every definition shown: the enclosing one's
    return touched, started, [n for n in names if len(n) > 2 and n.lower() not in _COMMON]


def _file_change(path: str, old_path: str | None, status: str, patch: str) -> FileChange:
    language = language_for(path)
    fc = FileChange(path, old_path, status, language)
    added_defs: list[str] = []
    removed_defs: list[str] = []
    changed: list[str] = []
    plus: list[str] = []
    minus: list[str] = []
    lines_added = lines_removed = 0
    for context, new, old in _hunks(patch):
        header = _header_name(context)
        new_touched, new_started, new_names = _touched(new, language, header)
        old_touched, old_started, old_names = _touched(old, language, header)
        added_defs += [n for n in new_started if n not in old_touched]
        removed_defs += [n for n in old_started if n not in new_touched]
        changed += [n for n in new_touched + old_touched]
        plus += new_names
        minus += old_names
        lines_added += len(new.changed)
        lines_removed += len(old.changed)
    fc.added = list(dict.fromkeys(added_defs))
    fc.removed = [n for n in dict.fromkeys(removed_defs) if n not in fc.added]
    fc.changed = [n for n in dict.fromkeys(changed) if n not in fc.added and n not in fc.removed]
    fc.words_in = list(dict.fromkeys(w for w in plus if w not in set(minus)))
    fc.words_out = list(dict.fromkeys(w for w in minus if w not in set(plus)))
    fc.lines_added, fc.lines_removed = lines_added, lines_removed
    return fc


def describe_changes(diff: str) -> list[FileChange]:
    """Each file of a `git diff` output with what it touches; omitted files (lock, generated,
    binary) keep their reason and no symbols."""
    out = []
    for f in summarize_diff(diff).files:
        if f.omitted_reason or f.status == "submodule":
            out.append(FileChange(f.path, f.old_path, f.status, None, omitted_reason=f.omitted_reason))
        else:
            out.append(_file_change(f.path, f.old_path, f.status, f.patch))
    return out


def mentions_change(text: str, changes: list[FileChange]) -> bool:
    """True when `text` names a changed file (its name or its stem) or a touched definition or name."""
    words = {w.lower().strip(".") for w in re.findall(r"[\w$./-]+", text)} | {w.lower() for w in re.findall(r"[\w$]+", text)}
    for fc in changes:
        stem = posixpath.splitext(fc.name)[0]
        names = {fc.name, fc.path, stem if len(stem) > 2 else fc.name}
        if fc.old_path:
            names.add(posixpath.basename(fc.old_path))
        names |= {n for n in fc.symbols() + fc.words_in[:12] + fc.words_out[:12] if len(n) > 2}
        if any(n.lower() in words for n in names):
            return True
    return False
