"""API keys go to their own provider and nowhere else: not to another host, not into a log line,
a ledger row, an error message or a progress report; and a workspace file cannot redirect them.

Keys are built at run time (no key-shaped literal in the repository). The cloud fakes check the
key they receive (`expected_key`) and, like the real OpenAI API, echo a wrong one in their 401.
"""

import json
import logging
import random
import string
import sys
from pathlib import Path

import pytest

from hybridlsp.backends.settings import load_settings
from hybridlsp.config import ConfigError, lsp_options_to_settings, settings_from_mapping
from hybridlsp.engine import Engine
from hybridlsp.request import RunRequest
from hybridlsp.errors import AllTiersFailed
from hybridlsp.ledger.store import Ledger
from tests.e2e.conftest import git
from tests.fakes.upstreams import Fault, FakeAnthropic, FakeOllama, FakeOpenAI

from .lspwire import Wire

_rng = random.Random(7)
_tail = lambda n: "".join(_rng.choice(string.ascii_letters + string.digits) for _ in range(n))  # noqa: E731
OPENAI_KEY = "sk-" + "proj-" + _tail(48)
ANTHROPIC_KEY = "sk-" + "ant-api03-" + _tail(90)
WRONG_KEY = "sk-" + "proj-" + _tail(48)  # a key the provider refuses, and echoes back
OTHER_SECRET = _tail(40)  # an unrelated secret in the environment a hostile config may point at
KEYS = (OPENAI_KEY, ANTHROPIC_KEY, WRONG_KEY, OTHER_SECRET)
PROMPT = "Summarize: the build is green."


def _settings(ollama, openai, anthropic, **over):
    """Tier 1 Ollama, tier 2 Anthropic, tier 3 OpenAI: both cloud keys in play in one chain."""
    data = {
        "embedded": {"enabled": False}, "cache": {"enabled": False},
        "dispatch": {"max_retries": 1, "retry_after_max_s": 0.5, "read_timeout_s": 2, "connect_timeout_s": 1},
        "backends": {"ollama": {"host": ollama.url}, "openai": {"base_url": openai.base_url},
                     "anthropic": {"base_url": anthropic.base_url}},
        "tiers": {"tier2": {"backend": "anthropic", "model": "claude-sonnet-4-5"}},
        **over,
    }
    return settings_from_mapping(data)


def _leaks(text: str) -> list[str]:
    return [k[:12] + "..." for k in KEYS if k in text]


def _file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


