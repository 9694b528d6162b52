"""Find secrets in text before it leaves the machine, and redact them.

Two rule sets run here: gitleaks' (`rulesets`, vendored and pinned) and detect-secrets' token and
entropy plugins (`secret_lines`), with our own patterns beside each. Running them line by line
over a 100,000-line staged diff would be far too slow, so the scan has two stages:

1. one pass over the whole (ASCII-lowercased) text finds candidate lines, and for each the rules
   that could match it: detect-secrets' candidates (token prefixes, secret-sounding names before
   an operator, credentials in a URL, long quoted strings) as one expression, and each rule's
   keyword prefilter. Hyperscan (Intel's multi-pattern matcher) runs them all at once, ~25 ms of
   CPU a MB of code, stage 2 included; where its wheel is missing, `re` runs them as passes
   (~130 ms).
2. only candidate lines go through the rules they were flagged for (`rulesets.scan_line`) and,
   when detect-secrets' expression flagged them, its plugin classes (`secret_lines`, imported on
   the first such line: detect-secrets takes ~50-80 ms to import). Names and values that stand
   apart (an XML key/value pair, a YAML block scalar, nested keys) are scanned joined. Whole PEM
   blocks are found here.

Hits carry the line and the kind, never the value. detect-secrets plugins left out on purpose:
IPPublic (an IP is not a credential), its keyword plugin (the rule sets cover its forms at a
fraction of its cost), Twilio, Mailchimp, Telegram, Discord, Artifactory, Cloudant, IBM and
SoftLayer (gitleaks' rules cover those, with keyword prefilters).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from . import rulesets
from .multimatch import Background, PatternSet, parts_matched

__all__ = ["SecretHit", "contains_secret", "contains_secret_many", "find_secrets", "redact", "secret_spans"]


@dataclass(frozen=True)
class SecretHit:
    """A secret found on a line. Kinds: aws-key, azure-storage-key, github-token, gitlab-token,
    jwt, npm-token, openai-key, anthropic-key, private-key, pypi-token, sendgrid-key,
    slack-token, square-oauth-secret, stripe-key, connection-string, secret-assignment,
    high-entropy-string (detect-secrets' and ours); a gitleaks rule's id (`adafruit-api-key`);
    ours: prefixed-token, authorization-header, bearer-token, xml-secret-element."""

    line_no: int  # 1-based line of the scanned text
    kind: str
    path: str = ""  # the file the line belongs to: the `path` argument, or the diff's file


# Stage 1, run on text.encode().lower(): ASCII-only lowercasing keeps byte offsets, and factoring
# the alternatives by first letter keeps the regex engine's scan fast (measured 4x over (?i)).
#
# A secret-sounding name (password, secret, api_key...) is a candidate only where one of the
# code-form patterns of `secret_lines` (detect-secrets' keyword forms) could match it, or NAME=value: the name, a suffix, a
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


def _ds_offsets_re(low: bytes) -> list[int]:
    short = len(low) < _ONE_PASS_BELOW
    out = [m.start() for rx in (_CANDIDATE_ONE if short else _CANDIDATES) for m in rx.finditer(low)]
    for rx in _NAMES_TAILED_ONE if short else _NAMES_TAILED:
        for m in rx.finditer(low):
            # `"x" == password`: "==", "!=" (or "!!", "=!") before the name on its line
            if m.group(1) is not None or _COMPARISON.search(low, low.rfind(b"\n", 0, m.start()) + 1, m.start()):
                out.append(m.start())
    return out


# Characters of the rules' literal heads: a head lies inside one run of them. On a long text the
# heads are looked for in its distinct runs, joined (a tenth of a prose text's size or less), and
# only the heads found there in the text itself: 2,000 prompts, ~700 KB, take ~20 ms, not ~170.
_HEAD_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_-.~+/:")
_NOT_HEAD = bytes(c if c in _HEAD_CHARS else 32 for c in range(256))
_DISTINCT_ABOVE = 16384  # bytes


def _rule_offsets_re(low: bytes) -> list[tuple[int, int]]:
    """(rule index, offset) of each rule prefilter's match, on `re`: a prefilter whose leading
    literal is absent (most, in any one text) costs one substring search; the others that share
    a tail (the generic names and their operators) run as one pass."""
    out = []
    runs = b" ".join(set(low.translate(_NOT_HEAD).split())) if len(low) > _DISTINCT_ABOVE else None
    present: dict[bytes, bool] = {}
    tails: dict[bytes, list[rulesets.Prefilter]] = {}
    for pre in rulesets.prefilters():
        found = present.get(pre.head)
        if found is None:
            skip = runs is not None and pre.head and _HEAD_CHARS.issuperset(pre.head) and pre.head not in runs
            found = present[pre.head] = not skip and pre.head in low
        if not found:
            continue
        if pre.literal:
            at = low.find(pre.head)
            while at >= 0:
                out.append((pre.rule, at))
                at = low.find(pre.head, at + 1)
        else:
            tails.setdefault(pre.tail, []).append(pre)
    for tail, pres in tails.items():
        if len(pres) == 1:
            out += [(pres[0].rule, m.start()) for m in _compiled(pres[0].pattern).finditer(low)]
            continue
        # One alternation finds the lines; on each, every prefilter of the group is tried (an
        # alternation's match may hide another head inside it: `apikey=`).
        seen: set[int] = set()
        for m in _grouped(tail, tuple(sorted({p.head for p in pres}))).finditer(low):
            start = low.rfind(b"\n", 0, m.start()) + 1
            if start in seen:
                continue
            seen.add(start)
            end = low.find(b"\n", m.end())
            end = len(low) if end < 0 else end
            out += [(p.rule, start) for p in pres
                    if p.head in low[start:end] and _compiled(p.pattern).search(low, start, end)]
    return out


@functools.lru_cache(maxsize=None)
def _grouped(tail: bytes, heads: tuple[bytes, ...]) -> re.Pattern[bytes]:
    return re.compile(b"(?:" + b"|".join(re.escape(h) for h in heads) + b")" + tail)


@functools.lru_cache(maxsize=None)
def _compiled(pattern: bytes) -> re.Pattern[bytes]:
    return re.compile(pattern)


def _offsets_re(low: bytes) -> list[int]:
    return _ds_offsets_re(low) + [at for _, at in _rule_offsets_re(low)]


# All candidate patterns in one Hyperscan set (`multimatch`): detect-secrets' candidates as one
# expression (id 0: 0.5 us a 350-character prompt in a batch against 5.7 for `re`; one expression
# compiles in a third of the time of 17, ~20 ms, and scans as fast), then each rule prefilter
# (id 1 + its index), so one scan says which rules each line needs. In `route`, `re` runs until it
# has compiled on its own thread.
#
# `_COMPARED_NAME` is a set of its own, one pattern per operator: with it in one set with the AWS
# pattern, Hyperscan 0.9.1 reported no match in "000000000000000==password", nor, with `[!=]{2}`
# alone, in "akia000000000000000:000==client_key"; `re` does, and so does each operator's own
# pattern (test_hyperscan_and_re_find_the_same_candidate_lines found both).
_EXPRESSION = b"|".join(_CANDIDATE_PATTERNS)


def _patterns() -> list[bytes]:
    return [_EXPRESSION, *(pre.pattern for pre in rulesets.prefilters())]


_OPERATORS = (b"==", b"!=", b"!!", b"=!")  # `[!=]{2}`, each the start of one pattern of the compared-name set
_ENGINE: Background | None = None  # built on first use: the rule set loads then
_COMPARED = Background([op + _COMPARED_NAME[len(rb"[!=]{2}"):] for op in _OPERATORS])


def _engine() -> Background:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Background(_patterns())
    return _ENGINE


_EQUALS, _BANG = b"=!"  # as ints: `int in bytes` is a memchr, where `bytes in bytes` first tries int()


def _compares(data: bytes) -> bool:
    """Whether `data` may hold one of `_OPERATORS`. A question in prose rarely has "=" or "!": two
    one-byte searches (~0.04 us at 400 bytes) then spare it the second scan (~0.8 us). (Searching
    for the four pairs themselves costs more than that scan: ~2 us on code.)"""
    return _EQUALS in data or _BANG in data


class _Sets:
    """The two sets as one: the compared-name set's matches count as id 0's (it is scanned only
    where one of its operators may be)."""

    def __init__(self, main: PatternSet, compared: PatternSet):
        self.main, self.compared = main, compared

    def ends(self, data: bytes) -> list[int]:
        return self.main.ends(data) + self.compared.ends(data) if _compares(data) else self.main.ends(data)

    def matches(self, data: bytes) -> list[tuple[int, int]]:
        found = self.main.matches(data)
        if _compares(data):
            found += [(0, at) for at in self.compared.ends(data)]
        return found


_JOINED: _Sets | None = None  # the last two sets joined: every scan asks for them


def _hyperscan(wait: bool | None = None) -> _Sets | None:
    global _JOINED
    main = _engine().get(wait)
    compared = _COMPARED.get(wait) if main is not None else None
    if compared is None:
        return None
    joined = _JOINED
    if joined is None or joined.main is not main or joined.compared is not compared:
        joined = _JOINED = _Sets(main, compared)
    return joined


def _candidate_offsets(low: bytes) -> list[int]:
    """An offset inside each stage-1 match in `low`: the lines to hand to stage 2."""
    engine = _hyperscan()
    return engine.ends(low) if engine is not None else _offsets_re(low)


def _line_start(low: bytes, at: int) -> int:
    return low.rfind(b"\n", 0, at) + 1


def _candidate_lines(low: bytes) -> tuple[set[int], dict[int, set[int]]]:
    """Stage 1: (starts of lines for detect-secrets' plugins, line start -> rule indices)."""
    ds: set[int] = set()
    by_line: dict[int, set[int]] = {}
    engine = _hyperscan()
    if engine is not None:
        pres = rulesets.prefilters()
        for pattern_id, at in engine.matches(low):
            if pattern_id == 0:
                ds.add(_line_start(low, at))
            else:
                by_line.setdefault(_line_start(low, at), set()).add(pres[pattern_id - 1].rule)
        return ds, by_line
    ds = {_line_start(low, at) for at in _ds_offsets_re(low)}
    for rule, at in _rule_offsets_re(low):
        by_line.setdefault(_line_start(low, at), set()).add(rule)
    return ds, by_line


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
    # the start of every line with a trigger, each line once, in order
    ds_starts, rule_lines = _candidate_lines(low)
    # A PEM header lowercased is a candidate of detect-secrets' expression ("p(?:rivate key"): with
    # no such line there is none, and no line or block to name a diff's file for. Most texts stop
    # here, without the two searches of the whole text (~4 us at 5 KB).
    if not ds_starts and not rule_lines:
        return findings
    header_offsets, header_paths = _diff_paths(data) if b"diff --git " in data else ([], [])

    def path_at(offset: int) -> str:  # in a diff, the file a byte offset belongs to
        i = bisect.bisect_right(header_offsets, offset) - 1
        return header_paths[i] if i >= 0 else path

    if ds_starts:
        from .secret_lines import scan_line  # detect-secrets, ~50-80 ms: only for a text with a candidate line
    line_no, counted_to = 1, 0
    for start in sorted(ds_starts | rule_lines.keys()):
        line_no += data.count(b"\n", counted_to, start)
        counted_to = start
        end = data.find(b"\n", start)
        line = data[start : end if end >= 0 else len(data)].decode("utf-8", "surrogatepass").rstrip("\r")
        line_path = path_at(start)
        found = scan_line(line, line_path) if start in ds_starts else []
        indices = rule_lines.get(start)
        if indices:
            found += rulesets.scan_line(line, line_path, indices)
            findings += _rewritten(data, line, end, line_no, line_path)
        for s, e, kind in _merge(found):
            findings.append(_Finding(line_no, s, line_no, e, kind, line_path))

    if ds_starts and "PRIVATE KEY" in text:
        for m in _PEM_BLOCK.finditer(text):
            first = text.count("\n", 0, m.start()) + 1
            begin_col = m.start() - (text.rfind("\n", 0, m.start()) + 1)
            end_col = m.end() - (text.rfind("\n", 0, m.end()) + 1)
            last = first + m.group().count("\n")
            where = path_at(len(text[: m.start()].encode("utf-8", "surrogatepass")))
            findings.append(_Finding(first, begin_col, last, end_col, "private-key", where))
    return findings


def _line_at(data: bytes, start: int) -> tuple[str, int]:
    """(the line that starts at `start`, without its newline; the offset of that newline or -1)."""
    end = data.find(b"\n", start)
    return data[start : end if end >= 0 else len(data)].decode("utf-8", "surrogatepass").rstrip("\r"), end


def _as_assignment(name: str, value: str, line_no: int, value_col: int, path: str) -> list[_Finding]:
    """Scan `name: value`, a name and a value that stand apart in the text, as one line; a
    finding counts only inside the value, at its place (`value_col`) on line `line_no`."""
    joined = f"{name}: {value}"
    at = len(name) + 2
    indices = {rule for rule, _ in _rule_offsets_re(joined.encode("utf-8", "surrogatepass").lower())}
    found = _merge(rulesets.scan_line(joined, path, indices)) if indices else []
    return [_Finding(line_no, s - at + value_col, line_no, e - at + value_col, kind, path)
            for s, e, kind in found if s >= at]


_CHILDREN_SCANNED = 20  # lines after a `parent:` line


def _rewritten(data: bytes, line: str, end: int, line_no: int, path: str) -> list[_Finding]:
    """A flagged line whose name and value stand apart: `<add key="k" value="v"/>`, a YAML block
    scalar (`k: |` then the value), a `parent:` or `[parent]` whose children's names it prefixes."""
    out = []
    # Each form needs a character most flagged lines of code lack ("=" in an attribute, ":" after
    # a YAML name): a `in` test costs a tenth of trying the pattern (~1 us a line for the three).
    if "=" in line:
        for m in rulesets.KEY_VALUE_ATTRIBUTES.finditer(line):
            if m.group(2):
                out += _as_assignment(m.group(1), m.group(2), line_no, m.start(2), path)
    if end < 0 or (":" not in line and "]" not in line):
        return out
    block = rulesets.BLOCK_SCALAR.match(line)
    if block:
        value_line, _ = _line_at(data, end + 1)
        value = value_line.lstrip(" \t+-")
        if value:
            out += _as_assignment(block.group(1), value, line_no + 1, len(value_line) - len(value), path)
        return out
    parent = rulesets.PARENT_KEY.match(line)
    if parent:
        indent, name = len(parent.group(1).lstrip("+-")), parent.group(2) or parent.group(3)
        start, child_no = end + 1, line_no
        for _ in range(_CHILDREN_SCANNED):
            if start >= len(data):
                break
            child_line, child_end = _line_at(data, start)
            child_no += 1
            if child_line.strip(" \t+-"):
                child = rulesets.CHILD_KEY.match(child_line)
                if parent.group(2) and (child is None or len(child.group(1).lstrip("+-")) <= indent):
                    break  # YAML: back at the parent's level
                if child is None and child_line.lstrip(" \t+-").startswith("["):
                    break  # INI: the next section
                if child:
                    out += _as_assignment(f"{name}_{child.group(2)}", child.group(3), child_no, child.start(3), path)
            if child_end < 0:
                break
            start = child_end + 1
    return out


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
    ~2.5 us of CPU a text with Hyperscan (~45 with `re`, most of it the rule prefilters' literal
    heads looked for), measured at a load average of ~8 on 2 cores.
    """
    # No candidate pattern can match a newline (literals, `[^\s/@]`, `[^\n]`, `[a-z0-9...]`, and
    # spaces without one), as parts_matched needs.
    hit = parts_matched([t.encode("utf-8", "surrogatepass").lower() for t in texts], _candidate_offsets)
    # `_scan`'s PEM check needs "PRIVATE KEY", which lowercased is a candidate ("p(?:rivate key").
    return [i in hit and contains_secret(text, path) for i, text in enumerate(texts)]


def secret_spans(text: str, path: str = "") -> list[tuple[int, int, str]]:
    """(start, end, kind) of each secret value in `text`, as offsets into it, sorted and without
    overlaps (a PEM key: its whole block). For `context.redaction`; never logged."""
    findings = _scan(text, path)
    if not findings:
        return []
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    found = [(starts[f.line_no - 1] + f.start, starts[f.end_line_no - 1] + f.end, f.kind, 0) for f in findings]
    return [(s, e, kind) for s, e, kind in _merge(found) if e > s]


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
