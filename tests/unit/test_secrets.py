"""context.secrets: a planted-secret corpus, false positives, redaction, and the fast path's speed.

The fake secrets are assembled at run time so this file itself holds none that a scanner (ours
included, when it reads a diff of this repository) would flag.
"""

import os
import random
import re
import sys
import time

import pytest

from hybridlsp.context import contains_secret, find_secrets, redact
from hybridlsp.context.secrets import contains_secret_many
from tests.support import need


def j(*parts: str) -> str:
    return "".join(parts)


# kind -> the secret value alone (what must never survive redaction)
VALUES = {
    "aws-key": j("AKIA", "IOSFODNN7", "Q2XRM4TZ"),
    "github-token": j("ghp_", "1a2B3c4D5e6F7g8H9i0J", "1k2L3m4N5o6P7q8R"),
    "gitlab-token": j("glpat-", "Xy9Zk3Lm5Np7Qr2St4Uv"),
    "openai-key": j("sk-", "Zq8Wv2Lm5Np7Qr2St4Uv", "T3Blbk", "FJ", "Ab3dEf6hIj9kLm2nOp5q"),
    "anthropic-key": j("sk-ant-", "api03-", "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBaZx9Yw8Vu7Ts6Rq5Po4Nm3Lk2J-AbCdEfAA"),
    "slack-token": j("xox", "b-", "123456789012-1234567890123-", "AbCdEfGhIjKlMnOpQrStUvWx"),
    "stripe-key": j("sk_", "live_", "4eC39HqLyjWDarjtT1zdp7dc"),
    "sendgrid-key": j("SG", ".", "aBcDeFgHiJkLmNoPqRsTuV", ".", "wXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ01234"),
    "jwt": j("eyJ", "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", ".", "eyJ", "zdWIiOiIxMjM0NTY3ODkwIn0", ".",
             "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
}
OPENAI_PROJECT = j("sk-", "proj-", "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6")
PASSWORD = "Tr0ub4dor&3xyz"
DB_PASSWORD = "S3cr3t-Passw0rd"
AWS_SECRET = j("wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYzq8Wv2Lm5N")
RANDOM = "Xb8sQ2vL9mK4pR7tW1yZ3nC6fH0jD5gA8eU2iO"

# (kind, line as it would appear in a source file, the value that must disappear)
CORPUS = [
    *[(kind, f'CONFIG_VALUE = "{value}"', value) for kind, value in VALUES.items()],
    ("openai-key", f'client = OpenAI(api_key="{OPENAI_PROJECT}")', OPENAI_PROJECT),
    ("aws-key", f'aws_secret_access_key = "{AWS_SECRET}"', AWS_SECRET),
    ("connection-string", f'DATABASE_URL = "postgres://app:{DB_PASSWORD}@db.internal:5432/app"', DB_PASSWORD),
    ("connection-string", j("MONGO = 'mongodb+srv://svc:", "pa$$w0rd!x9", "@cluster0.example.net/db'"), "pa$$w0rd!x9"),
    ("secret-assignment", f'password = "{PASSWORD}"', PASSWORD),
    # Pasted into a question: unquoted, mid-line.
    ("secret-assignment", f"Why does this fail? AWS_SECRET_ACCESS_KEY={AWS_SECRET} in prod", AWS_SECRET),
    ("high-entropy-string", f'SIGNING = "{RANDOM}"', RANDOM),
]

PEM_BODY = [
    "MIIEpAIBAAKCAQEA1c2FyZW5vdGhlcmtleWhlcmVmb3JleGFtcGxlb25seWRv",
    "bm90dXNlaW5wcm9kdWN0aW9uMTIzNDU2Nzg5MGFiY2RlZg==",
]
PEM = "\n".join([j("-----BEGIN RSA ", "PRIVATE KEY-----"), *PEM_BODY, j("-----END RSA ", "PRIVATE KEY-----")])

# .env lines: unquoted values, names the keyword plugin does not know (TOKEN)
ENV_FILE = [
    ("aws-key", f"AWS_ACCESS_KEY_ID={VALUES['aws-key']}", VALUES["aws-key"]),
    ("github-token", f"GITHUB_TOKEN={VALUES['github-token']}", VALUES["github-token"]),
    ("anthropic-key", f"ANTHROPIC_API_KEY={VALUES['anthropic-key']}", VALUES["anthropic-key"]),
    ("openai-key", f"OPENAI_API_KEY={OPENAI_PROJECT}", OPENAI_PROJECT),
    ("secret-assignment", f"DB_PASSWORD={PASSWORD}", PASSWORD),
    ("secret-assignment", "export AUTH_TOKEN=8f2b1c9d7e6a5b4c3d2e1f0a", "8f2b1c9d7e6a5b4c3d2e1f0a"),
    ("connection-string", f"DATABASE_URL=postgres://app:{DB_PASSWORD}@db:5432/app", DB_PASSWORD),
]


@pytest.mark.parametrize("kind, line, value", CORPUS, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(CORPUS)])
def test_each_kind_is_caught_and_redacted(kind, line, value):
    text = f"import os\n\n{line}\nprint('done')\n"
    hits = find_secrets(text, "settings.py")
    assert [(h.line_no, h.kind) for h in hits] == [(3, kind)]
    assert value not in repr(hits)
    assert contains_secret(text, "settings.py")
    out = redact(text, "settings.py")
    assert value not in out and f"[REDACTED:{kind}]" in out
    assert out.startswith("import os\n\n") and out.endswith("\nprint('done')\n")


