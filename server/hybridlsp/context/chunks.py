"""Pack a diff into chunks that each fit a token budget.

So that no diff size can overflow a context window: a caller summarizes chunk by chunk on a
small model, then combines. A file too big for one chunk is split by hunks, a hunk by lines,
each piece repeating the file header.
"""

from __future__ import annotations

from .diff import HUNK_START, DiffFile, DiffSummary
from .tokens import count_tokens, count_tokens_many, truncate_to_tokens

__all__ = ["budget_diff"]

_MIN_BUDGET = 200  # a file header plus a few lines must fit
_TRUNCATED = "[... truncated to fit the token budget]\n"


def _fit(text: str, limit: int) -> tuple[str, int]:
    """`text` cut to at most `limit` tokens, marked as truncated; (text, tokens)."""
    room = limit - count_tokens(_TRUNCATED) - 2
    while room > 0:
        head = truncate_to_tokens(text, room)
        out = head + ("" if head.endswith("\n") else "\n") + _TRUNCATED
        n = count_tokens(out)
        if n <= limit:
            return out, n
        room -= n - limit  # a boundary merged differently: shave the excess and retry
    return _TRUNCATED, count_tokens(_TRUNCATED)


def _lines(text: str) -> list[str]:
    r"""Lines with their newlines, split on "\n" only (str.splitlines also splits on \r, \f...)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    return lines + [parts[-1]] if parts[-1] else lines


def _runs(lines: list[str]) -> list[str]:
    """Join diff lines into runs that each start with a non-space character.

    Token counts add up exactly across such boundaries (see tokens._line_cut); context lines
    start with a space, so they stay with the line before them.
    """
    runs: list[str] = []
    for line in lines:
        if runs and line[0].isspace():
            runs[-1] += line
        else:
            runs.append(line)
    return runs


def _split_hunk(hunk: str, tokens: int, room: int) -> list[tuple[str, int]]:
    """Cut a hunk over `room` tokens into pieces by lines, each repeating the @@ line.

    Counting each of 60,000 lines costs far more than counting the hunk twice, so each piece is
    sized in characters from the hunk's own chars-per-token ratio, then counted once (whole,
    since a run may start with a space), and shrunk in the rare case it overshoots.
    """
    at_line, _, body = hunk.partition("\n")
    at_line += "\n"
    runs = _runs(_lines(body))
    target_chars = max(1, int(room * len(hunk) / max(tokens, 1) * 0.9))
    pieces: list[tuple[str, int]] = []
    i = 0
    while i < len(runs):
        j, size = i + 1, len(runs[i])
        while j < len(runs) and size + len(runs[j]) <= target_chars:
            size += len(runs[j])
            j += 1
        text = at_line + "".join(runs[i:j])
        n = count_tokens(text)
        while n > room and j - i > 1:
            j = i + max(1, (j - i) * room * 9 // (n * 10))
            text = at_line + "".join(runs[i:j])
            n = count_tokens(text)
        if n > room:  # a single line longer than the budget
            text, n = _fit(text, room)
        pieces.append((text, n))
        i = j
    return pieces


def _split_file(f: DiffFile, max_tokens: int) -> list[tuple[str, int]]:
    """Pieces of one too-big file patch, each repeating the file header, each <= max_tokens."""
    hunks_at = [m.start() for m in HUNK_START.finditer(f.patch)]
    if not hunks_at:  # a header alone over budget (absurd path lengths): cut it
        return [_fit(f.patch, max_tokens)]
    header = f.patch[: hunks_at[0]]
    header_tokens = raw_header_tokens = count_tokens(header)
    if header_tokens > max_tokens // 4:
        header, header_tokens = _fit(header, max_tokens // 4)
    room = max_tokens - header_tokens
    units: list[tuple[str, int]] = []  # hunks, or pieces of hunks too big for one
    hunks = [f.patch[a:b] for a, b in zip(hunks_at, hunks_at[1:] + [len(f.patch)])]
    # One hunk: its tokens are the file's minus the header's (both cut before "@@"), no recount.
    counts = [f.tokens - raw_header_tokens] if len(hunks) == 1 else count_tokens_many(hunks)
    for hunk, n in zip(hunks, counts):
        if n <= room:
            units.append((hunk, n))
        else:
            units += _split_hunk(hunk, n, room)
    return [(header + text, header_tokens + n) for text, n in _pack(units, room)]


def _pack(units: list[tuple[str, int]], limit: int) -> list[tuple[str, int]]:
    """Greedy in-order packing of (text, tokens) units into groups of at most `limit` tokens.

    Every unit starts a line with a non-space character, so a group's tokens are the sum.
    """
    groups: list[tuple[str, int]] = []
    texts: list[str] = []
    n = 0
    for text, m in units:
        if texts and n + m > limit:
            groups.append(("".join(texts), n))
            texts, n = [], 0
        texts.append(text)
        n += m
    if texts:
        groups.append(("".join(texts), n))
    return groups


def budget_diff(summary: DiffSummary, max_tokens: int) -> list[str]:
    """Pack the kept patches into chunks of at most `max_tokens` tokens each, in diff order.

    A file that does not fit one chunk is split by hunks, a hunk that does not fit by lines,
    each piece repeating the file header; a single line longer than the budget is truncated.
    Leave room in `max_tokens` for the prompt around the chunk, and a margin for models whose
    tokenizer is not cl100k.
    """
    if max_tokens < _MIN_BUDGET:
        raise ValueError(f"max_tokens must be at least {_MIN_BUDGET}, got {max_tokens}")
    units: list[tuple[str, int]] = []
    for f in summary.files:
        if not f.patch:
            continue
        if f.tokens <= max_tokens:
            units.append((f.patch, f.tokens))
        else:
            units += _split_file(f, max_tokens)
    return [text for text, _ in _pack(units, max_tokens)]