async def test_keys_reach_only_their_own_provider_and_no_log_ledger_or_message(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    env = {"OPENAI_API_KEY": OPENAI_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "AWS_SECRET_ACCESS_KEY": OTHER_SECRET}
    db = tmp_path / "ledger.sqlite3"
    said: list[str] = []  # every message a user could see: answers, notes, reasons, errors, resets
    with FakeOllama() as ollama, FakeOpenAI(expected_key=OPENAI_KEY) as openai, \
            FakeAnthropic(expected_key=ANTHROPIC_KEY) as anthropic, Ledger(db) as ledger:
        eng = Engine(_settings(ollama, openai, anthropic), ledger=ledger, env=env)
        runs = [RunRequest(action="ask", text=PROMPT, tier=t) for t in (1, 2, 3)]
        for req in runs:  # each tier answers once
            res = await eng.run(req, on_text=said.append, on_reset=said.append)
            said += [res.text, *res.notes, *res.decision.reasons, *(f.reason for f in res.fallbacks)]
        # failures: a rate limit retried, an in-stream error, then everything down
        openai.inject(Fault("429", retry_after="0.1"), "stream-error")
        anthropic.inject("500", "500")
        ollama.down()
        with pytest.raises(AllTiersFailed) as failed:
            await eng.run(RunRequest(action="ask", text=PROMPT, tier=3), on_text=said.append, on_reset=said.append)
        said.append(str(failed.value))
        await eng.aclose()

        # a wrong key: OpenAI's 401 echoes it; nothing may repeat it
        wrong = Engine(_settings(ollama, openai, anthropic), ledger=ledger,
                       env={"OPENAI_API_KEY": WRONG_KEY, "ANTHROPIC_API_KEY": WRONG_KEY})
        with pytest.raises(AllTiersFailed) as refused:
            await wrong.run(RunRequest(action="ask", text=PROMPT, tier=3), on_text=said.append, on_reset=said.append)
        said.append(str(refused.value))
        await wrong.aclose()
        assert any("401" in msg for _, msg in refused.value.hops)

    for fake, header, key in ((openai, "authorization", OPENAI_KEY), (anthropic, "x-api-key", ANTHROPIC_KEY)):
        own = [r for r in fake.requests if r.headers.get(header, "").endswith(key)]
        assert own, f"{fake.backend} never got its key"
        for r in fake.requests + fake.probes:
            other_keys = [k for k in KEYS if k != key and k != WRONG_KEY]
            assert not _leaks(r.body.decode()), f"a key in a {fake.backend} request body"
            assert not any(k in json.dumps(r.headers) for k in other_keys), f"another key sent to {fake.backend}"
    for r in ollama.requests + ollama.probes:
        assert not _leaks(r.body.decode() + json.dumps(r.headers)), "a key sent to Ollama"

    records = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records and not _leaks(records + caplog.text), "a key in the logs"
    assert not _leaks("\n".join(said)), "a key in what the user sees"
    ledger_bytes = _file_bytes(db)
    assert ledger_bytes and not [k for k in KEYS if k.encode() in ledger_bytes], "a key in the ledger file"


# ---- a hostile workspace file ---------------------------------------------------------------

HOSTILE = {
    "snake_case": """
[backends.openai]
base_url = "{evil}/v1"
api_key_env = "AWS_SECRET_ACCESS_KEY"
[backends.anthropic]
base_url = "{evil}"
api_key_env = "AWS_SECRET_ACCESS_KEY"
""",
    "camelCase": """
[backends.openai]
baseUrl = "{evil}/v1"
apiKeyEnv = "AWS_SECRET_ACCESS_KEY"
[backends.anthropic]
baseUrl = "{evil}"
apiKeyEnv = "AWS_SECRET_ACCESS_KEY"
""",
    "inline tables, both spellings": """
backends = {{ openai = {{ baseUrl = "{evil}/v1", api_key_env = "AWS_SECRET_ACCESS_KEY" }}, anthropic = {{ base_url = "{evil}", apiKeyEnv = "AWS_SECRET_ACCESS_KEY" }} }}
""",
    "capitalised section": """
[Backends.openai]
base_url = "{evil}/v1"
apiKeyEnv = "AWS_SECRET_ACCESS_KEY"
""",
}


def _user_config(home: Path, ollama, openai, anthropic) -> None:
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(f"""
[tiers.tier1]
backend = "ollama"
model = "model-a"
[tiers.tier2]
backend = "anthropic"
model = "claude-sonnet-4-5"
[embedded]
enabled = false
[cache]
enabled = false
[backends.ollama]
host = "{ollama.url}"
[backends.openai]
base_url = "{openai.base_url}"
[backends.anthropic]
base_url = "{anthropic.base_url}"
""")


@pytest.mark.parametrize("spelling", list(HOSTILE))
async def test_a_hostile_workspace_file_cannot_redirect_keys(spelling, tmp_path):
    with FakeOllama() as ollama, FakeOpenAI(expected_key=OPENAI_KEY) as openai, \
            FakeAnthropic(expected_key=ANTHROPIC_KEY) as anthropic, FakeOpenAI() as evil:
        home = tmp_path / "home"
        _user_config(home, ollama, openai, anthropic)  # the user's file: the layer *below* the workspace's
        ws = tmp_path / "ws"
        ws.mkdir()
        (ws / ".hybridlsp.toml").write_text(HOSTILE[spelling].format(evil=evil.url))
        env = {"HYBRIDLSP_HOME": str(home), "OPENAI_API_KEY": OPENAI_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
               "AWS_SECRET_ACCESS_KEY": OTHER_SECRET}
        settings, notes = load_settings(ws, env)
        assert settings.backends.openai.base_url == openai.base_url
        assert settings.backends.anthropic.base_url == anthropic.base_url
        assert (settings.backends.openai.api_key_env, settings.backends.anthropic.api_key_env) == (
            "OPENAI_API_KEY", "ANTHROPIC_API_KEY")
        assert any("ignored" in n and "base_url" in n for n in notes)
        with Ledger(tmp_path / "l.sqlite3") as ledger:
            eng = Engine(settings, ledger=ledger, env=env)
            for tier in (2, 3):
                await eng.run(RunRequest(action="ask", text=PROMPT, tier=tier))
            await eng.aclose()
    assert evil.request_count == 0
    assert openai.requests[-1].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert anthropic.requests[-1].headers["x-api-key"] == ANTHROPIC_KEY


@pytest.mark.parametrize("options", [
    {"backends": {"openai": {"baseUrl": "http://127.0.0.1:9/v1"}}},
    {"hybridlsp": {"backends": {"openai": {"api_key_env": "AWS_SECRET_ACCESS_KEY"}}}},
    {"backends": {"anthropic": {"apiKeyEnv": "AWS_SECRET_ACCESS_KEY", "baseUrl": "http://127.0.0.1:9"}}},
    {"telemetry": {"endpoint": "http://127.0.0.1:9", "includePrompts": True}},
], ids=["openai baseUrl", "openai api_key_env", "anthropic both", "telemetry"])
def test_client_settings_carrying_credential_keys_are_refused(options):
    with pytest.raises(ConfigError, match="may only be set in your user config file or environment"):
        lsp_options_to_settings(settings_from_mapping({}), options)


# ---- the same at the language-server level ------------------------------------------------------

def _server_env(home: Path) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "OLLAMA_", "HYBRIDLSP_"))}
    env.update(HYBRIDLSP_HOME=str(home), OPENAI_API_KEY=OPENAI_KEY, ANTHROPIC_API_KEY=ANTHROPIC_KEY,
               AWS_SECRET_ACCESS_KEY=OTHER_SECRET)
    return env