def test_env_file():
    text = "\n".join(["# local settings", "DEBUG=true", *[line for _, line, _ in ENV_FILE]]) + "\n"
    hits = find_secrets(text, "config/.env")
    assert [(h.line_no, h.kind) for h in hits] == [(i + 3, kind) for i, (kind, _, _) in enumerate(ENV_FILE)]
    out = redact(text, "config/.env")
    assert all(value not in out for _, _, value in ENV_FILE)
    assert out.splitlines()[:2] == ["# local settings", "DEBUG=true"]


def test_private_key_block_is_redacted_whole():
    text = f"before = 1\n{PEM}\nafter = 2\n"
    assert [(h.line_no, h.kind) for h in find_secrets(text)] == [(2, "private-key")]
    assert redact(text) == "before = 1\n[REDACTED:private-key]\nafter = 2\n"


def test_private_key_in_json_with_escaped_newlines():
    escaped = PEM.replace("\n", "\\n")
    text = f'{{\n  "type": "service_account",\n  "private_key": "{escaped}\\n",\n  "x": 1\n}}\n'
    assert [(h.line_no, h.kind) for h in find_secrets(text, "sa.json")] == [(3, "private-key")]
    out = redact(text, "sa.json")
    assert all(part not in out for part in PEM_BODY)
    assert '"private_key": "[REDACTED:private-key]\\n",' in out and '"x": 1' in out


def staged_diff_text() -> tuple[str, dict[int, tuple[str, str]]]:
    """A unified diff planting every corpus line, the .env lines and a key; line -> (kind, path)."""
    lines, planted = [], {}

    def file(path: str, body: list[tuple[str | None, str]]):
        lines.extend([f"diff --git a/{path} b/{path}", "new file mode 100644", "index 0000000..1234567",
                      "--- /dev/null", f"+++ b/{path}", f"@@ -0,0 +1,{len(body)} @@"])
        for kind, line in body:
            lines.append("+" + line)
            if kind:
                planted[len(lines)] = (kind, path)

    file("app/settings.py", [(None, "import os")] + [(k, line) for k, line, _ in CORPUS] + [(None, "DEBUG = False")])
    file("deploy/.env", [(k, line) for k, line, _ in ENV_FILE])
    pem_lines = PEM.split("\n")
    file("keys/id_rsa", [("private-key", pem_lines[0])] + [(None, line) for line in pem_lines[1:]])
    return "\n".join(lines) + "\n", planted


