"""A seeded corpus of secrets, made from rule sets' own patterns, written in every form.

Each rule's secret is drawn at random from its own pattern (the secret group of the regex), as
gitleaks' rule tests draw theirs, then kept only if the rule itself finds it in a canonical line
(`NAME = "secret"`), so a sample the rule would not call a secret never counts as a miss. Two
sources:

- "gitleaks": the vendored rule set the gate is built from (server/hybridlsp/context/secret_rules);
- "held-out": rules the gate was NOT built from (bench/data/heldout_rules.json): Betterleaks'
  formats that gitleaks lacks, and Google osv-scalibr's Veles detectors. Their variable names
  all end in `_KEY`, whatever the format, so a name gives no hint beyond that.

Every sample is written in each `FORMS` entry; `prose` only for the self-identifying formats (the
rule finds the token with no name around it). The same seed gives the same corpus.
"""

from __future__ import annotations

import json
import random
import re
import re._constants as C
import re._parser as P
import string
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hybridlsp.context import rulesets

__all__ = ["FORMS", "Sample", "held_out_rules", "samples", "written"]

HELD_OUT = Path(__file__).with_name("data") / "heldout_rules.json"
SEED = 20261203


@dataclass(frozen=True)
class Sample:
    source: str  # "gitleaks" or "held-out"
    rule: str  # the rule id the secret was drawn from
    secret: str
    name: str  # a variable name for assignment forms
    self_identifying: bool  # the rule finds it bare, in prose


# ---------------------------------------------------------------------------------------------
# Drawing a string from a Python regex

_PRINTABLE = [c for c in string.printable if c not in "\t\n\r\x0b\x0c"]
_CATEGORY = {
    C.CATEGORY_DIGIT: string.digits, C.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    C.CATEGORY_SPACE: " ", C.CATEGORY_NOT_SPACE: string.ascii_letters + string.digits,
    C.CATEGORY_NOT_DIGIT: string.ascii_letters, C.CATEGORY_NOT_WORD: "-.",
}


def _class(items, rng: random.Random) -> str:
    allowed: list[str] = []
    negate = False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            allowed.append(chr(av))
        elif op is C.RANGE:
            allowed += [chr(c) for c in range(av[0], av[1] + 1)]
        elif op is C.CATEGORY:
            allowed += list(_CATEGORY.get(av, ""))
    if negate:
        banned = set(allowed)
        allowed = [c for c in string.ascii_letters + string.digits if c not in banned]
    allowed = [c for c in allowed if c in _PRINTABLE] or allowed
    return rng.choice(allowed)


def _draw(tree, rng: random.Random, icase: bool) -> str:
    out = []
    for op, av in tree:
        if op is C.LITERAL:
            out.append(chr(av))
        elif op is C.NOT_LITERAL:
            out.append(rng.choice([c for c in string.ascii_letters if ord(c) != av]))
        elif op is C.ANY:
            out.append(".")  # gitleaks writes `hooks.slack.com` with bare dots
        elif op is C.IN:
            c = _class(av, rng)
            out.append(rng.choice((c.lower(), c.upper())) if icase else c)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            lo, hi, sub = av
            hi = lo + 24 if hi is C.MAXREPEAT else hi
            n = rng.randint(lo, max(lo, min(hi, lo + 24)))
            out += [_draw(sub, rng, icase) for _ in range(n)]
        elif op is C.BRANCH:
            out.append(_draw(rng.choice(av[1]), rng, icase))
        elif op is C.SUBPATTERN:
            _, add, dele, sub = av
            sub_icase = (icase or bool(add & C.SRE_FLAG_IGNORECASE)) and not dele & C.SRE_FLAG_IGNORECASE
            out.append(_draw(sub, rng, sub_icase))
        elif op is C.CATEGORY:
            out.append(rng.choice(_CATEGORY.get(av, "x")))
        # AT (anchors, \b), ASSERT, ASSERT_NOT, GROUPREF: nothing to draw
    return "".join(out)


def _group(tree, number: int):
    for op, av in tree:
        if op is C.SUBPATTERN:
            if av[0] == number:
                return [(op, av)], av
            found = _group(av[3], number)
            if found:
                return found
        elif op is C.BRANCH:
            for branch in av[1]:
                found = _group(branch, number)
                if found:
                    return found
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            found = _group(av[2], number)
            if found:
                return found
    return None


def draw(pattern: str, group: int, rng: random.Random) -> str:
    """A random string that group `group` (0: the whole pattern) of `pattern` can match."""
    parsed = P.parse(pattern, re.ASCII)
    icase = bool(parsed.state.flags & re.IGNORECASE)
    tree = list(parsed)
    if group:
        found = _group(tree, group)
        if found:
            tree = found[0]
    return _draw(tree, rng, icase)


# ---------------------------------------------------------------------------------------------
# The rules to draw from


@dataclass(frozen=True)
class _Source:
    id: str
    pattern: str  # Python syntax
    group: int
    check: Callable[[str], bool]  # does the rule itself call this line's value a secret?
    keywords: tuple[str, ...] = ()


