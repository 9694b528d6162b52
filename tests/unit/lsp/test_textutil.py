"""The enclosing-function heuristic and line-span shifting, as tables of cases."""

import pytest

from hybridlsp.lsp.textutil import enclosing_block, paragraph, shift_spans

PYTHON = """import os


def outer(a):
    x = a + 1

    def inner(b):
        return b * 2

    return inner(x)


class Box:
    def open(
        self,
        force=False,
    ) -> bool:
        # a comment
        return True

VALUE = 3
"""

C = """#include <stdio.h>

static int add(int a, int b)
{
    int c = a + b;
#ifdef DEBUG
    printf("%d", c);
#endif
    return c;
}

int main(void) {
    return add(1, 2);
}
"""

JS = """const f = async (x) => {
  if (x) {
    return 1;
  }
  return 2;
};

function g() {
  return f(1);
}
"""

GO_RUST = """func (s *Server) Run() error {
	return nil
}

pub fn parse(input: &str) -> Result<(), Error> {
    Ok(())
}
"""


@pytest.mark.parametrize(
    "source, language, line, expected",
    [
        (PYTHON, "python", 4, (3, 9)),  # outer's body
        (PYTHON, "python", 5, (3, 9)),  # a blank line inside outer
        (PYTHON, "python", 7, (6, 7)),  # inner, the innermost
        (PYTHON, "python", 9, (3, 9)),  # back in outer after inner
        (PYTHON, "python", 3, (3, 9)),  # on the def line itself
        (PYTHON, "python", 18, (13, 18)),  # multi-line signature, comment in the body
        (PYTHON, "python", 12, (12, 18)),  # the class line
        (PYTHON, "python", 0, None),  # module level
        (PYTHON, "python", 20, None),  # after the class, at module level
        (C, "c", 4, (2, 9)),  # brace on its own line, preprocessor lines at the margin
        (C, "c", 6, (2, 9)),
        (C, "c", 12, (11, 13)),
        (JS, "javascript", 2, (0, 5)),  # arrow function; an inner `if` block is not a function
        (JS, "javascript", 8, (7, 9)),
        (GO_RUST, "go", 1, (0, 2)),
        (GO_RUST, "rust", 5, (4, 6)),
    ],
)
def test_enclosing_block(source, language, line, expected):
    assert enclosing_block(source.splitlines(True), line, language) == expected


def test_enclosing_block_of_an_empty_document():
    assert enclosing_block([], 0) is None


@pytest.mark.parametrize(
    "line, expected",
    [(0, (0, 1)), (1, (0, 1)), (2, (2, 2)), (4, (3, 4))],
)
def test_paragraph(line, expected):
    lines = ["a = 1\n", "b = 2\n", "\n", "c = 3\n", "d = 4\n"]
    assert paragraph(lines, line) == expected


@pytest.mark.parametrize(
    "first, last, delta, expected",
    [
        (0, 0, 1, [None, 6, 11]),  # a line inserted in line 0 touches the span that starts there
        (2, 2, 2, [0, 7, 12]),  # two lines added between the first and second span
        (5, 6, -1, [0, None, 9]),  # an edit inside the second span drops it
        (20, 20, 5, [0, 5, 10]),  # below everything
    ],
)
def test_shift_spans(first, last, delta, expected):
    assert shift_spans([(0, 1), (5, 6), (10, 10)], first, last, delta) == expected


@pytest.mark.parametrize("line", ["def f(x):\n", "", "\n", "x = 1\r\n", "ünïcode = 'é'\n", "emoji = '😋'\n", "tab\there\n"])
@pytest.mark.parametrize("character", [0, 1, 3, 9, 10, 11, 40])
def test_positions_convert_as_pygls_converts_them(line, character):
    from lsprotocol import types
    from pygls.workspace.position_codec import PositionCodec

    from hybridlsp.lsp.convert import server_position

    codec = PositionCodec(types.PositionEncodingKind.Utf16)
    lines = ("first\n", line, "last\n")
    theirs, ours = types.Position(1, character), types.Position(1, character)
    want = codec.position_from_client_units(lines, theirs)
    got = server_position(codec, lines, ours)
    assert (got.line, got.character) == (want.line, want.character)
    assert ours == theirs  # pygls clamps the position it is given: so do we
