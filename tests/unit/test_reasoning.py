"""Thinking kept out of answers: `<think>` blocks split from streamed text, however it is cut."""

import pytest

from hybridlsp.backends._reasoning import ThinkSplitter, strip_thinking

CASES = [
    # (streamed text, answer, thinking)
    ("plain answer", "plain answer", ""),
    ("<think>add 2 and 2</think>\n\n4", "4", "add 2 and 2"),
    ("<thinking>hmm</thinking>Yes.", "Yes.", "hmm"),
    ("Before <think>aside</think> after", "Before after", "aside"),
    ("a < b and c <= d", "a < b and c <= d", ""),
    ("<b>bold</b> <thin", "<b>bold</b> <thin", ""),  # held back, then given back at the end
    ("<think>never closed, the budget ran out", "", "never closed, the budget ran out"),
    ("<think>one</think>A<think>two</think>B", "AB", "onetwo"),
    ("fix: handle </th in strings", "fix: handle </th in strings", ""),
]


def run(pieces: list[str]) -> tuple[str, str]:
    split = ThinkSplitter()
    answer = thinking = ""
    for piece in pieces:
        a, t = split.feed(piece)
        answer, thinking = answer + a, thinking + t
    a, t = split.flush()
    return answer + a, thinking + t


@pytest.mark.parametrize("text, answer, thinking", CASES)
def test_whole_text(text, answer, thinking):
    assert run([text]) == (answer, thinking)


@pytest.mark.parametrize("text, answer, thinking", CASES)
def test_every_cut_into_two_pieces(text, answer, thinking):
    for cut in range(1, len(text)):
        assert run([text[:cut], text[cut:]]) == (answer, thinking), cut


@pytest.mark.parametrize("text, answer, thinking", CASES)
def test_one_character_at_a_time(text, answer, thinking):
    assert run(list(text)) == (answer, thinking)


def test_a_tag_split_over_pieces_never_reaches_the_answer():
    split = ThinkSplitter()
    streamed = [split.feed(p)[0] for p in ("Sure. <th", "ink>secret plan</thi", "nk> Done")]
    assert "<th" not in "".join(streamed) and "secret" not in "".join(streamed)


@pytest.mark.parametrize(
    "text, answer",
    [
        ("<think>x</think>\nfeat: add login", "feat: add login"),
        # DeepSeek-R1's template opens the block inside the prompt: only the close comes back
        ("I should write a subject line.\n</think>\n\nfix: typo in README", "fix: typo in README"),
        ("no thinking here", "no thinking here"),
    ],
)
def test_strip_thinking(text, answer):
    assert strip_thinking(text) == answer