def _gitleaks_rules() -> list[_Source]:
    out = []
    for i, rule in enumerate(rulesets.rules()):
        if i >= len(rulesets.rules()) - len(rulesets.OWN_RULES):
            break  # ours are not a source
        group = rule.secret_group or (1 if re.compile(rule.pattern).groups else 0)
        out.append(_Source(rule.id, rule.pattern, group,
                           lambda line, i=i: bool(rulesets.scan_line(line, "settings.py", {i})), rule.keywords))
    return out


def held_out_rules() -> list[dict]:
    return json.loads(HELD_OUT.read_text(encoding="utf-8"))["rules"]


def _held_out() -> list[_Source]:
    out = []
    for r in held_out_rules():
        rx = re.compile(r["pattern"], re.ASCII)
        group = r["secret_group"] or (1 if rx.groups else 0)
        out.append(_Source(r["id"], r["pattern"], group, lambda line, rx=rx: rx.search(line) is not None))
    return out


def _name(rule_id: str, held_out: bool) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", rule_id.split("/")[-1].split(".", 1)[-1]) if w]
    words = [w for w in words if not w.isdigit()] or ["service"]
    if held_out:
        return f"{words[0]}_key"
    return "_".join(words)


def samples(seed: int = SEED) -> list[Sample]:
    """One secret per rule of each source, drawn until the rule itself finds it (20 tries)."""
    rng = random.Random(seed)
    out = []
    for source, rules in (("gitleaks", _gitleaks_rules()), ("held-out", _held_out())):
        for rule in rules:
            name = _name(rule.id, source == "held-out")
            for _ in range(20):
                try:
                    secret = draw(rule.pattern, rule.group, rng)
                except (re.error, IndexError, ValueError):
                    break
                if not secret or "\n" in secret:
                    continue
                if rule.check(f'{name.upper()}="{secret}"') or rule.check(f"{name} = {secret}"):
                    # a rule runs where one of its keywords is (gitleaks' own prefilter)
                    bare = (any(k in secret.lower() for k in rule.keywords) or not rule.keywords) and rule.check(
                        f"I get a 401 from the API with {secret} when I call it")
                    out.append(Sample(source, rule.id, secret, name, bare))
                    break
    return out


# ---------------------------------------------------------------------------------------------
# The forms: (text, path) for a name and a secret


def _nested(name: str, secret: str) -> str:
    head, _, rest = name.partition("_")
    return f"services:\n  {head}:\n    {rest or 'key'}: {secret}\n    timeout: 30\n"


FORMS: dict[str, Callable[[str, str], tuple[str, str]]] = {
    "python": lambda n, s: (f'import os\n\n{n.upper()} = "{s}"\nDEBUG = False\n', "app/settings.py"),
    "python-call": lambda n, s: (f'client = Client({n}="{s}", timeout=30)\n', "app/client.py"),
    "shell": lambda n, s: (f"#!/bin/sh\nexport {n.upper()}={s}\n./deploy.sh\n", "deploy.sh"),
    "dotenv": lambda n, s: (f"DEBUG=true\n{n.upper()}={s}\n", ".env"),
    "json": lambda n, s: (f'{{\n  "service": {{\n    "{n}": "{s}",\n    "retries": 3\n  }}\n}}\n', "config.json"),
    "yaml": lambda n, s: (f"service:\n  {n}: {s}\n  retries: 3\n", "config.yaml"),
    "yaml-quoted": lambda n, s: (f"service:\n  {n}: \"{s}\"\n", "config.yaml"),
    "yaml-block": lambda n, s: (f"service:\n  {n}: |\n    {s}\n  retries: 3\n", "config.yaml"),
    "yaml-nested": lambda n, s: (_nested(n, s), "config.yaml"),
    "toml": lambda n, s: (f'[service]\n{n} = "{s}"\nretries = 3\n', "pyproject.toml"),
    "ini": lambda n, s: (f"[service]\n{n} = {s}\nretries = 3\n", "setup.cfg"),
    "xml-attribute": lambda n, s: (f'<appSettings>\n  <add key="{n}" value="{s}" />\n</appSettings>\n', "app.config"),
    "url": lambda n, s: (f'DATABASE_URL = "postgres://app:{urllib.parse.quote(s, safe="")}@db.internal:5432/app"\n',
                         "app/db.py"),
    "diff": lambda n, s: (f"diff --git a/app/settings.py b/app/settings.py\n--- a/app/settings.py\n"
                          f"+++ b/app/settings.py\n@@ -1,2 +1,3 @@\n import os\n+{n.upper()} = \"{s}\"\n DEBUG = False\n",
                          ""),
    "log": lambda n, s: (f"2026-12-03T07:20:48Z INFO uploader: starting with {n}={s} region=eu-west-1\n", "app.log"),
    "prose": lambda n, s: (f"Why does this fail with a 401? I call it with {s} and get nothing back.", ""),
}
ASSIGNMENT_FORMS = [f for f in FORMS if f not in ("prose", "url")]


def written(sample: Sample) -> dict[str, tuple[str, str]]:
    """The sample in each form that applies to it (prose: self-identifying formats only)."""
    return {form: make(sample.name, sample.secret) for form, make in FORMS.items()
            if form != "prose" or sample.self_identifying}
