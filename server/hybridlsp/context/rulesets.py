"""The vendored public rule set (gitleaks' default config) and ours, as stage 2 of the secret scan.

`secret_rules/compiled.json` is gitleaks' config translated to Python `re` by
tools/update_secret_rules.py (`make update-secret-rules`): each rule has a regex, the group that
is the secret, an entropy floor, allowlists, and stage-1 prefilters (lowercased byte patterns,
valid for Hyperscan and `re`) that match every line the rule could match. `secrets` runs all the
prefilters in its one pass and hands each flagged line here with the rules it flagged; a rule's
regex is compiled the first time a line needs it.

The semantics are gitleaks': the secret is the rule's `secretGroup`, else the first non-empty
group, else the whole match; a secret at or below the entropy floor is no finding, nor is a
generic one without a digit; an allowlist (on the secret, the match or the line; OR or AND of its
parts) or a global one drops it. Rules gitleaks writes for whole files (multi-line `curl`,
Kubernetes manifests) see one line at a time here.

`OWN_RULES` add what gitleaks' line patterns miss: XML elements, Authorization and Bearer
headers, names that say secret before a value of any characters, and tokens that name their
issuer by a prefix in formats no rule knows. `BLOCK_SCALAR`, `PARENT_KEY`/`CHILD_KEY` and
`KEY_VALUE_ATTRIBUTES` find names and values that stand apart, which `secrets` joins and rescans.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BLOCK_SCALAR", "CHILD_KEY", "KEY_VALUE_ATTRIBUTES", "PARENT_KEY", "Prefilter", "Rule", "prefilters", "rules",
           "scan_line", "source", "untranslated"]

_DATA = Path(__file__).with_name("secret_rules") / "compiled.json"

# Our own rules, in the compiled form. Names that say secret, then a value with a digit.
_SECRET_NAME = r"[\w.-]{0,40}?(?:passw(?:or)?d|secret|token|api[_.-]?key|access[_.-]?key|private[_.-]?key|credentials?|auth[_.-]?key)[\w.-]{0,20}"
# Stage-1 prefilters start with a literal (the `re` path looks for it first): one per head.
_NAME_HEADS = (b"passw", b"secret", b"token", b"key", b"credential")


def _each(heads: tuple[bytes, ...], tail: bytes) -> list[str]:
    return [(head + tail).decode() for head in heads]


OWN_RULES: list[dict] = [
    {   # <password>value</password>
        "id": "xml-secret-element",
        "regex": r"(?i)<(" + _SECRET_NAME + r")>([^<>\s]{8,200})</\1>",
        "secret_group": 2, "entropy": 3.0,
        "prefilters": _each(_NAME_HEADS, rb"[a-z0-9_.-]{0,20}>"),
    },
    {   # Authorization: Bearer <token> in logs, curl lines, HTTP dumps
        "id": "authorization-header",
        "regex": r"(?i)\b(?:authorization|x-api-key|x-auth-token|api-key)[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|token|basic|apikey)\s+)?([A-Za-z0-9._~+/-]{16,}=*)",
        "secret_group": 1, "entropy": 3.0,
        "prefilters": _each((b"authorization", b"x-api-key", b"x-auth-token", b"api-key"), rb"[\"']?[ \t]*[:=]"),
    },
    {
        "id": "bearer-token",
        "regex": r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{20,}=*)",
        "secret_group": 1, "entropy": 3.5,
        "prefilters": _each((b"bearer",), rb"[ \t]+[a-z0-9._~+/-]{20}"),
    },
    {   # NAME=value, NAME: value, "name": "value" with any characters in the value (passwords
        # with punctuation, which gitleaks' generic rule leaves out): a long, mixed value only
        "id": "secret-assignment",
        "regex": r"(?i)(?:^|[^\w.-])(" + _SECRET_NAME + r")[\"']?[ \t]*(?:=|:=|:|=>)[ \t]*[\"'`]?([^\s\"'`,;<>(){}\[\]]{10,1000})(?:[\"'`\s,;]|$)",
        "secret_group": 2, "entropy": 3.2, "mixed": True,
        "prefilters": _each(_NAME_HEADS, rb"[a-z0-9_.-]{0,20}[\"']?[ \t]*[=:]"),
    },
]

# A name that ends in "key" alone (`ETSY_KEY`, `service_key`) says less than "secret" does
# (`sort_key`, `primary_key: id`): the value must be long, random-looking and no chain of words.
OWN_RULES.append({
    "id": "secret-assignment",
    "regex": r"(?i)(?:^|[^\w.-])([\w.-]{0,40}?key)[\"']?[ \t]*(?:=|:=|:|=>)[ \t]*[\"'`]?([^\s\"'`,;<>(){}\[\]]{16,1000})(?:[\"'`\s,;]|$)",
    "secret_group": 2, "entropy": 3.8, "mixed": True, "shape": "keyed",
    "prefilters": _each((b"key",), rb"[\"']?[ \t]*[=:]"),
})

# A token that names its issuer by a prefix (`pcsk_`, `sk-or-v1-`, `HRKU-`), of a format no rule
# knows: a prefix, a separator, then a long random body (checked by `_random_body`).
OWN_RULES.append({
    "id": "prefixed-token",
    "regex": r"(?<![A-Za-z0-9_.+/=-])((?!(?:sha|md)\d*-)[A-Za-z][A-Za-z0-9]{1,14}(?:[_.-][A-Za-z0-9]{1,14}){0,3}[_.-]"
             r"([A-Za-z0-9_-][A-Za-z0-9_.+/=-]{15,}))",
    "secret_group": 1, "entropy": 0.0, "shape": "token",
    "prefilters": [rb"[_.-][a-z0-9]{16}".decode(), rb"[_.-][a-z]{0,10}[0-9][a-z0-9]{3,14}[_+/=-]".decode()],
})

# Forms where the name and the value are apart: `secrets` rewrites each as `name: value` and
# scans that. `name: |` / `name: >-`, a YAML block scalar: the value is the next line.
BLOCK_SCALAR = re.compile(r"^[ \t+-]*[\"']?([\w.-]+)[\"']?[ \t]*:[ \t]*[|>][-+0-9]*[ \t]*$")
# `parent:` alone on its line (YAML, or INI's `[parent]`): its children's names get its name
PARENT_KEY = re.compile(r"^([ \t+-]*)(?:[\"']?([\w.-]+)[\"']?[ \t]*:|\[([\w.-]+)\])[ \t]*(?:#.*)?$")
CHILD_KEY = re.compile(r"^([ \t+-]*)[\"']?([\w.-]+)[\"']?[ \t]*[:=][ \t]*(\S.*)$")
# <add key="name" value="..."/>
KEY_VALUE_ATTRIBUTES = re.compile(r"(?i)\b(?:key|name)[ \t]*=[ \t]*[\"']([\w.:-]+)[\"'][ \t]+value[ \t]*=[ \t]*[\"']([^\"']*)[\"']")


_LAZY_NAME = r"(?i)[\w.-]{0,50}?"


@dataclass
class Rule:
    id: str
    pattern: str
    secret_group: int
    entropy: float
    path: str | None = None
    allowlists: list[dict] = field(default_factory=list)
    keywords: tuple[str, ...] = ()
    generic: bool = False
    mixed: bool = False  # the secret must mix letters and digits (our any-character rule)
    token: bool = False  # group 2 must look random (our prefixed-token rule)
    keyed: bool = False  # the value must not be a chain of words (our "...key = value" rule)

    @functools.cached_property
    def rx(self) -> re.Pattern[str]:
        # gitleaks' name template starts `(?i)[\w.-]{0,50}?`: tried at every position of a line,
        # that lazy prefix made each search O(50 n). The name is searched for instead, and the
        # match extended back over the name's characters (`match_start`).
        if self.pattern.startswith(_LAZY_NAME):
            return re.compile("(?i)" + self.pattern[len(_LAZY_NAME):], re.ASCII)
        return re.compile(self.pattern, re.ASCII)

    def match_start(self, line: str, m: re.Match[str]) -> int:
        start = m.start()
        if self.pattern.startswith(_LAZY_NAME):
            floor = max(0, start - 50)
            while start > floor and (line[start - 1].isascii() and (line[start - 1].isalnum() or line[start - 1] in "_.-")):
                start -= 1
        return start

    @functools.cached_property
    def path_rx(self) -> re.Pattern[str] | None:
        return re.compile(self.path, re.ASCII) if self.path else None

    @functools.cached_property
    def needs(self) -> re.Pattern[str] | None:
        """What a line must hold for `scan_line` to find anything with this rule, or None.

        Stage 1's prefilters see a name and an operator (`key ... :`), not the value, so in code
        most lines they flag for the generic rules have no value that could pass (`except
        KeyboardInterrupt:`): ~5 us of this rule's regex each. A generic or mixed secret holds a
        decimal digit (as `scan_line` checks) and a prefixed token's body two ASCII digits in its
        run of token characters (`_random_body`), both inside the line: a line without them is
        skipped before the regex (on 100,000 tokens of the standard library, 22 of 200 rule
        checks remain)."""
        if self.token:
            return _TWO_DIGITS_IN_A_TOKEN
        return _DIGIT if self.generic or self.mixed else None


@functools.lru_cache(maxsize=1)
def _load() -> dict:
    return json.loads(_DATA.read_text(encoding="utf-8"))


def source() -> str:
    """Which pinned rule set is compiled in, e.g. "gitleaks 8.30.1"."""
    return _load()["source"]


def untranslated() -> list[dict]:
    """The pinned set's rules left out, each with the reason (`id`, `reason`)."""
    return _load()["untranslated"]