def test_staged_diff_hits_carry_the_file():
    text, planted = staged_diff_text()
    hits = find_secrets(text)
    assert {h.line_no: (h.kind, h.path) for h in hits} == planted
    out = redact(text)
    leaked = [v for _, _, v in CORPUS + ENV_FILE if v in out] + [b for b in PEM_BODY if b in out]
    assert leaked == []
    assert out.count("diff --git") == 3 and "+[REDACTED:private-key]\n" in out


def test_redact_is_idempotent():
    text, _ = staged_diff_text()
    once = redact(text)
    assert find_secrets(once) == [] and redact(once) == once


FALSE_POSITIVES = [
    ("x.py", "password = get_password()"),
    ("x.py", 'password = os.environ["DB_PASSWORD"]'),
    ("x.py", "def check_password(self, password: str) -> bool:"),
    ("x.py", "PASSWORD_MIN_LENGTH = 8"),
    ("x.py", 'PASSWORD_FIELD = "password"'),
    ("x.py", 'password = ""'),
    ("x.py", 'password = "${DB_PASSWORD}"'),
    ("x.py", "api_key = settings.api_key"),
    ("x.py", 'secret = request.headers["X-Secret"]'),
    ("x.py", "token = next(tokens)"),
    ("x.py", 'if key.startswith("sk-"):'),
    ("x.py", 'run_id = "123e4567-e89b-12d3-a456-426614174000"'),
    ("x.py", 'name = "test_something_really_long_name_here"'),
    ("x.py", 'url = "https://example.com/api/v1/users/profile"'),
    ("x.py", 'DSN = "postgres://app:${DB_PASSWORD}@db/app"'),
    ("x.py", 'DSN = "postgres://app@db.internal:5432/app"'),
    ("x.py", "        pass"),
    ("app.js", "const apiKey = process.env.API_KEY;"),
    ("app.ts", "function login(user: string, password: string): Promise<Session> {"),
    ("main.go", "password := os.Getenv(\"PASSWORD\")"),
    (".env", "DB_PASSWORD=${VAULT_DB_PASSWORD}"),
    (".env", "TOKEN_TTL_SECONDS=3600"),
    ("deploy.sh", 'PASSWORD=$1 SECRET_FILE=/run/secrets/db ./start.sh'),
    ("ci.yml", "      GITHUB_TOKEN=${{ secrets.GITHUB_TOKEN }}"),
    ("x.py", "configure(PASSWORD=password)"),
    ("x.py", 'line = f"GITHUB_TOKEN={values[name]}"'),
    ("x.sh", "curl -u admin:<password>@example.com"),
    ("README.md", "Set OPENAI_API_KEY to your key (it starts with `sk-`)."),
]


@pytest.mark.parametrize("path, line", FALSE_POSITIVES)
def test_ordinary_code_is_not_flagged(path, line):
    assert find_secrets(line, path) == []
    assert redact(line, path) == line


def test_hashes_in_lock_file_lines_may_flag():
    # Allowed, not required: a 40-hex sha in quotes looks like a key; prompts leave lock files out.
    line = '"resolved": "https://registry.example/x.tgz#3f786850e387550fdab836ed7e6dc881de23001b"'
    assert all(h.kind == "high-entropy-string" for h in find_secrets(line, "package-lock.json"))


# --- speed --------------------------------------------------------------------------------------

CODE_LINES = [
    "+    value = compute(x, y) + offset",
    "+    return self._cache.get(key, default)",
    '+    logger.info("processed %d items", count)',
    "+def handle_request(request, *, timeout=30):",
    "+        pass",
    "+    password = get_password()",
    "+    token = next(tokens)",
    '+    headers = {"Content-Type": "application/json"}',
    "+    for i, item in enumerate(items):",
    "+class UserRepository(BaseRepository):",
    '+    """Return the user for `user_id`, or None."""',
    "+    if secret_name not in self.allowed:",
    " unchanged context line",
    "-    old_value = compute(x)",
]