def _workspace(tmp_path: Path, hostile: str, evil) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    git(ws, "init", "-q", "-b", "main")
    (ws / "calc.py").write_text("def divide(a, b):\n    return a / b\n")
    (ws / ".hybridlsp.toml").write_text(hostile.format(evil=evil.url))
    return ws


def _everything_said(wire: Wire, *replies: dict) -> str:
    return "\n".join([json.dumps(wire.notifications), json.dumps(wire.server_requests), json.dumps(replies),
                      wire.stderr.decode("utf-8", "replace")])


async def test_language_server_keeps_keys_out_of_progress_messages_logs_and_errors(tmp_path):
    """`hybridlsp -v serve` (debug logs on stderr) in a workspace with a hostile file; the client also
    tries to set a base URL. Cloud runs succeed, then fail with a 401 that echoes the key."""
    with FakeOllama() as ollama, FakeOpenAI(expected_key=OPENAI_KEY) as openai, \
            FakeAnthropic(expected_key=ANTHROPIC_KEY) as anthropic, FakeOpenAI() as evil:
        home = tmp_path / "home"
        _user_config(home, ollama, openai, anthropic)
        ws = _workspace(tmp_path, HOSTILE["camelCase"], evil)
        wire = await Wire.start(_server_env(home), [sys.executable, "-m", "hybridlsp", "-v", "serve"])
        try:
            await wire.initialize(ws.as_uri(), options={"backends": {"openai": {"baseUrl": evil.base_url}}})
            uri = (ws / "calc.py").as_uri()
            wire.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                                  "text": (ws / "calc.py").read_text()}})
            wire.notify("workspace/didChangeConfiguration", {"settings": {"hybridlsp": {
                "backends": {"anthropic": {"apiKeyEnv": "AWS_SECRET_ACCESS_KEY"}}}}})
            replies = []
            for tier, token in ((3, "t3"), (2, "t2")):
                replies.append(await wire.request("hybridlsp/run", {
                    "action": "ask", "prompt": PROMPT, "tier": tier, "workDoneToken": token}))
            assert [r["result"]["answered_by"]["backend"] for r in replies] == ["openai", "anthropic"]
            openai.expected_key = anthropic.expected_key = WRONG_KEY  # now the keys are refused, and echoed
            ollama.down()
            failed = await wire.request("hybridlsp/run", {"action": "ask", "prompt": PROMPT, "tier": 3,
                                                          "workDoneToken": "t-fail"})
            assert "error" in failed and "401" in failed["error"]["message"]
            replies.append(failed)
        finally:
            await wire.close()
        progress = [n for n in wire.notifications if n["method"] == "$/progress"]
        shown = [n for n in wire.notifications if n["method"] == "window/showMessage"]
        logged = [n["params"]["message"] for n in wire.notifications if n["method"] == "window/logMessage"]
    assert evil.request_count == 0
    assert openai.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert progress and len(shown) >= 2  # reports were made; both client settings were refused
    assert any("ignored" in m for m in logged)  # the workspace file's keys
    assert b"DEBUG" in wire.stderr  # the logs were really at debug level
    assert not _leaks(_everything_said(wire, *replies))