@dataclass(frozen=True)
class Prefilter:
    pattern: bytes  # on lowercased text; never matches a newline
    head: bytes  # the literal it starts with (or b""): where it is absent, the pattern cannot match
    literal: bool  # the pattern is its head
    rule: int  # index into rules()
    tail: bytes = b""  # the pattern after its head


_META = set(b"[(.*+?{|^$")


def _head(pattern: bytes) -> tuple[bytes, int]:
    """The literal a pattern starts with, and where in the pattern it ends."""
    out, i = bytearray(), 0
    while i < len(pattern):
        c = pattern[i]
        if c == ord("\\") and i + 1 < len(pattern) and not chr(pattern[i + 1]).isalnum():
            nxt, step = pattern[i + 1], 2
        elif c in _META or c == ord("\\"):
            break
        else:
            nxt, step = c, 1
        if i + step < len(pattern) and pattern[i + step] in b"?*{":
            break  # that character may be absent
        out.append(nxt)
        i += step
    return bytes(out), i


@functools.lru_cache(maxsize=1)
def rules() -> list[Rule]:
    """gitleaks' rules, then ours."""
    return [Rule(r["id"], r["regex"], r.get("secret_group", 0), r.get("entropy", 0.0), r.get("path"),
                 r.get("allowlists", []), tuple(r.get("keywords", ())), generic=r["id"].startswith("generic"), mixed=r.get("mixed", False),
                 token=r.get("shape") == "token", keyed=r.get("shape") == "keyed")
            for r in [*_load()["rules"], *OWN_RULES]]