def synthetic_diff(n_lines: int, planted: dict[int, str]) -> str:
    rng = random.Random(7)
    lines = []
    for i in range(n_lines):
        if i in planted:
            lines.append(planted[i])
        elif i % 500 == 0:
            lines.append(f"diff --git a/src/mod{i}.py b/src/mod{i}.py")
        else:
            lines.append(rng.choice(CODE_LINES) + f"  # {i}")
    return "\n".join(lines) + "\n"


def test_fast_path_on_a_100k_line_diff_beats_scan_line():
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import default_settings

    planted = {
        1_001: f'+AWS_KEY = "{VALUES["aws-key"]}"',
        50_001: f'+token = "{VALUES["github-token"]}"',
        77_777: f"+DATABASE_URL=postgres://admin:{DB_PASSWORD}@db.example.com/app",
        99_998: f'+    client = Anthropic(api_key="{VALUES["anthropic-key"]}")',
    }
    text = synthetic_diff(100_000, planted)

    start = time.perf_counter()
    hits = find_secrets(text)
    fast = 100_000 / (time.perf_counter() - start)
    assert [(h.line_no - 1) for h in hits] == sorted(planted)

    sample = text.split("\n")[:3000]
    with default_settings():
        start = time.perf_counter()
        for line in sample:
            list(scan_line(line))
        slow = len(sample) / (time.perf_counter() - start)
    # Measured ~70-140x on 2 busy cores; 10x leaves room for noise.
    assert fast > 10 * slow, f"fast path {fast:,.0f} lines/s vs scan_line {slow:,.0f} lines/s"


# --- batches ------------------------------------------------------------------------------------

PROSE = [
    "Describe a vivid and unique character, using strong imagery and creative language.",
    "Write a persuasive essay about passage of time in Asia, and keep the secret ending.",  # candidates, clean
    "Résumé: naïve café owner in Zürich — 東京 and 🙂 emoji, and a lone surrogate \ud800 too.",
    "def tokenize(text):\n    return text.split()\n",
    "",
    "\n",
    "\nline after a newline",
    "trailing newline\n",
]
# Texts that end partway through a candidate prefix, and texts that would finish it: joined with
# no separator these pairs would read as secrets.
HALVES = ["my key starts with sk", "prefix sk-", "AKIA", "ends with gh", "xox", '"', "postgres://app:x",
          j("-", "proj-", OPENAI_PROJECT[8:]), OPENAI_PROJECT[3:], "b-123456789012-1234567890123-abc", "@db/app"]
BATCH_POOL = [
    *[line for _, line, _ in CORPUS + ENV_FILE],
    *[f"\n{line}\n" for _, line, _ in CORPUS[:4]],
    f"Can you fix this?\n{PEM}\nThanks",
    PEM.replace("\n", "\\n"),
    *[line for _, line in FALSE_POSITIVES],
    *CODE_LINES,
    *PROSE,
    *HALVES,
]


@pytest.mark.parametrize("path", ["", "settings.py", "config/.env"])
def test_contains_secret_many_matches_contains_secret(path):
    rng = random.Random(11)
    expected_all = []
    for _ in range(150):
        texts = rng.choices(BATCH_POOL, k=rng.randint(1, 25))
        expected = [contains_secret(t, path) for t in texts]
        assert contains_secret_many(texts, path) == expected, texts
        expected_all += expected
    assert 0.1 < sum(expected_all) / len(expected_all) < 0.9  # the lists mix secrets and clean text


def test_contains_secret_many_edges():
    secret = CORPUS[0][1]
    assert contains_secret_many([]) == []
    assert contains_secret_many([secret, "hello", "", "world", secret]) == [True, False, False, False, True]
    assert contains_secret_many(["", secret, ""]) == [False, True, False]
    assert contains_secret_many([PEM]) == [True] and contains_secret_many(["a", PEM]) == [False, True]
    # split where neither half is a secret alone (the rest alone would be a prefixed token)
    assert contains_secret_many(["prefix " + OPENAI_PROJECT[:16], OPENAI_PROJECT[16:]]) == [False, False]


