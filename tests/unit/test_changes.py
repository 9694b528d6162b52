"""What a diff touches, read from the diff alone: a table of real-shaped diffs per language."""

import pytest

from hybridlsp.context.changes import describe_changes, mentions_change


def diff(path, *hunks, status=""):
    head = f"diff --git a/{path} b/{path}\n"
    if status == "added":
        head += f"new file mode 100644\n--- /dev/null\n+++ b/{path}\n"
    elif status == "deleted":
        head += f"deleted file mode 100644\n--- a/{path}\n+++ /dev/null\n"
    else:
        head += f"--- a/{path}\n+++ b/{path}\n"
    return head + "".join(hunks)


PY_CHANGED = diff("src/tomli/_parser.py", (
    "@@ -71,7 +71,12 @@ def loads(__s: str) -> dict:\n"
    "     # literals. Let's do so to simplify parsing.\n"
    "-    src = __s.replace(\"\\r\\n\", \"\\n\")\n"
    "+    try:\n"
    "+        src = __s.replace(\"\\r\\n\", \"\\n\")\n"
    "+    except (AttributeError, TypeError):\n"
    "+        raise TypeError(\"Expected str\") from None\n"
    "     pos = 0\n"
))
PY_ADDED_METHOD = diff("pkg/queue.py", (
    "@@ -10,6 +10,9 @@ class Queue:\n"
    "     def push(self, item):\n"
    "         self.items.append(item)\n"
    " \n"
    "+    def peek(self):\n"
    "+        return self.items[0]\n"
    "+\n"
    "     def pop(self):\n"
    "         return self.items.pop(0)\n"
))
PY_REMOVED_FUNC = diff("pkg/util.py", (
    "@@ -1,6 +1,2 @@\n"
    " import os\n"
    "-def legacy_path(p):\n"
    "-    return os.path.join('old', p)\n"
    "-\n"
    "-\n"
    " X = 1\n"
))
JS_CHANGED = diff("picocolors.js", (
    "@@ -5,7 +5,7 @@ let isColorSupported =\n"
    " let formatter = (open, close, replace = open) =>\n"
    "   input => {\n"
    "-    let string = \"\" + input\n"
    "+    let string = \"\" + input, index = string.indexOf(close, open.length)\n"
    "     return string\n"
    "   }\n"
    "@@ -20,3 +20,6 @@ let replaceClose = (string, close, replace, index) => {\n"
    " }\n"
    "+const createColors = (enabled = isColorSupported) => {\n"
    "+  return { isColorSupported: enabled }\n"
    "+}\n"
))
GO_CHANGED = diff("server/handler.go", (
    "@@ -40,6 +40,8 @@ func (s *Server) Handle(w http.ResponseWriter, r *http.Request) {\n"
    " \tctx := r.Context()\n"
    "+\tif r.Method != http.MethodPost {\n"
    "+\t\treturn\n"
    "+\t}\n"
    " \ts.serve(ctx, w, r)\n"
))
C_CHANGED = diff("src/_speedups.c", (
    "@@ -107,6 +107,7 @@ head_sums(PyObject *self, PyObject *const *args, Py_ssize_t nargs)\n"
    "     Py_ssize_t n = 0;\n"
    "+    PREFETCH(weights + n);\n"
    "     for (;;) {\n"
))
RUST_ADDED = diff("src/lib.rs", (
    "@@ -1,3 +1,7 @@\n"
    " use std::fmt;\n"
    "+\n"
    "+pub fn parse_flag(s: &str) -> Option<u8> {\n"
    "+    s.strip_prefix('-').and_then(|t| t.parse().ok())\n"
    "+}\n"
))
DOCS = diff("README.md", "@@ -3,2 +3,3 @@\n # hybridlsp\n+## Configuration\n Settings.\n")
NEW_FILE = diff("pkg/new_mod.py", "@@ -0,0 +1,2 @@\n+def fresh():\n+    return 1\n", status="added")
LOCK = diff("uv.lock", "@@ -1 +1 @@\n-version = 1\n+version = 2\n")


@pytest.mark.parametrize(
    "text, path, added, removed, changed",
    [
        # the hunk starts inside loads: git's hunk header names it
        (PY_CHANGED, "src/tomli/_parser.py", [], [], ["loads"]),
        # an indented method added inside a class the hunk header names
        (PY_ADDED_METHOD, "pkg/queue.py", ["peek"], [], []),
        (PY_REMOVED_FUNC, "pkg/util.py", [], ["legacy_path"], []),
        # arrow functions bound to a const or a let count as definitions
        (JS_CHANGED, "picocolors.js", ["createColors"], [], ["formatter"]),
        # a Go method's name, not its receiver's
        (GO_CHANGED, "server/handler.go", [], [], ["Handle"]),
        # a C function whose return type is on the line before: the header starts with its name
        (C_CHANGED, "src/_speedups.c", [], [], ["head_sums"]),
        (RUST_ADDED, "src/lib.rs", ["parse_flag"], [], []),
        (DOCS, "README.md", [], [], []),
        (NEW_FILE, "pkg/new_mod.py", ["fresh"], [], []),
    ],
)
def test_definitions_touched(text, path, added, removed, changed):
    (fc,) = describe_changes(text)
    assert (fc.path, fc.added, fc.removed, fc.changed) == (path, added, removed, changed)


def test_identifiers_brought_in_and_dropped():
    text = diff("src/tomli/_parser.py", (
        "@@ -7,3 +7,3 @@ from __future__ import annotations\n"
        "-from typing import Any, BinaryIO, NamedTuple\n"
        "+from typing import IO, Any, NamedTuple\n"
    ))
    (fc,) = describe_changes(text)
    assert "BinaryIO" in fc.words_out and "Any" not in fc.words_out + fc.words_in
    assert (fc.lines_added, fc.lines_removed) == (1, 1)


def test_omitted_files_keep_their_reason_and_no_symbols():
    (fc,) = describe_changes(LOCK)
    assert fc.omitted_reason == "lock file" and fc.symbols() == []


def test_the_order_of_names_is_stable():
    """A set's order varies with the hash seed; a message built from these must not."""
    two = diff("m.py", "@@ -1,1 +1,5 @@\n x = 1\n+def zeta():\n+    pass\n+def alpha():\n+    pass\n")
    assert describe_changes(two)[0].added == ["zeta", "alpha"]


@pytest.mark.parametrize(
    "subject, named",
    [
        ("loads: Raise TypeError for bytes", True),
        ("Fix the parser in _parser.py", True),
        ("Fix the _parser module", True),  # the file's stem
        ("Update src/tomli/_parser.py", True),
        ("Update the code", False),
        ("Document the configuration file", False),
    ],
)
def test_mentions_change(subject, named):
    assert mentions_change(subject, describe_changes(PY_CHANGED)) is named
