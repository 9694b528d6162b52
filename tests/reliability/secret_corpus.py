"""Planted secrets for the privacy tests, built at run time so this repository holds none.

Every value is generated from a seeded random source and assembled from pieces: no literal here
matches a secret scanner's pattern, yet each `Planted.line` is what the real thing looks like in
code, config or a pasted snippet. `probes` are the substrings that must never reach a cloud request
(for a PEM key: every line of its body).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

__all__ = ["Planted", "corpus", "harmless"]

_UP = string.ascii_uppercase
_ALNUM = string.ascii_letters + string.digits
_B64 = _ALNUM + "+/"


@dataclass(frozen=True)
class Planted:
    kind: str
    line: str  # how it appears in a file (one or more lines)
    probes: tuple[str, ...]  # what must not reach the cloud
    env_file: bool = False  # a .env-style line (KEY=value)


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _pem(rng: random.Random, label: str) -> tuple[str, tuple[str, ...]]:
    body = [_r(rng, _B64, 64) for _ in range(8)] + [_r(rng, _B64, 20) + "=="]
    dashes = "-" * 5
    block = "\n".join([f"{dashes}BEGIN {label}{dashes}", *body, f"{dashes}END {label}{dashes}"])
    return block, tuple(body[:-1])


def corpus(seed: int = 20260501) -> list[Planted]:
    rng = random.Random(seed)
    pw = lambda n=14: _r(rng, _ALNUM, n - 2) + rng.choice("!$%") + _r(rng, string.digits, 1)  # noqa: E731
    out: list[Planted] = []

    def add(kind: str, line: str, *probes: str, env_file: bool = False) -> None:
        out.append(Planted(kind, line, probes or (line,), env_file))

    aws_id = "AK" + "IA" + _r(rng, _UP + string.digits, 16)
    aws_secret = _r(rng, _B64, 40)
    add("aws access key id", f'AWS_ACCESS_KEY_ID = "{aws_id}"', aws_id)
    add("aws secret access key", f'aws_secret_access_key = "{aws_secret}"', aws_secret)
    add("aws keys in .env", f"AWS_ACCESS_KEY_ID={aws_id}\nAWS_SECRET_ACCESS_KEY={aws_secret}", aws_id, aws_secret,
        env_file=True)

    gh = "gh" + "p_" + _r(rng, _ALNUM, 36)
    add("github classic token", f'token = "{gh}"', gh)
    add("github token in a URL", f"git clone https://{gh}@github.com/acme/private.git", gh)
    gh_fine = "github" + "_pat_" + _r(rng, _ALNUM, 22) + "_" + _r(rng, _ALNUM, 59)
    add("github fine-grained token", f'GH_TOKEN = "{gh_fine}"', gh_fine)

    oa_proj = "sk-" + "proj-" + _r(rng, _ALNUM + "_-", 64)
    add("openai project key", f'client = OpenAI(api_key="{oa_proj}")', oa_proj)
    oa_legacy = "sk-" + _r(rng, _ALNUM, 20) + "T3Blbk" + "FJ" + _r(rng, _ALNUM, 20)
    add("openai legacy key", f"OPENAI_API_KEY={oa_legacy}", oa_legacy, env_file=True)

    anth = "sk-" + "ant-" + "api03-" + _r(rng, _ALNUM + "_-", 93) + "AA"
    add("anthropic key", f'anthropic.Anthropic(api_key="{anth}")', anth)
    add("anthropic key in .env", f"ANTHROPIC_API_KEY={anth}", anth, env_file=True)

    slack_bot = "xo" + "xb-" + _r(rng, string.digits, 12) + "-" + _r(rng, string.digits, 13) + "-" + _r(rng, _ALNUM, 24)
    add("slack bot token", f'SLACK_BOT_TOKEN = "{slack_bot}"', slack_bot)
    hook = ("https://hooks." + "slack.com/services/T" + _r(rng, _UP + string.digits, 8) + "/B"
            + _r(rng, _UP + string.digits, 8) + "/" + _r(rng, _ALNUM, 24))
    add("slack webhook", f'requests.post("{hook}", json=payload)', hook.rsplit("/", 1)[1])

    stripe = "sk" + "_live_" + _r(rng, _ALNUM, 24)
    add("stripe secret key", f'stripe.api_key = "{stripe}"', stripe)
    stripe_rk = "rk" + "_live_" + _r(rng, _ALNUM, 24)
    add("stripe restricted key", f"STRIPE_KEY={stripe_rk}", stripe_rk, env_file=True)

    for label in ("RSA PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY"):
        block, body = _pem(rng, label)
        add(f"pem {label.lower()}", block, *body)

    p = pw()
    add(".env database password", f"DB_PASSWORD={p}", p, env_file=True)
    p = pw()
    add(".env secret key", f"SECRET_KEY={p}", p, env_file=True)
    p = pw(18)
    add(".env quoted password", f'export ADMIN_PASSWORD="{p}"', p, env_file=True)
    p = pw()
    add("password in code", f'password = "{p}"', p)

    p = pw()
    add("postgres url", f'DATABASE_URL = "postgres://app_user:{p}@db.internal:5432/orders"', p)
    p = pw()
    add("mongodb srv url", f"mongo = MongoClient('mongodb+srv://svc:{p}@cluster0.example.net/prod')", p)
    p = pw()
    add("mysql url in .env", f"MYSQL_URL=mysql://root:{p}@127.0.0.1:3306/shop", p, env_file=True)
    p = pw()
    add("redis url", f'REDIS = "redis://:{p}@cache.internal:6379/0"', p)
    return out


def harmless() -> Planted:
    """A line that looks like configuration but holds no secret: the control, which must reach the cloud."""
    return Planted("control (no secret)", 'TIMEOUT_SECONDS = "30"  # marker-7f3a', ("marker-7f3a",))