# --- stage 1: Hyperscan and `re` find the same lines ----------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from hybridlsp.context import secret_lines  # noqa: E402
from hybridlsp.context import secrets as secrets_mod  # noqa: E402

# Pieces of the candidate patterns and of what surrounds them, for texts that come near a match
FRAGMENTS = ["akia", "asia", "a3tx", "accountkey=", "api_key", "://", ":", "@", "/", "ghp_", "glpat-", "gr1348941",
             "eyj", "_authtoken", "sk-", "sk_live_", "sq0csp-", "sg.", "secret", "service_key", "rk_live_",
             "pypi-ag", "xoxb-", "hooks.slack.com", "private key", "password", "passwd", "pwd", "privkey",
             "db_pass", "keypass", "client_key", "contrase", "credential", "token_x =", '"', "'", "`", "=",
             " ", "\t", "\n", "\r\n", "a", "0", "x9", "A", "Z", "+/", "-", "é", "東"]


def _line_starts(low: bytes, offsets: list[int]) -> set[int]:
    return {low.rfind(b"\n", 0, at) + 1 for at in offsets}


def _both_engines(text: str) -> tuple[set[int], set[int]]:
    engine = secrets_mod._hyperscan(wait=True)
    assert engine is not None, "hyperscan is not active: see test_hyperscan_is_active"
    low = text.encode("utf-8", "surrogatepass").lower()
    return _line_starts(low, engine.ends(low)), _line_starts(low, secrets_mod._offsets_re(low))


@pytest.fixture(scope="module")
def hyperscan_engine():
    return need(secrets_mod._hyperscan(wait=True), "no hyperscan wheel on this platform")


def test_hyperscan_is_active():
    # a dependency on Linux x86-64: a broken wheel must not silently fall back to the slow scan here
    import platform

    need(None if os.environ.get("HYBRIDLSP_PURE_PYTHON") == "1" else True, "HYBRIDLSP_PURE_PYTHON=1 forces re")

    if sys.platform == "linux" and platform.machine() == "x86_64":
        assert secrets_mod._hyperscan(wait=True) is not None


@pytest.mark.usefixtures("hyperscan_engine")
@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(min_size=1, max_size=30),
                          st.text(alphabet="abyz09+/=_-A", min_size=12, max_size=24)), max_size=60))
def test_hyperscan_and_re_find_the_same_candidate_lines(parts):
    hs, rx = _both_engines("".join(parts))
    assert hs == rx


@pytest.mark.usefixtures("hyperscan_engine")
def test_hyperscan_and_re_agree_on_the_corpus_and_a_diff():
    texts = [*BATCH_POOL, "\n".join(BATCH_POOL), synthetic_diff(5_000, {10: CORPUS[0][1], 4_000: ENV_FILE[1][1]}),
             "x my_password\n= 1\nz", "api_key \r\n: 2"]  # a name and an operator on two lines: no candidate
    for text in texts:
        hs, rx = _both_engines(text)
        assert hs == rx, text[:200]
    hs, _ = _both_engines("\n".join(BATCH_POOL))
    assert len(hs) > 20  # the corpus does reach stage 2


@pytest.mark.parametrize("path", ["", "config/.env"])
def test_findings_are_the_same_without_hyperscan(monkeypatch, path):
    texts = [line for _, line, _ in CORPUS + ENV_FILE] + [PEM, synthetic_diff(2_000, {5: CORPUS[1][1]})]
    with_hs = [find_secrets(t, path) for t in texts]
    many = contains_secret_many(texts, path)
    monkeypatch.setattr(secrets_mod, "_hyperscan", lambda wait=False: None)
    assert [find_secrets(t, path) for t in texts] == with_hs
    assert contains_secret_many(texts, path) == many


