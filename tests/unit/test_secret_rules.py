"""The vendored rule set: RE2 -> Python translation, the compiled file, prefilters, forms, and
false positives that must stay false. Secrets are assembled at run time (none in this file)."""

import json
import random
import re
import tomllib

import pytest

from hybridlsp.context import rulesets
from hybridlsp.context import secrets as secrets_mod
from hybridlsp.context.redaction import Redactor
from hybridlsp.context.secrets import contains_secret, find_secrets
from tests.support import need
from tools.update_secret_rules import OUT, Untranslatable, compile_rules, re2_to_python


@pytest.mark.parametrize("re2, python", [
    (r"(?i)abc", r"(?i)abc"),  # a leading flag is valid Python
    (r"\b(LTAI(?i)[a-z0-9]{20})\b", r"\b(LTAI(?i:[a-z0-9]{20}))\b"),  # to the end of its group
    (r"x(?i)a|b", r"x(?i:a)|(?i:b)"),  # ...and across the group's later branches, as RE2 does
    (r"(?:\"(?i)k\"|'(?i)k')", r"(?:\"(?i:k\")|(?i:'(?i:k')))"),
    (r"(?-i)A", r"(?-i:A)"),  # a negative flag at the start is not valid Python
    (r"a\z", r"a\Z"),
    (r"[[:alnum:]_]+", r"[0-9A-Za-z_]+"),
    (r"[a-z[]", r"[a-z\[]"),  # Python would warn of a nested set
    (r"[a-z&&b]", r"[a-z&\&b]"),  # a set operation in Python
    (r"(?<tok>\w+)", r"(?P<tok>\w+)"),
    (r"\Qa.b\E", r"a\.b"),
])
def test_re2_is_translated(re2, python):
    assert re2_to_python(re2) == python
    re.compile(python, re.ASCII)


@pytest.mark.parametrize("re2", [r"\pL+", r"[\p{Greek}]", r"(?x) a", r"\C"])
def test_what_cannot_be_translated_says_so(re2):
    with pytest.raises(Untranslatable):
        re2_to_python(re2)


@pytest.mark.parametrize("re2, yes, no", [
    (r"\b(p8e-(?i)[a-z0-9]{4})\b", ["p8e-AbC1", "p8e-abcd"], ["P8E-abcd"]),  # the prefix keeps its case
    (r"x(?i)a|b", ["xA", "B"], ["XA"]),
])
def test_translations_match_what_re2_matches(re2, yes, no):
    rx = re.compile(re2_to_python(re2), re.ASCII)
    assert all(rx.fullmatch(s) for s in yes) and not any(rx.fullmatch(s) for s in no)


def test_the_compiled_set_is_the_vendored_config_compiled():
    # `make update-secret-rules` output, checked in: a hand edit or a stale file fails here
    compiled = json.loads((OUT / "compiled.json").read_text())
    fresh = compile_rules(tomllib.loads((OUT / "gitleaks.toml").read_text()))
    assert compiled == {"source": (OUT / "PIN").read_text().strip(), **fresh}
    assert compiled["source"].startswith("gitleaks ")
    assert len(compiled["rules"]) >= 200
    # every rule left out is listed with a reason
    assert all(u["reason"] for u in compiled["untranslated"])


def test_every_rule_and_prefilter_compiles():
    assert all(rule.rx.pattern for rule in rulesets.rules())
    for pre in rulesets.prefilters():
        rx = re.compile(pre.pattern)
        assert pre.literal == (rx.pattern == re.escape(pre.head)) or b"\\" in pre.pattern
        assert pre.head in pre.pattern.replace(b"\\", b"")
    engine = secrets_mod._hyperscan(wait=True)
    if engine is not None:  # one Hyperscan set holds them all, ids after detect-secrets' expression
        pres = rulesets.prefilters()
        ids = {pres[i - 1].rule for i, _ in engine.matches(b"adafruit_key = 1") if i}
        assert [rulesets.rules()[i].id for i in ids if "adafruit" in rulesets.rules()[i].id] == ["adafruit-api-key"]


def j(*parts: str) -> str:
    return "".join(parts)


