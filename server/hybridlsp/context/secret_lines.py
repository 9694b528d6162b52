"""Stage 2 of the secret scan: the secrets one candidate line holds, and where (`secrets`).

detect-secrets' token and entropy plugin classes, called directly (`analyze_string`, never
`analyze_line`: that path may call `verify`, i.e. the network), plus its heuristic filters, plus
our patterns for what it lacks (Anthropic keys, OpenAI project keys, connection strings with any
password characters, unquoted NAME=value assignments). Names that say secret with a value after
them are the rule sets' (`rulesets`). Its own module because importing detect-secrets (and requests
with it) takes ~50-80 ms: a text with no candidate line, most prompts, never pays it.
"""

from __future__ import annotations

import math
import re

from detect_secrets.filters import heuristic
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.high_entropy_strings import (
    Base64HighEntropyString,
    HexHighEntropyString,
    HighEntropyStringsPlugin,
)
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector

from .rulesets import entropy

__all__ = ["scan_line"]

# Findings are (start, end, kind, rank); on overlapping findings the lowest rank names the kind.

# detect-secrets' token detectors: (plugin, kind, rank, hints). A line is handed to a plugin only
# if its lowercased text holds one of the hints, literals every one of the plugin's patterns
# needs: most candidate lines then skip most plugins, which is where the time went.
_TOKEN_PLUGINS: list[tuple[RegexBasedDetector, str, int, tuple[str, ...]]] = [
    (AWSKeyDetector(), "aws-key", 0, ("akia", "asia", "abia", "acca", "a3t", "aws")),
    (AzureStorageKeyDetector(), "azure-storage-key", 0, ("accountkey=",)),
    (GitHubTokenDetector(), "github-token", 0, ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    (GitLabTokenDetector(), "gitlab-token", 0, ("gl", "gr1348941")),
    (JwtTokenDetector(), "jwt", 0, ("eyj",)),
    (NpmDetector(), "npm-token", 0, ("_authtoken=",)),
    (OpenAIDetector(), "openai-key", 0, ("t3blbkfj",)),
    (PrivateKeyDetector(), "private-key", 0, ("private key", "putty-user-key-file")),
    (PypiTokenDetector(), "pypi-token", 0, ("pypi-ag",)),
    (SendGridDetector(), "sendgrid-key", 0, ("sg.",)),
    (SlackDetector(), "slack-token", 0, ("xox", "hooks.slack.com")),
    (SquareOAuthDetector(), "square-oauth-secret", 0, ("sq0csp-",)),
    (StripeDetector(), "stripe-key", 0, ("k_live_",)),
    (BasicAuthDetector(), "connection-string", 1, ("://",)),
]
# Every hint found in a line, overlapping ones too, in one pass (not one substring search each)
_HINTS = re.compile("(?=(" + "|".join(sorted({re.escape(h) for *_, hints in _TOKEN_PLUGINS for h in hints},
                                              key=len, reverse=True)) + "))")
# Detectors whose pattern includes context (`aws...key = "`, `://user:`) around group 1.
_SECRET_IN_GROUP_1 = (AWSKeyDetector, BasicAuthDetector, NpmDetector)
_ENTROPY_PLUGINS: list[HighEntropyStringsPlugin] = [Base64HighEntropyString(), HexHighEntropyString()]

# detect-secrets' keyword list (its DENYLIST)
_NAME = (r"(?<![^\W_])[\w]*(?:passw(?:or)?d|pwd|secret|api_?key|auth_?key|priv(?:ate)?_?key"
         r"|service_?key|account_?key|client_?key|d(?:b|atabase)_?(?:key|pass)|key_?pass|contrase(?:n|ñ)a)\w*")
_QUOTED = r"[\"'`]([^\s\"'`]{6,200})[\"'`]"
# Ours, where detect-secrets has no detector. Group 1, when present, is the secret itself. The
# last element: literals one of which each match holds (case as in the line), so a line without
# any skips the pattern (most candidate lines hold none: a long quoted string, a name).
_NAME_LITERALS = ("pass", "pwd", "secret", "key", "contrase")
_OWN: list[tuple[re.Pattern[str], str, int, tuple[str, ...]]] = [
    (re.compile(r"sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_\-]{20,}"), "anthropic-key", 0, ("sk-",)),
    (re.compile(r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{20,}"), "openai-key", 0, ("sk-",)),
    # scheme://user:password@host, with any password characters (BasicAuth rejects $, ! ...).
    (re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:([^\s@/'\"]+)@[^\s/'\"]"), "connection-string", 1,
     ("://",)),
    # NAME=value in env/shell style, anywhere in a line (a .env file, or pasted into a question):
    # the keyword plugin needs quotes outside config files and does not know TOKEN names.
    # No spaces around "=": that is what tells it from code like `API_KEY = settings.api_key`.
    (
        re.compile(
            r"(?<![A-Za-z0-9_])[A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|PWD|CREDENTIALS?"
            r"|API_?KEY|ACCESS_?KEY|AUTH_?KEY|PRIVATE_?KEY|SECRET_?KEY)=[\"']?"
            r"([^\s\"'#;,]{8,}?)[)\]}]*(?=[\s\"'#;,]|$)"  # closing brackets belong to code
        ),
        "secret-assignment",
        2,
        tuple(f"{name}=" for name in ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "PWD", "CREDENTIAL", "CREDENTIALS",
                                      "KEY")),
    ),
    # Quoted values in the code forms detect-secrets' keyword plugin knew: `name = "v"` (also
    # `name[0]`, `config['name']`), `name.assign("v")`, `name "v";`, `"v" == name`. The rule sets
    # cover the common forms; these are the ones stage 1's detect-secrets candidates flag.
    *((re.compile(p), "secret-assignment", 2, _NAME_LITERALS) for p in (
        _NAME + r"(?:\[[^\]]{0,20}\]|[\]'\"]{0,2})\s*(?::=|=>|==|!=|=|:)\s*" + _QUOTED,
        _NAME + r"\.assign\(\s*" + _QUOTED,
        _NAME + r"\s+" + _QUOTED + r"\s*;",
    )),
    (re.compile(_QUOTED + r"\s*[!=]==?\s*[\w.\[\]'\"]*?" + _NAME), "secret-assignment", 2, ("==", "!=")),
]

# Values that name a secret rather than being one (`PASSWORD_FIELD = "password"`).
_PLACEHOLDERS = frozenset({"password", "passwd", "pwd", "secret", "token", "changeit", "xxx", "none", "null"})


def _value_filtered(value: str) -> bool:
    """detect-secrets' value heuristics: sequences, UUIDs, templates, $VARS, no letters."""
    return (
        heuristic.is_sequential_string(value)
        or heuristic.is_potential_uuid(value)
        or heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or heuristic.is_not_alphanumeric_string(value)
        or value.lower() in _PLACEHOLDERS
        or value.startswith(("{", "<", "%(", "[REDACTED:"))  # placeholders; our own redaction
    )


# A constant's name (`"DUMMY_KEY"`) or a dotted path (`ctypes.c_int32`): code, not a secret
_CODE_NAME = re.compile(r"[A-Z][A-Z_]*|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def _assigned_filtered(value: str) -> bool:
    """A value after a name that says secret: detect-secrets' heuristics, or code's names."""
    return _value_filtered(value) or _CODE_NAME.fullmatch(value) is not None


def _entropy(plugin: HighEntropyStringsPlugin, value: str) -> float:
    """`plugin.calculate_shannon_entropy(value)`, without its `str.count` per charset character
    (64 of them a string: most of a scan's time). Its values hold only charset characters."""
    e = entropy(value)
    if isinstance(plugin, HexHighEntropyString) and len(value) > 1 and value.isdigit():
        e -= 1.2 / math.log(len(value), 2)  # its correction for all-digit strings
    return e


def _placeholder(value: str) -> bool:
    """Values that stand for a secret: templates, $VARS, "password", "xxx", our placeholders."""
    return (
        heuristic.is_templated_secret(value)
        or value.startswith(("{", "<", "%(", "$", "[REDACTED:"))
        or value.lower() in _PLACEHOLDERS
        or set(value) <= set("*xX.")
    )


def scan_line(line: str, path: str) -> list[tuple[int, int, str, int]]:
    """(start, end, kind, rank) for every secret in one line; columns index `line`."""
    found: list[tuple[int, int, str, int]] = []
    present = set(_HINTS.findall(line.lower()))
    for plugin, kind, rank, hints in _TOKEN_PLUGINS if present else ():
        if present.isdisjoint(hints):
            continue
        # analyze_string decides (JWT checks the token decodes); the spans come from the
        # detector's own patterns because its yielded value can be a mere prefix group
        # (GitHub yields "ghp"): redact the whole match unless group 1 is the secret.
        if any(not _value_filtered(v) for v in plugin.analyze_string(line)):
            in_group = isinstance(plugin, _SECRET_IN_GROUP_1)
            for rx in plugin.denylist:
                for m in rx.finditer(line):
                    span = m.span(1) if in_group and rx.groups and m.group(1) else m.span()
                    found.append((*span, kind, rank))

    # Names that say secret (password = "...") are the rule sets' (`rulesets`): detect-secrets'
    # keyword plugin found no more of them and cost ~0.5 ms a line, most of a scan's time.
    if "'" in line or '"' in line or "`" in line:  # the entropy plugins only look at quoted strings
        for plugin in _ENTROPY_PLUGINS:
            # a string's entropy is at most log2 of its length: shorter ones cannot pass the limit
            shortest = 2 ** plugin.entropy_limit
            values = [
                v for v in plugin.analyze_string(line)
                if len(v) > shortest and _entropy(plugin, v) > plugin.entropy_limit
            ]
            found += _value_spans(line, values, plugin, "high-entropy-string", 3)

    for rx, kind, rank, literals in _OWN:
        if not any(s in line for s in literals):
            continue
        for m in rx.finditer(line):
            group = 1 if rx.groups else 0
            # a URL's password is a password whatever it looks like (digits, a UUID)
            filtered = {"connection-string": _placeholder, "secret-assignment": _assigned_filtered}.get(
                kind, _value_filtered)
            if not filtered(m.group(group)):
                found.append((*m.span(group), kind, rank))
    return found


# Hex of a digest's length (MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512): git object ids,
# checksums and test vectors in code and diffs. Only a name that says secret on the line makes one
# a secret to the entropy plugins.
_DIGEST_LENGTHS = frozenset({32, 40, 56, 64, 96, 128})
_HEX_VALUE = re.compile(r"[0-9a-fA-F]+")
_SECRET_WORD = re.compile(r"(?i)key|secret|token|passw|pwd|auth|cred|api|private|session|bearer|cookie")
_CLASS_RUNS = re.compile(r"[0-9]+|[a-z]+|[A-Z]+")


def _not_random(value: str, line: str) -> bool:
    """An entropy plugin's value that is a digest (no secret name on its line), or a list of
    characters in order (option letters, `"46abceflmnpqrstuvwzBCDMNRW"`): digits, lowercase and
    uppercase runs, at most three, each sorted."""
    if len(value) in _DIGEST_LENGTHS and _HEX_VALUE.fullmatch(value) and not _SECRET_WORD.search(line):
        return True
    runs = _CLASS_RUNS.findall(value)
    return "".join(runs) == value and len(runs) <= 3 and all(list(r) == sorted(r) for r in runs)


def _value_spans(
    line: str, values: list[str], plugin: BasePlugin, kind: str, rank: int
) -> list[tuple[int, int, str, int]]:
    """Every place each unfiltered value occurs in the line."""
    out = []
    for value in values:
        if _value_filtered(value) or heuristic.is_likely_id_string(value, line, plugin) or _not_random(value, line):
            continue
        at = line.find(value)
        while at >= 0:
            out.append((at, at + len(value), kind, rank))
            at = line.find(value, at + len(value))
    return out