def test_concurrent_scans_from_threads_agree():
    # Hyperscan scans without the GIL: each thread needs its own scratch space, or results mix
    from concurrent.futures import ThreadPoolExecutor

    texts = [synthetic_diff(3_000, {i * 7: CORPUS[i % len(CORPUS)][1]}) for i in range(1, 9)]
    expected = [find_secrets(t) for t in texts]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            assert list(pool.map(find_secrets, texts)) == expected


_LINE_PIECES = ["password", "PASSWORD", "Passwd", "pwd", "secret", "Secret_Key", "SECRET", "api_key", "apikey",
                "auth_key", "access_key", "ACCESS_KEY", "service_key", "account_key", "db_pass", "database_key",
                "key_pass", "client_key", "private_key", "privkey", "contrasena", "credential", "CREDENTIALS",
                "token", "AUTH_TOKEN", "my_", "_value", "secretary", " ", "  ", "\t", "=", "==", "!=", "===", ":",
                ":=", "=>", "!", "(", ".assign(", ";", "[0]", "]", '"', "'", "`", ",", "-", "/", "#", "@", "$",
                "hunter2hunter2", "S3cr3t-Passw0rd", "Tr0ub4dor&3xyz", "8f2b1c9d7e6a5b4c3d2e1f0a",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8Wv2Lm5N", "value", "get_password()", "x", "é", "ü_x", "\u00a0",
                "\u2003", "\x1c", "[12]", "[]", ".assign(", "é.assign(", "]'", "from the", "("]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_LINE_PIECES), min_size=1, max_size=14).map("".join),
       st.sampled_from(["", "settings.py", "main.go", "config/.env", "app.yaml", "a.cpp", "a.c", "App.java"]))
def test_stage_1_never_hides_a_line_stage_2_would_flag(line, path):
    found = secrets_mod._merge(secret_lines.scan_line(line, path))
    low = line.encode("utf-8", "surrogatepass").lower()
    assert not found or secrets_mod._candidate_offsets(low), (line, path, found)


def test_prose_that_names_a_secret_is_no_candidate_but_an_assignment_is():
    for text in ["The secretary keeps the password book.", "Hormone secretion of the pancreas", "pass the secret on",
                 "antibodies secreted from the cells (B)", "the secret; and then"]:
        assert not secrets_mod._candidate_offsets(text.encode().lower()), text
    for text in ['password = "x"', "secret: abc", "if ('v' == my_password)", 'api_key("x")', "db_pass 'x';"]:
        assert secrets_mod._candidate_offsets(text.encode().lower()), text


@pytest.mark.parametrize("name", ["api_key", "auth_key", "service_key", "account_key", "db_key", "database_key",
                                  "priv_key", "private_key", "client_key", "db_pass", "database_pass", "key_pass",
                                  "password", "passwd", "pwd", "secret", "contrasena", "contraseña"])
def test_every_detect_secrets_keyword_is_a_candidate_when_assigned(name):
    from detect_secrets.plugins import keyword

    assert any(re.fullmatch(k, name) for k in keyword.DENYLIST)  # the list this mirrors
    line = f'my_{name} = "Zq8-v4lue-x9"'
    assert secret_lines.scan_line(line, ""), line  # stage 2 flags it...
    assert secrets_mod._candidate_offsets(line.encode().lower()), line  # ...so stage 1 must pass it