GENERIC = j("Zq8", "Wv2Lm5Np7Qr2St4", "Uv9x")  # a random value behind a name that says secret
ASANA_ID = j("1", "20", "3456", "7890", "12345")  # a format only a name identifies (gitleaks asana)
TOKEN = j("pc", "sk_", "KNgb4l_", "EyPVOmmVOFQKTdyGeyIAGQj0crFCQCZCgEYaY8yoB")  # a prefixed token no rule knows
# prefixed tokens whose body starts with a separator, or breaks within its first 16 characters
DASHED = j("qx", "t_-", "bQRLEm5QkCW92fKxB1sPNzseKjo_ETIotXk")
SHORT_RUNS = j("zkey", "-api-", "3l72TeSe72cVU", "nY_cEUw8FF92HFr")
SLASHED = j("QWXZ", "-saQ5sZryq/U5b2ly2Ievw", "ddn4R6fCCdRcVdnBug")
LONG = j(*("Zq8Wv2Lm5Np7Qr2St4Uv9x+Ab3dEf6/hIj9kLm2=" for _ in range(8)))  # 320 characters

FORMS = [
    ("python", f'API_KEY = "{GENERIC}"', "settings.py", GENERIC),
    ("shell", f"export SERVICE_TOKEN={GENERIC}", "deploy.sh", GENERIC),
    ("yaml nested", f"services:\n  asana:\n    client_id: {ASANA_ID}\n", "c.yaml", ASANA_ID),
    ("yaml block", f"db:\n  password: |\n    {GENERIC}\n", "c.yaml", GENERIC),
    ("ini section", f"[asana]\nclient_id = {ASANA_ID}\n", "setup.cfg", ASANA_ID),
    ("xml attribute", f'<add key="asana_client_id" value="{ASANA_ID}" />', "app.config", ASANA_ID),
    ("xml element", f"<password>{GENERIC}</password>", "pom.xml", GENERIC),
    ("authorization header", f"curl -H 'Authorization: Bearer {GENERIC}' https://api.example.com", "", GENERIC),
    ("log line", f"2026-12-03 INFO retry with bearer {GENERIC} on 502", "app.log", GENERIC),
    ("diff", f"diff --git a/s.py b/s.py\n+++ b/s.py\n@@ -1 +1 @@\n+secret_key = '{GENERIC}'\n", "", GENERIC),
    ("url password", f"redis://:{ASANA_ID}@cache.internal:6379/0", "", ASANA_ID),
    ("prefixed token in prose", f"why does {TOKEN} get a 401?", "", TOKEN),
    ("prefix, then a dash", f"why does {DASHED} get a 401?", "", DASHED),
    ("prefix, short runs", f"why does {SHORT_RUNS} get a 401?", "", SHORT_RUNS),
    ("prefix, a slash in the body", f"why does {SLASHED} get a 401?", "", SLASHED),
    ("a value over 200 characters", f"export SERVICE_KEY={LONG}", "deploy.sh", LONG),
]


@pytest.mark.parametrize("form, text, path, value", FORMS, ids=[f[0] for f in FORMS])
def test_each_form_is_caught_and_only_the_value_redacted(form, text, path, value):
    assert contains_secret(text, path), form
    sent = Redactor().redact(text, path)
    assert value not in sent and "<SECRET_1>" in sent, sent


NOT_SECRETS = [
    ("dotted identifiers", "types.PositionEncodingKind.Utf16: Utf16(),", "codec.py"),
    ("an exception chain", "[errors.InvalidBase64PaddingDefect()] if pad_err else [],", "e.py"),
    ("a comparison with a word", "return [x.content for x in self if x.token_type=='comment']", "p.py"),
    ("a name for a secret", "api_key = settings.API_KEY", "s.py"),
    ("a call", "password = get_password(user)", "s.py"),
    ("a template", 'token: "${{ secrets.DEPLOY_TOKEN }}"', "ci.yml"),
    ("a placeholder", "SECRET_KEY=<SECRET_1>", ".env"),
    ("prose", "Asia's secret, the key: to the city, was an access token for the API.", ""),
    ("an integrity hash", j("sha512-", "Zq8Wv2Lm5Np7Qr2St4Uv9xAb3dEf6hIj9kLm2nOp5q=="), "lock.json"),
    ("a long snake_case name", "self.assert_raises_regex_with_callable_and_message(x)", "t.py"),
    ("a snake_case name with digits", "def test_utf8_decoder_2_bytes_and_3_bytes_sequence(self):", "t.py"),
    ("a git object id", 'NULL_TREE_SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"', "diff.py"),
    ("a digest in a docstring", "    'a4337bc45a8fc544c03f52dc550cd6e1e87021bc896588bd79e901e2'", "hashlib.py"),
    ("option letters in order", 'clusterable_short_options="46abceflmnpqrstuvwzBCDMNRW",', "cmd.py"),
    ("an argument passed on by name", '"max_tokens_per_1_minute": max_tokens_per_1_minute,', "limits.py"),
]