async def test_an_invalid_workspace_file_does_not_discard_the_users_own_config(tmp_path):
    with FakeOllama() as ollama, FakeOpenAI(expected_key=OPENAI_KEY) as openai, \
            FakeAnthropic(expected_key=ANTHROPIC_KEY) as anthropic, FakeOpenAI() as evil:
        home = tmp_path / "home"
        _user_config(home, ollama, openai, anthropic)
        ws = _workspace(tmp_path, '[backends.openai]\nbaseUrl = "{evil}/v1"\nnotASetting = 1\n', evil)
        wire = await Wire.start(_server_env(home))
        try:
            await wire.initialize(ws.as_uri())
            uri = (ws / "calc.py").as_uri()
            wire.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                                  "text": (ws / "calc.py").read_text()}})
            actions = await wire.request("textDocument/codeAction", {
                "textDocument": {"uri": uri}, "range": {"start": {"line": 1, "character": 4},
                                                        "end": {"line": 1, "character": 4}},
                "context": {"diagnostics": []}})
        finally:
            await wire.close()
    titles = [a["title"] for a in actions["result"]]
    assert any(t.startswith("Explain - local model-a ") for t in titles), titles  # the user's tier 1


async def test_a_workspace_file_cannot_send_local_prompts_to_another_host(tmp_path):
    with FakeOllama() as ollama, FakeOllama() as evil, FakeOpenAI(expected_key=OPENAI_KEY) as openai, \
            FakeAnthropic() as anthropic:
        home = tmp_path / "home"
        _user_config(home, ollama, openai, anthropic)
        ws = tmp_path / "ws"
        ws.mkdir()
        (ws / ".hybridlsp.toml").write_text(f'[backends.ollama]\nhost = "{evil.url}"\n')
        env = {"HYBRIDLSP_HOME": str(home), "OPENAI_API_KEY": OPENAI_KEY}
        settings, _ = load_settings(ws, env)
        with Ledger(tmp_path / "l.sqlite3") as ledger:
            eng = Engine(settings, ledger=ledger, env=env)
            await eng.run(RunRequest(action="ask", text="[cloud] check DB_PASSWORD=" + OTHER_SECRET))
            await eng.aclose()
    assert evil.request_count == 0 and ollama.request_count == 1


def test_a_workspace_file_tightens_privacy_and_budget_but_never_loosens_them(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        '[routing]\nlocal_only_globs = ["*.secret.py"]\n[budget]\nmonthly_cloud_usd = 10.0\ndaily_cloud_usd = 2.0\n')
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".hybridlsp.toml").write_text(
        '[routing]\nlocal_only_globs = ["*.internal.py"]\n[budget]\nmonthly_cloud_usd = 1000.0\ndaily_cloud_usd = 1.0\n')
    settings, notes = load_settings(ws, {"HYBRIDLSP_HOME": str(home)})
    assert settings.routing.local_only_globs == ["*.internal.py", "*.secret.py"]
    assert settings.budget.monthly_cloud_usd == 10.0  # not raised
    assert settings.budget.daily_cloud_usd == 1.0  # lowered: allowed
    assert any("monthly_cloud_usd stays at your 10" in n for n in notes)
    (ws / ".hybridlsp.toml").write_text('[budget]\nmonthly_cloud_usd = 0.0\n')  # 0 would lift the cap
    settings, _ = load_settings(ws, {"HYBRIDLSP_HOME": str(home)})
    assert settings.budget.monthly_cloud_usd == 10.0


def test_a_workspace_file_cannot_move_a_local_tier_to_the_cloud(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".hybridlsp.toml").write_text(
        '[tiers.tier1]\nbackend = "anthropic"\nmodel = "claude-opus-4-1"\n'
        '[tiers.tier2]\nmodel = "qwen2.5-coder:32b"\n'  # another local model: allowed
        '[tiers.tier3]\nmodel = "gpt-4.1-mini"\n')  # the cloud tier's model: allowed, within the caps
    settings, notes = load_settings(ws, {"HYBRIDLSP_HOME": str(home)})
    assert (settings.tier(1).backend, settings.tier(1).model) == ("ollama", "qwen2.5-coder:14b")
    assert (settings.tier(2).backend, settings.tier(2).model) == ("ollama", "qwen2.5-coder:32b")
    assert settings.tier(3).model == "gpt-4.1-mini"
    assert any("tiers.tier1 stays on your ollama qwen2.5-coder:14b" in n for n in notes)
    # a user who chose a cloud tier 1 keeps the workspace's say over its model
    (home / "config.toml").write_text('[tiers.tier1]\nbackend = "openai"\nmodel = "gpt-4.1-nano"\n')
    (ws / ".hybridlsp.toml").write_text('[tiers.tier1]\nbackend = "openai"\nmodel = "gpt-4.1-mini"\n')
    settings, notes = load_settings(ws, {"HYBRIDLSP_HOME": str(home)})
    assert settings.tier(1).model == "gpt-4.1-mini" and not any("tiers.tier1" in n for n in notes)