@pytest.mark.parametrize("line, path", [
    ('my_password\u00a0= "Zq8-v4lue-x9"', ""),  # a Unicode space before the operator
    ('my_password\x1c= "Zq8-v4lue-x9"', ""),
    ('secret_ké = "Zq8-v4lue-x9"', ""),  # a Unicode letter in the name's suffix
    ('config[\'password\'] = "Zq8-v4lue-x9"', ""),  # two closing characters
    ('password[0] = "Zq8-v4lue-x9"', "a.c"),  # an index (C rules)
    ('password.assign("Zq8-v4lue-x9")', "a.cpp"),  # C++ rules
    ('password "Zq8-v4lue-x9";', ""),  # a quoted value and a semicolon
    ('if ("Zq8-v4lue-x9" == my_password)', ""),  # compared, the name after
])
def test_each_keyword_form_is_a_candidate(line, path):
    assert secret_lines.scan_line(line, path), line  # stage 2 flags it...
    assert secrets_mod._candidate_offsets(line.encode().lower()), line  # ...so stage 1 must pass it


def test_detect_secrets_is_imported_only_for_a_candidate_line():
    import subprocess

    code = ("import sys; from hybridlsp.context.secrets import contains_secret, contains_secret_many; "
            "r = contains_secret('Explain the secretion of insulin.'), contains_secret_many(['hi', 'the secret']); "
            "print('detect_secrets' in sys.modules); contains_secret('password = \"hunter2hunter2\"'); "
            "print('detect_secrets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]


def test_scans_before_the_patterns_have_compiled_find_the_same(monkeypatch):
    # the first scans of a process run on `re` while Hyperscan compiles on its own thread
    from hybridlsp.context import multimatch

    monkeypatch.setattr(multimatch, "_in_background", True)  # as `route` runs
    fresh = multimatch.Background(secrets_mod._patterns())
    monkeypatch.setattr(secrets_mod, "_ENGINE", fresh)
    texts = [line for _, line, _ in CORPUS + ENV_FILE] + [PEM, "plain prose"]
    early = [find_secrets(t) for t in texts]  # likely before the compile is done
    fresh.get(wait=True)
    assert [find_secrets(t) for t in texts] == early
    assert sum(map(bool, early)) == len(texts) - 1


def test_a_server_compiles_the_patterns_on_first_use(monkeypatch):
    # not in the background: beside a streaming request on 2 cores that cost the request ~50 ms
    from hybridlsp.context import multimatch

    # the default (`route`, run in-process by other tests, switches it for the process)
    monkeypatch.setattr(multimatch, "_in_background", False)
    fresh = multimatch.Background([b"password"])
    if multimatch._hyperscan() is not None:
        assert fresh.get() is not None and fresh.get().ends(b"my password") == [10]


def test_only_route_compiles_in_the_background():
    import subprocess

    code = ("import sys; from hybridlsp import commands; from hybridlsp.context import multimatch; "
            "before = multimatch._in_background; commands.main(['route', '--json', 'hello']); print(before, multimatch._in_background)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[-2:] == ["False", "True"]


@pytest.mark.usefixtures("hyperscan_engine")
def test_the_compared_name_set_scans_only_text_with_its_operators(monkeypatch):
    sets = secrets_mod._hyperscan(wait=True)
    scanned = []
    real = sets.compared

    class Recording:
        def ends(self, data):
            scanned.append(data)
            return real.ends(data)

    recording = secrets_mod._Sets(sets.main, Recording())
    monkeypatch.setattr(secrets_mod, "_hyperscan", lambda wait=None: recording)
    assert secrets_mod._candidate_lines(b"the password is long\nkeep it (secret).")[0] == set()
    assert scanned == []
    for op in ("==", "!=", "!!", "=!"):
        assert secrets_mod._candidate_lines(f'x\nif "abc" {op} password:'.encode())[0] == {2}
    assert len(scanned) == 4


@pytest.mark.usefixtures("hyperscan_engine")
def test_the_joined_sets_are_reused_and_a_set_taken_away_is_seen(monkeypatch):
    # bench 13 measures `re` alone by taking the compiled set away: the next scan must see it
    first = secrets_mod._hyperscan()
    assert secrets_mod._hyperscan() is first
    monkeypatch.setattr(secrets_mod._engine(), "_set", None)
    assert secrets_mod._hyperscan() is None
    monkeypatch.undo()
    assert secrets_mod._hyperscan() is first