@functools.lru_cache(maxsize=1)
def prefilters() -> list[Prefilter]:
    out = []
    for i, r in enumerate([*_load()["rules"], *OWN_RULES]):
        for p in r["prefilters"]:
            pattern = p.encode()
            head, end = _head(pattern)  # b"" (no literal head): the `re` path always runs it
            out.append(Prefilter(pattern, head, end == len(pattern), i, pattern[end:]))
    return out


@functools.lru_cache(maxsize=1)
def _global_allowlist() -> tuple[list[re.Pattern[str]], list[str]]:
    g = _load()["global_allowlist"]
    return [re.compile(x, re.ASCII) for x in g["regexes"]], g["stopwords"]


@functools.lru_cache(maxsize=64)
def _compiled_allowlist(rule_id: str, index: int) -> tuple[list[re.Pattern[str]], re.Pattern[str] | None, list]:
    rule = next(r for r in rules() if r.id == rule_id)
    a = rule.allowlists[index]
    stop = re.compile("|".join(map(re.escape, a["stopwords"]))) if a["stopwords"] else None
    return [re.compile(x, re.ASCII) for x in a["regexes"]], stop, [re.compile(x, re.ASCII) for x in a["paths"]]


def entropy(s: str) -> float:
    """Shannon entropy in bits per character, as gitleaks computes it."""
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values()) if n else 0.0


