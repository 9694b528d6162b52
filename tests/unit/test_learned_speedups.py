"""The learned estimate's C speedup (routing/_speedups.c) against its reference, learned._head_sums:
the same (total, n) and the same float logit, bit for bit, or the same exception. For every valid
head (token ids, ints in 0 .. n_vocab - 1) the C must answer itself: a None there would hand the
work back to Python silently, and every comparison would still pass."""

import os
import subprocess
import sys
from array import array
from collections.abc import Sequence
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridlsp.context.tokens import counts_and_heads, head_tokens
from hybridlsp.routing import learned
from hybridlsp.routing.learned import BIGRAM_BUCKETS, HEAD_TOKENS, SPEEDUPS, load_model
from tests.support import need

REPO = Path(__file__).resolve().parents[2]
MODEL = load_model()
N_VOCAB = MODEL.n_vocab
PURE_FORCED = os.environ.get("HYBRIDLSP_PURE_PYTHON") == "1"

@pytest.fixture(scope="module")
def c_part():
    need(SPEEDUPS or None, "the C speedup is not in use: HYBRIDLSP_PURE_PYTHON=1, or built without a C compiler")


needs_c = pytest.mark.usefixtures("c_part")


def test_the_c_speedup_is_built():
    # a broken build falls back to Python silently, ~20x slower: this is where it shows
    need(None if PURE_FORCED else True, "HYBRIDLSP_PURE_PYTHON=1 forces the Python path")
    assert SPEEDUPS, "hybridlsp.routing._speedups is missing: reinstall with a C compiler (make install)"


def outcome(fn, head):
    try:
        return fn(head)
    except Exception as e:  # noqa: BLE001 - the exception's type is the outcome compared
        return type(e)


def c_sums(head):
    """What the C itself returns: (total, n), or None where it leaves the head to Python."""
    return learned._c_head_sums(head, MODEL.unigrams, MODEL.bigrams, HEAD_TOKENS, learned._MIX, BIGRAM_BUCKETS)


def valid(head) -> bool:
    """Token ids, as counting produces them: ints in 0 .. n_vocab - 1 (bools are ints too)."""
    try:
        return all(isinstance(i, int) and 0 <= i < N_VOCAB for i in list(head[:HEAD_TOKENS]))
    except TypeError:
        return False


def pure_logit(head):
    with mock.patch.object(learned, "SPEEDUPS", False):
        return MODEL.logit_of_head(head)


def assert_same(head):
    py = outcome(lambda h: learned._head_sums(h, MODEL.unigrams, MODEL.bigrams), head)
    c = outcome(c_sums, head)
    if valid(head):
        assert isinstance(c, tuple), f"the C left a valid head to Python (it returned {c!r})"
        assert c == py
    else:
        assert c is None or c == py  # None: Python's path decides, as without the C
    fast, pure = outcome(MODEL.logit_of_head, head), outcome(pure_logit, head)
    assert fast == pure, (fast, pure)  # ==, not approx: the same float
    return pure


ids = st.integers(0, N_VOCAB - 1)
heads = st.one_of(
    st.lists(ids, max_size=300),
    # heavy repetition: few distinct ids and pairs
    st.lists(ids, min_size=1, max_size=4).flatmap(lambda pool: st.lists(st.sampled_from(pool), max_size=300)),
    st.lists(st.sampled_from([0, 1, N_VOCAB - 1]), max_size=300),
)


@needs_c
@settings(max_examples=400, deadline=None)
@given(heads)
def test_same_as_python_on_any_head(head):
    assert_same(head)


def texts_of_the_repo() -> list[str]:
    paths = [REPO / "README.md", *sorted((REPO / "server" / "hybridlsp" / "routing").glob("*.py"))]
    paras = [p for path in paths for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    return paras + ["naïve café ☕ 12,345 " * 30, "数学の問題を解いてください。" * 20, "🙂" * 200, "x", ""]


@needs_c
def test_same_as_python_on_encoded_prompts():
    texts = texts_of_the_repo()
    assert len(texts) > 100
    _, encoded = counts_and_heads(texts, HEAD_TOKENS)
    logits = {assert_same(h) for h in encoded}
    assert len(logits) > 50  # real, varied prompts
    for text in texts[:40]:  # whole encodings: the C reads only the first HEAD_TOKENS
        assert_same(head_tokens(text, 1000))


class Ids(Sequence):
    def __init__(self, ids):
        self.ids = ids

    def __getitem__(self, i):
        return Ids(self.ids[i]) if isinstance(i, slice) else self.ids[i]

    def __len__(self):
        return len(self.ids)


class IdList(list):
    pass


SOME = [9906, 11, 1917, 0, 9906, 11, 374, N_VOCAB - 1] * 20


@needs_c
@pytest.mark.parametrize("head", [
    [], [7], [7, 7], [0] * 300, list(range(300)), SOME, tuple(SOME), array("l", SOME), array("H", [9906, 11, 1917, 0, 374] * 8),
    range(1000, 1400), Ids(SOME), IdList(SOME), [True, False, True, 1],
    [5, -1, 5],  # negative ids: Python indexes from the end, so the C leaves them to it
])
def test_same_as_python_on_other_sequences(head):
    assert isinstance(assert_same(head), float)


@needs_c
@pytest.mark.parametrize("head, error, from_c", [
    ([1, 2, N_VOCAB], IndexError, IndexError),
    ([N_VOCAB + 10**6] * 3, IndexError, IndexError),
    ([3, 2**70], IndexError, None),  # past 64 bits: the C leaves it to Python, which raises
    ([1, 2.0], TypeError, None),  # not an int: left to Python
    ([1, "2"], TypeError, None),
    (None, TypeError, TypeError),
])
def test_same_error_as_python(head, error, from_c):
    assert outcome(pure_logit, head) is error
    assert outcome(MODEL.logit_of_head, head) is error
    assert outcome(c_sums, head) is from_c


@needs_c
@settings(max_examples=300, deadline=None)
@given(st.lists(ids, max_size=HEAD_TOKENS * 2))
def test_the_c_answers_every_valid_head_itself(head):
    assert isinstance(c_sums(head), tuple)
    assert isinstance(c_sums(tuple(head)), tuple) and isinstance(c_sums(array("l", head)), tuple)


@needs_c
def test_ids_past_head_tokens_are_not_read():
    assert MODEL.logit_of_head([5] * HEAD_TOKENS + [N_VOCAB]) == pure_logit([5] * HEAD_TOKENS)


@needs_c
@pytest.mark.parametrize("args, error", [
    ((array("i", [1]),), TypeError),  # weights must be int16
    ((MODEL.unigrams, MODEL.bigrams, HEAD_TOKENS, learned._MIX, 0), ValueError),
    ((MODEL.unigrams, MODEL.bigrams, 10**4, learned._MIX, BIGRAM_BUCKETS), ValueError),
])
def test_bad_arguments(args, error):
    full = (MODEL.unigrams, MODEL.bigrams, HEAD_TOKENS, learned._MIX, BIGRAM_BUCKETS)
    with pytest.raises(error):
        learned._c_head_sums([1, 2], *args, *full[len(args):])


def speedups_in_subprocess(pure: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "HYBRIDLSP_PURE_PYTHON"}
    if pure is not None:
        env["HYBRIDLSP_PURE_PYTHON"] = pure
    code = "from hybridlsp.routing.learned import SPEEDUPS; print(SPEEDUPS)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_pure_python_forced_by_env():
    assert speedups_in_subprocess("1") == "False"
    if not PURE_FORCED:
        assert speedups_in_subprocess("0") == speedups_in_subprocess(None) == str(SPEEDUPS)