def test_a_digest_after_a_name_that_says_secret_still_is_one():
    assert contains_secret(j('signing_', 'secret = "', '4b825dc642cb6eb9a060e54bf8d69288fbee4904"'), "s.py")


@pytest.mark.parametrize("what, text, path", NOT_SECRETS, ids=[n[0] for n in NOT_SECRETS])
def test_ordinary_code_is_no_secret(what, text, path):
    assert find_secrets(text, path) == [], what


def test_the_rules_own_samples_are_caught_in_a_python_assignment():
    from bench.secret_corpus import FORMS as CORPUS_FORMS, samples

    drawn = [s for s in samples() if s.source == "gitleaks"]
    assert len(drawn) >= 200
    missed = [s.rule for s in drawn if not contains_secret(*CORPUS_FORMS["python"](s.name, s.secret))]
    assert len(missed) <= len(drawn) // 100, missed


def _lines_both_ways(text: str) -> tuple[tuple, tuple]:
    low = text.encode("utf-8", "surrogatepass").lower()
    engine = secrets_mod._engine()
    need(engine.get(wait=True), "no hyperscan wheel on this platform")
    with_hs = secrets_mod._candidate_lines(low)
    saved, engine._set = engine._set, None  # as before the set has compiled, or with no wheel
    try:
        with_re = secrets_mod._candidate_lines(low)
    finally:
        engine._set = saved
    return with_hs, with_re


def test_hyperscan_and_re_flag_the_same_rules_on_each_line():
    from bench.secret_corpus import samples, written

    texts = [text for s in samples()[::3] for text, _ in written(s).values()]
    # grouped heads inside one match, and a text long enough for the distinct-runs shortcut
    texts += ["x apikey= 1\ntwitterkey: 2\naccess_token_secret => 3", "\n".join(texts)]
    for text in texts:
        with_hs, with_re = _lines_both_ways(text)
        assert with_hs == with_re, text[:300]


def test_findings_on_the_corpus_are_the_same_without_hyperscan(monkeypatch):
    from bench.secret_corpus import samples, written

    cases = [(text, path) for s in samples()[1::4] for text, path in written(s).values()]
    with_hs = [find_secrets(t, p) for t, p in cases]
    monkeypatch.setattr(secrets_mod, "_hyperscan", lambda wait=False: None)
    assert [find_secrets(t, p) for t, p in cases] == with_hs


# --- a rule's `needs`: the line test that skips its regex -----------------------------------------

_STDLIB_LINES = [
    "except KeyboardInterrupt:", "repl_locals[key] = locals()[key]", "class Console(code.InteractiveConsole):",
    "self._token_map = {}", "api_key = settings.API_KEY", "tok = self._tokenize(source_code_2)",
    "x = sha256-AAAAAAAAAAAAAAAAAAAAAAAA", "key_size = 2048", "token = tokens[i]",
]
_PIECES = ["key", "api_key", "TOKEN", "password", "secret", "Bearer ", "sk_", "pcsk_", " = ", ": ", "=>", '"', "'",
           ",", "(", "[", "]", "-", ".", "_", "/", "+", "=", "\u0663", "\u0669", "7", "42", "٣٣", "ﾉ",
           j("Zq8", "Wv2Lm5Np7Qr2St4", "Uv9x"), j("abcdefghijklmnopqrstuv"), j("ABCD", "EFGHIJKLMNOPQRST", "xyz"),
           "AbCdEfGhIjKlMnOpQrSt", "x" * 17]


