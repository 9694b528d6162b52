import pytest

from hybridlsp.context import LANGUAGES, language_for, parses, parses_in_context, syntax_error_count


@pytest.mark.parametrize(
    "path, language_id, expected",
    [
        ("a.py", "", "python"),
        ("stubs/a.pyi", "", "python"),
        ("a.js", "", "javascript"),
        ("a.jsx", "", "javascript"),
        ("a.mjs", "", "javascript"),
        ("a.ts", "", "typescript"),
        ("a.tsx", "", "tsx"),
        ("main.go", "", "go"),
        ("lib.rs", "", "rust"),
        ("A.java", "", "java"),
        ("a.c", "", "c"),
        ("a.h", "", "c"),
        ("a.cpp", "", "cpp"),
        ("a.HPP", "", "cpp"),
        ("C:\\src\\a.cc", "", "cpp"),
        ("", "python", "python"),
        ("", "typescriptreact", "tsx"),
        ("", "javascriptreact", "javascript"),
        ("a.h", "cpp", "cpp"),  # the editor's languageId wins over the extension
        ("untitled", "plaintext", None),
        ("a.rb", "ruby", None),
        ("Makefile", "", None),
        ("", "", None),
    ],
)
def test_language_for(path, language_id, expected):
    assert language_for(path, language_id) == expected


SNIPPETS = {
    "python": (
        ["def f(x):\n    return x + 1\n", "    y = compute(a, b)\n    return y\n", "return x", ""],
        ["def f(x:\n    return x +\n", "if x\n    pass\n", "x = (1, 2"],
    ),
    "javascript": (
        ["function f(x) { return x + 1; }", "const el = <div className='a'>{x}</div>;", "x => x * 2"],
        ["function f(x { return x + 1; }", "const = 5;", "if (x) {"],
    ),
    "typescript": (
        ["function f(x: number): number { return x + 1; }", "interface A { b: string }"],
        ["function f(x: number: number {}", "let x: = 5;"],
    ),
    "tsx": (["const el = <div>{(x as number) + 1}</div>;"], ["const el = <div>{x</div>;"]),
    "go": (
        ["package main\nfunc f(x int) int { return x + 1 }\n", "func f() {}\n"],
        ["func f(x int int { return }", "package main\nfunc (\n"],
    ),
    "rust": (
        ["fn f(x: i32) -> i32 { x + 1 }", "let v: Vec<u8> = vec![1, 2];"],
        ["fn f(x: i32 -> i32 { x + 1 }", "let = 5;"],
    ),
    "java": (
        ["class A { int f(int x) { return x + 1; } }", "int y = f(2);"],
        ["class A { int f(int x { return x + 1; } }", "int y = ;"],
    ),
    "c": (
        ["int f(int x) { return x + 1; }", '#include <stdio.h>\nint main(void) { printf("hi"); return 0; }\n'],
        ["int f(int x { return x + 1; }", "int y = ;"],
    ),
    "cpp": (
        ["template <typename T> T f(T x) { return x + 1; }", "std::vector<int> v{1, 2};"],
        ["template <typename T T f(T x) { return x; }", "int y = ;"],
    ),
}


def test_every_language_has_cases():
    assert set(SNIPPETS) == LANGUAGES


@pytest.mark.parametrize(
    "language, code, ok",
    [(lang, code, True) for lang, (good, _) in SNIPPETS.items() for code in good]
    + [(lang, code, False) for lang, (_, bad) in SNIPPETS.items() for code in bad],
)
def test_parses(language, code, ok):
    assert parses(code, language) is ok


def test_unknown_language_is_none():
    assert parses("puts 1", "ruby") is None
    assert parses_in_context("a", "b", "c", "ruby") is None
    assert syntax_error_count("x", "cobol") is None


def test_error_count():
    assert syntax_error_count("x = 1\n", "python") == 0
    assert syntax_error_count("x = (1\ny = 2\n", "python") >= 1


FUNC = "def f(x):\n    for i in r"
AFTER = "\n    return x\n"
C_PREFIX = "int main() {\n  int x = "
C_SUFFIX = "\n  return x;\n}\n"
JS_PREFIX = "function f() {\n  const y = "
JS_SUFFIX = "\n  return y;\n}\n"


@pytest.mark.parametrize(
    "language, prefix, completion, suffix, ok",
    [
        # Completes the broken line: the document goes from one error to none.
        ("python", FUNC, "ange(10):\n        print(i)", AFTER, True),
        # Leaves a parenthesis open: same error count, but the error now starts in the completion.
        ("python", FUNC, "ange(10):\n        print(i", AFTER, False),
        # Misses the colon: more errors than before.
        ("python", FUNC, "ange(10)\n        print(i)", AFTER, False),
        ("python", "x = foo(", "a, b", ")\n", True),
        ("python", "x = foo(", "a, b)", ")\n", False),  # closes what the suffix already closes
        # An unrelated error elsewhere in the document does not fail a good completion.
        ("python", "def broken(:\n    pass\n\ndef f(x):\n    return ", "x + 1", "\n", True),
        ("c", C_PREFIX, "f(1);", C_SUFFIX, True),
        ("c", C_PREFIX, "f(1;", C_SUFFIX, False),
        ("javascript", JS_PREFIX, "g(1, 2);", JS_SUFFIX, True),
        ("javascript", JS_PREFIX, "g(1, 2;", JS_SUFFIX, False),
        ("go", "package main\n\nfunc f() int {\n\treturn ", "1 + 2", "\n}\n", True),
        ("go", "package main\n\nfunc f() int {\n\treturn ", "1 +", "\n}\n", False),
        ("rust", "fn f() -> i32 {\n    let y = ", "2 * 3;", "\n    y\n}\n", True),
        ("rust", "fn f() -> i32 {\n    let y = ", "2 * (3;", "\n    y\n}\n", False),
        ("typescript", "const n: number = ", "len(s);", "\n", True),
        ("java", "class A {\n  int f() {\n    return ", "g(1);", "\n  }\n}\n", True),
        ("java", "class A {\n  int f() {\n    return ", "g(1;", "\n  }\n}\n", False),
        # Non-ASCII before the cursor: offsets are in bytes on both sides.
        ("python", "s = 'héllo wörld'\nx = foo(", "a, b", ")\n", True),
    ],
)
def test_parses_in_context(language, prefix, completion, suffix, ok):
    assert parses_in_context(prefix, completion, suffix, language) is ok