def _allowed(rule: Rule, secret: str, match: str, line: str, path: str) -> bool:
    regexes, stopwords = _global_allowlist()
    low = secret.lower()
    if any(rx.search(secret) for rx in regexes) or any(w in low for w in stopwords):
        return True
    for i, a in enumerate(rule.allowlists):
        rxs, stop, paths = _compiled_allowlist(rule.id, i)
        target = {"secret": secret, "match": match, "line": line}[a["target"]]
        checks = []
        if rxs:
            checks.append(any(rx.search(target) for rx in rxs))
        if stop is not None:
            checks.append(stop.search(low) is not None)
        if paths:
            checks.append(any(rx.search(path) for rx in paths))
        if checks and (all(checks) if a["condition"] == "AND" else any(checks)):
            return True
    return False


_DIGIT = re.compile(r"\d")
_TWO_DIGITS_IN_A_TOKEN = re.compile(r"[0-9][A-Za-z0-9_.+/=-]*[0-9]")  # the token rule's body characters
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")  # ctypes.c_int32: a reference in code
_LETTER = re.compile(r"[A-Za-z]")


_HEX = re.compile(r"[0-9a-fA-F]+")


_WORDS = re.compile(r"[A-Z]?[a-z]{3,}|[A-Z]{3,}(?![a-z])")


def _wordy(body: str) -> bool:
    """Mostly words (`PositionEncodingKind.Utf16`, `InvalidBase64PaddingDefect`): runs of 4+
    letters cover most letters and hold vowels as words do (random letters: ~20 % vowels)."""
    words = [w for w in _WORDS.findall(body) if len(w) >= 4]
    covered = sum(map(len, words))
    vowels = sum(c in "aeiouAEIOU" for w in words for c in w)
    return covered >= 0.6 * sum(c.isalpha() for c in body) and vowels >= 0.3 * covered


def _random_body(body: str) -> bool:
    """Random-looking, not a word chain or a hash: 16+ characters with 2+ digits and 2+ letters;
    mixed case at 3.5 bits a character, or one case (not hex: hashes) at 24+ and 3.7 bits."""
    if len(body) < 16 or sum(c.isdigit() for c in body) < 2 or sum(c.isalpha() for c in body) < 2:
        return False
    if _wordy(body):
        return False
    if any(c.isupper() for c in body) and any(c.islower() for c in body):
        return entropy(body) >= 3.5
    bare = body.replace("-", "").replace("_", "")
    return len(body) >= 24 and not _HEX.fullmatch(bare) and entropy(body) >= 3.7


def scan_line(line: str, path: str, indices: set[int]) -> list[tuple[int, int, str, float]]:
    """(start, end, rule id, rank) of each secret the rules at `indices` find in one line."""
    all_rules = rules()
    found = []
    for i in sorted(indices):
        rule = all_rules[i]
        if rule.path_rx is not None and not rule.path_rx.search(path):
            continue
        if rule.needs is not None and not rule.needs.search(line):
            continue
        for m in rule.rx.finditer(line):
            g = rule.secret_group
            if g == 0 and m.re.groups:
                g = next((k for k in range(1, m.re.groups + 1) if m.group(k)), 0)
            secret = m.group(g)
            if not secret:
                continue
            if rule.entropy and entropy(secret) <= rule.entropy:
                continue
            if (rule.generic or rule.mixed) and not _DIGIT.search(secret):
                continue
            if rule.mixed and (not _LETTER.search(secret) or _DOTTED.fullmatch(secret)):
                continue
            if rule.mixed and secret.lower() == m.group(1).lower():
                continue  # `"max_tokens": max_tokens`: keyword arguments passed on by name
            if rule.keyed and _wordy(secret):
                continue
            if rule.token:
                body = m.group(2).rstrip("._-")
                if not _random_body(body):
                    continue
                secret = secret[: len(secret) - (len(m.group(2)) - len(body))]
            if _allowed(rule, secret, line[rule.match_start(line, m) : m.end()], line, path):
                continue
            # gitleaks-specific formats name the finding before our generic assignment rules
            rank = 2.5 if rule.generic or rule.mixed else 0.5
            start = m.start(g)
            found.append((start, start + len(secret), rule.id, 2.8 if rule.token else rank))
    return found