def _without_needs(monkeypatch, index):
    """rules() with rule `index` a fresh copy whose `needs` is None: its regex runs on every line."""
    import dataclasses

    all_rules = list(rulesets.rules())
    bare = dataclasses.replace(all_rules[index])
    bare.__dict__["needs"] = None
    all_rules[index] = bare
    monkeypatch.setattr(rulesets, "rules", lambda: all_rules)


def _lines_for(index):
    rng = random.Random(index)
    lines = list(_STDLIB_LINES)
    names, operators = ["api_key", "TOKEN", "password", "client_secret", "key", "auth", "sk"], [" = ", ": ", "=>", "_", "-"]
    values = [*_PIECES, "9", "0x", "\u0663" * 3, "Zq8Wv", "2Lm5N", "p7Qr2", "qWeRtYuIoP"]
    for n in range(400):
        if n % 3 == 2:  # a prefixed token whose digits may stand apart, between any token characters
            body = "".join(rng.choice(["aQ", "Zk", "3", "/", "+", "=", ".", "_", "-", "9x", "wErT"]) for _ in range(12))
            lines.append("why does " + rng.choice(["pcsk_", "sk-or-v1-", "HRKU-", "ab."]) + body + " fail")
        elif n % 3:  # a name, an operator, then a value of pieces with and without digits (of any script)
            value = "".join(rng.choice(values) for _ in range(rng.randint(1, 6)))
            lines.append(rng.choice(names) + rng.choice(operators) + rng.choice(["", '"', "'"]) + value)
        else:
            lines.append("".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 7))))
    return lines


_NEEDY = [i for i, r in enumerate(rulesets.rules()) if r.needs is not None]


def test_the_generic_mixed_and_token_rules_have_a_line_test():
    kinds = {("generic" if r.generic else "mixed" if r.mixed else "token") for r in rulesets.rules() if r.needs}
    assert kinds == {"generic", "mixed", "token"}
    assert all(r.needs is None for r in rulesets.rules() if not (r.generic or r.mixed or r.token))


@pytest.mark.parametrize("index", _NEEDY, ids=[rulesets.rules()[i].id + str(i) for i in _NEEDY])
def test_a_rules_line_test_never_drops_a_finding(monkeypatch, index):
    # the findings with the test are the findings of the regex run on every line
    lines = _lines_for(index)
    with_test = [rulesets.scan_line(line, "", {index}) for line in lines]
    _without_needs(monkeypatch, index)
    assert [rulesets.scan_line(line, "", {index}) for line in lines] == with_test
    assert any(with_test), "no line of the sample reaches a finding: the comparison says nothing"


def test_a_line_without_what_a_rule_needs_does_not_run_its_regex(monkeypatch):
    import dataclasses

    class Untouchable:
        def finditer(self, line):
            raise AssertionError(f"the regex ran on {line!r}")

    all_rules = list(rulesets.rules())
    generic = next(i for i, r in enumerate(all_rules) if r.generic)
    token = next(i for i, r in enumerate(all_rules) if r.token)
    for i in (generic, token):
        all_rules[i] = dataclasses.replace(all_rules[i])
        all_rules[i].__dict__["rx"] = Untouchable()
    monkeypatch.setattr(rulesets, "rules", lambda: all_rules)
    assert rulesets.scan_line("except KeyboardInterrupt:", "", {generic}) == []
    assert rulesets.scan_line("class Console(code.InteractiveConsole1):", "", {token}) == []  # one digit
    with pytest.raises(AssertionError, match="the regex ran"):
        rulesets.scan_line("key = 1", "", {generic})


def test_the_apart_forms_are_tried_only_on_lines_with_their_punctuation(monkeypatch):
    # a flagged line of code without "=" is no XML attribute, one without ":" or "]" no YAML or INI
    # name; the forms are still found where they are (FORMS above)
    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"{name} tried")

    for name in ("KEY_VALUE_ATTRIBUTES", "BLOCK_SCALAR", "PARENT_KEY"):
        monkeypatch.setattr(rulesets, name, Untouchable())
    text = "while key > limit or token || fallback\n"
    assert secrets_mod._candidate_lines(text.encode())[1]  # flagged for stage 2
    assert find_secrets(text) == []
