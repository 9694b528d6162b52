"""Find secrets in text before it leaves the machine, and redact them.

detect-secrets' `scan_line` runs ~27 plugins and its filter machinery on every line: about 2,000
lines/s, far too slow for a 100,000-line staged diff. So the scan has two stages:

1. one pass over the whole (ASCII-lowercased) text finds candidate lines: every line that holds
   a token prefix, a secret-sounding keyword, credentials in a URL or a long quoted string.
   Hyperscan (Intel's multi-pattern matcher) runs all the candidate patterns at once, about 1.5 ms
   a MB of code; where its wheel is missing, `re` runs them as separate passes, about 15-20 ms.
2. only candidate lines go through detect-secrets' plugin classes and our own patterns
   (`secret_lines`, imported on the first candidate: detect-secrets takes ~50-80 ms to import).
   Whole PEM blocks are found here.

Hits carry the line and the kind, never the value. Plugins left out on purpose: IPPublic (an IP
is not a credential), Twilio, Mailchimp, Telegram, Discord, Artifactory, Cloudant, IBM and
SoftLayer (prefixes too generic to prefilter without flagging ordinary code).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .multimatch import Background, PatternSet, parts_matched

__all__ = ["SecretHit", "contains_secret", "contains_secret_many", "find_secrets", "redact"]


@dataclass(frozen=True)
class SecretHit:
    """A secret found on a line. Kinds: aws-key, azure-storage-key, github-token, gitlab-token,
    jwt, npm-token, openai-key, anthropic-key, private-key, pypi-token, sendgrid-key,
    slack-token, square-oauth-secret, stripe-key, connection-string, secret-assignment,
    high-entropy-string."""

    line_no: int  # 1-based line of the scanned text
    kind: str
    path: str = ""  # the file the line belongs to: the `path` argument, or the diff's file


# Stage 1, run on text.encode().lower(): ASCII-only lowercasing keeps byte offsets, and factoring
# the alternatives by first letter keeps the regex engine's scan fast (measured 4x over (?i)).
#
# A secret-sounding name (password, secret, api_key...) is a candidate only where one of
# detect-secrets' keyword patterns could match it, or our NAME=value one: the name, a suffix, a
# closing quote or bracket, an index or `.assign`, spaces, then ":", "=", "!" or "("; or later
# a quoted value and ";"; or "==" / "!=" before it. Prose that says "secret" or "password" is
# then no candidate ("the secretary", "secreted from (...)": 21 of 2,000 held-out questions
# were, at ~170 us each in stage 2). Those patterns run on str with Unicode \w and \s; here, on
# lowercased UTF-8, any byte past ASCII may be part of such a character.
# (No newline, though \s has one: a candidate is one line, and stage 2 reads lines.)
_WORD = rb"[a-z0-9_\x80-\xff]*"
_SPACE = rb"[\t\x0b\x0c\r \x1c-\x1f\x80-\xff]*"
_AFTER_NAME = (rb"(?:" + _WORD + rb"(?:[\]'\"]{0,2}|\[[0-9]*\]|[^\n]{1,4}assign)" + _SPACE + rb"[:=!\x28]"
               + rb"|[^\n]*[\"'`][^\n]*;)")
_NAMES = (  # detect-secrets' keywords (and ours: access_key, credential), by first letter
    rb"a(?:ccount_?key|ccess_?key|pi_?key|uth_?key)",
    rb"s(?:ecret|ervice_?key)",
    # "pass" alone (passage, passed) is not one of its keywords: password, passwd, (db|key)_?pass
    rb"p(?:ass(?:word|wd)|wd|riv(?:ate)?_?key)",
    rb"d(?:b|atabase)_?(?:key|pass)",
    rb"key_?pass", rb"client_?key", rb"contrase", rb"credential",
)
# "(" as \x28: _top_level_branches counts parentheses and must not see one in a class
_NAME_THEN_OPERATOR = b"|".join(name + _AFTER_NAME for name in _NAMES)
_CANDIDATE_PATTERNS = (
    # AWS key ids are the prefix and 16 more: "Asia" or "acca" in prose is not a candidate
    rb"a(?:(?:kia|sia|bia|cca|3t[a-z0-9])[a-z0-9]{16}|ccountkey=)",
    rb"://[^\s/@]*:[^\s/@]*@",
    rb"g(?:h[pousr]_|l(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-|r1348941)",
    rb"eyj|_authtoken|s(?:k-|k_live_|q0csp-|g\.)|rk_live_|pypi-ag",
    rb"xox[abposr]-|hooks\.slack\.com",
    rb"p(?:rivate key|utty-user-key-file)|token[a-z0-9_]*[ \t]*=",
    _NAME_THEN_OPERATOR,
    # "{20}", not "{20,}": the same lines match, and Hyperscan reports a match at every end
    rb"[\"'`][a-z0-9+/=_-]{20}",
)
# `"x" == password`. Hyperscan takes it as one more pattern; `re` would scan from each "==" to the
# end of the line and back (15.7 ms a MB of code, of 27.7 for all): it looks from the names instead.
_COMPARED_NAME = rb"[!=]{2}[^\n]*(?:" + b"|".join(_NAMES) + rb")"


def _top_level_branches(pattern: bytes) -> list[bytes]:
    """`a|b(?:c|d)` -> [`a`, `b(?:c|d)`]. A split inside a group would not compile: no pattern
    above holds an escaped parenthesis or one in a class."""
    branches, depth, start = [], 0, 0
    for i, c in enumerate(pattern):
        depth += (c == ord("(")) - (c == ord(")"))
        if c == ord("|") and depth == 0:
            branches.append(pattern[start:i])
            start = i + 1
    return [*branches, pattern[start:]]


# Without Hyperscan, on a long text each top-level branch runs as its own `re` pass: a lone
# pattern that starts with a literal gets `re`'s literal-prefix search, which one alternation, or
# a pass like "eyj|_authtoken|s..." with no common prefix, does not (measured when there were 17
# passes: 10.4 ms over 480 KB of code, against 18.1 as 8 passes and ~2.3x that as one alternation).
# The names go through passes of their own, each name with its optional tail: a name found with
# its tail, or with a comparison before it on its line, is a candidate (_NAME_THEN_OPERATOR and
# _COMPARED_NAME as Hyperscan has them): ~15 ms a MB of code for all of `re`'s passes, not 28.
_UNNAMED = tuple(p for p in _CANDIDATE_PATTERNS if p is not _NAME_THEN_OPERATOR)
_CANDIDATES = tuple(re.compile(b) for pattern in _UNNAMED for b in _top_level_branches(pattern))
_NAMES_TAILED = tuple(re.compile(name + rb"(" + _AFTER_NAME + rb")?") for name in _NAMES)
# On a short text the passes cost more in call overhead than they save: one alternation each.
_CANDIDATE_ONE = (re.compile(b"|".join(_UNNAMED)),)
_NAMES_TAILED_ONE = (re.compile(rb"(?:" + b"|".join(_NAMES) + rb")(" + _AFTER_NAME + rb")?"),)
_ONE_PASS_BELOW = 4096  # bytes
_COMPARISON = re.compile(rb"[!=]{2}")


def _offsets_re(low: bytes) -> list[int]:
    short = len(low) < _ONE_PASS_BELOW
    out = [m.start() for rx in (_CANDIDATE_ONE if short else _CANDIDATES) for m in rx.finditer(low)]
    for rx in _NAMES_TAILED_ONE if short else _NAMES_TAILED:
        for m in rx.finditer(low):
            # `"x" == password`: "==", "!=" (or "!!", "=!") before the name on its line
            if m.group(1) is not None or _COMPARISON.search(low, low.rfind(b"\n", 0, m.start()) + 1, m.start()):
                out.append(m.start())
    return out


# All candidate patterns as one Hyperscan expression (`multimatch`): 0.5 us a 350-character prompt
# in a batch against 5.7 for `re`. One expression compiles in a third of the time of 17 (~20 ms)
# and scans as fast; in `route`, `re` runs until it has compiled on its own thread.
_EXPRESSION = b"|".join((*_CANDIDATE_PATTERNS, _COMPARED_NAME))
_ENGINE = Background([_EXPRESSION])


def _hyperscan(wait: bool | None = None) -> PatternSet | None:
    return _ENGINE.get(wait)


def _candidate_offsets(low: bytes) -> list[int]:
    """An offset inside each stage-1 match in `low`: the lines to hand to stage 2."""
    engine = _hyperscan()
    return engine.ends(low) if engine is not None else _offsets_re(low)


# A PEM private key, with its body: following base64 or header lines, or on the same line with
# JSON-escaped newlines (service-account files). A diff prefix (+, -, space) may start each line.
_PEM_BLOCK = re.compile(
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:\\[nr]|[A-Za-z0-9+/=])*"
    r"(?:\r?\n(?:[+\- ]?[ \t]*\r?\n)?[+\- ]?[ \t]*(?:[A-Za-z0-9+/=]{16,}|[A-Za-z-]+: [^\n]*)[ \t]*(?=\r?\n|$))*"
    r"(?:(?:\r?\n[+\- ]?[ \t]*)?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)?"
)

_DIFF_HEADER = re.compile(rb"^diff --git ", re.MULTILINE)


# Findings are (start, end, kind, rank); on overlapping findings the lowest rank names the kind.
def _merge(found: list[tuple[int, int, str, int]]) -> list[tuple[int, int, str]]:
    """Union overlapping spans; the best-ranked finding names the merged span."""
    merged: list[list] = []
    for start, end, kind, rank in sorted(found):
        if merged and start < merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], end)
            if rank < last[3]:
                last[2], last[3] = kind, rank
        else:
            merged.append([start, end, kind, rank])
    return [(s, e, k) for s, e, k, _ in merged]


@dataclass
class _Finding:
    line_no: int  # 1-based
    start: int  # column in the first line
    end_line_no: int  # last line (a PEM block spans several)
    end: int  # column in the last line
    kind: str
    path: str


def _diff_paths(data: bytes) -> tuple[list[int], list[str]]:
    """Offsets of `diff --git` headers in a diff and the new path each names."""
    offsets, paths = [], []
    for m in _DIFF_HEADER.finditer(data):
        eol = data.find(b"\n", m.end())
        offsets.append(m.start())
        header = data[m.end() : eol if eol >= 0 else len(data)].decode("utf-8", "replace")
        paths.append(header.rsplit(" b/", 1)[-1].strip('"'))  # "a/<old> b/<new>": the new path
    return offsets, paths


def _scan(text: str, path: str) -> list[_Finding]:
    findings: list[_Finding] = []
    data = text.encode("utf-8", "surrogatepass")
    low = data.lower()
    header_offsets, header_paths = _diff_paths(data) if b"diff --git " in data else ([], [])

    def path_at(offset: int) -> str:  # in a diff, the file a byte offset belongs to
        i = bisect.bisect_right(header_offsets, offset) - 1
        return header_paths[i] if i >= 0 else path

    # the start of every line with a trigger, each line once, in order
    starts = sorted({data.rfind(b"\n", 0, at) + 1 for at in _candidate_offsets(low)})
    if starts:
        from .secret_lines import scan_line  # detect-secrets, ~50-80 ms: only for a text with a candidate line
    line_no, counted_to = 1, 0
    for start in starts:
        line_no += data.count(b"\n", counted_to, start)
        counted_to = start
        end = data.find(b"\n", start)
        line = data[start : end if end >= 0 else len(data)].decode("utf-8", "surrogatepass")
        line_path = path_at(start)
        for s, e, kind in _merge(scan_line(line.rstrip("\r"), line_path)):
            findings.append(_Finding(line_no, s, line_no, e, kind, line_path))

    if "PRIVATE KEY" in text:
        for m in _PEM_BLOCK.finditer(text):
            first = text.count("\n", 0, m.start()) + 1
            begin_col = m.start() - (text.rfind("\n", 0, m.start()) + 1)
            end_col = m.end() - (text.rfind("\n", 0, m.end()) + 1)
            last = first + m.group().count("\n")
            where = path_at(len(text[: m.start()].encode("utf-8", "surrogatepass")))
            findings.append(_Finding(first, begin_col, last, end_col, "private-key", where))
    return findings


def find_secrets(text: str, path: str = "") -> list[SecretHit]:
    """Secrets in `text`: one hit per line and kind, sorted by line. Values are never returned.

    `path` picks detect-secrets' per-filetype rules (e.g. `.env` allows unquoted values); in a
    unified diff each line uses its own file's path. Blocking: run big inputs off the event loop.
    """
    hits = {SecretHit(f.line_no, f.kind, f.path) for f in _scan(text, path)}
    # A PEM header is found twice (PrivateKeyDetector and the block pattern): one hit.
    return sorted(hits, key=lambda h: (h.line_no, h.kind))


def contains_secret(text: str, path: str = "") -> bool:
    return bool(_scan(text, path))


def contains_secret_many(texts: Sequence[str], path: str = "") -> list[bool]:
    """`[contains_secret(t, path) for t in texts]`, with stage 1 run once over all of them.

    Only texts with a candidate go through `_scan`: on 2,000 prompts of ~350 characters this costs
    0.6 us a text with Hyperscan (6.7 with `re`), against 2.9 (16.5) for `contains_secret` on each.
    """
    # No candidate pattern can match a newline (literals, `[^\s/@]`, `[^\n]`, `[a-z0-9...]`, and
    # spaces without one), as parts_matched needs.
    hit = parts_matched([t.encode("utf-8", "surrogatepass").lower() for t in texts], _candidate_offsets)
    # `_scan`'s PEM check needs "PRIVATE KEY", which lowercased is a candidate ("p(?:rivate key").
    return [i in hit and contains_secret(text, path) for i, text in enumerate(texts)]


def redact(text: str, path: str = "") -> str:
    """`text` with each secret replaced by `[REDACTED:<kind>]` (a PEM key: its whole block)."""
    findings = _scan(text, path)
    if not findings:
        return text
    lines = text.split("\n")
    by_line: dict[int, list[tuple[int, int, str, int]]] = {}
    dropped: set[int] = set()
    for f in findings:
        if f.end_line_no == f.line_no:
            by_line.setdefault(f.line_no, []).append((f.start, f.end, f.kind, 1))
            continue
        # Multi-line block: keep the text before it on its first line and after it on its last.
        first, last = lines[f.line_no - 1], lines[f.end_line_no - 1]
        lines[f.line_no - 1] = first[: f.start] + f"[REDACTED:{f.kind}]" + last[f.end :]
        dropped.update(range(f.line_no + 1, f.end_line_no + 1))
        by_line.pop(f.line_no, None)  # its single-line findings lie inside the block
    for line_no, found in by_line.items():
        if line_no in dropped:
            continue
        line = lines[line_no - 1]
        for start, end, kind in reversed(_merge(found)):
            line = line[:start] + f"[REDACTED:{kind}]" + line[end:]
        lines[line_no - 1] = line
    return "\n".join(line for i, line in enumerate(lines, 1) if i not in dropped)
