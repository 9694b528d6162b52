"""privacy.on_secret = "redact" end to end: the engine sends a request holding secrets to the cloud
with each value behind a placeholder, shows the answer with the values back, and records that it
redacted, never what. Checked at the fake servers (OpenAI and Anthropic, and Ollama when the cloud
fails over to it): no value is in any request body, header or path, nor in the log or the ledger.
"""

import logging
import sqlite3

import pytest

from hybridlsp.request import RunRequest
from tests.fakes import FakeAnthropic, FakeOllama, FakeOpenAI, Fault
from tests.unit.engine.test_pipeline import engine_for, ledger, make_settings  # noqa: F401

from .secret_corpus import corpus


def j(*parts: str) -> str:
    return "".join(parts)


TOKEN = j("gh", "p_", "a1B2c3D4e5F6g7H8i9J0", "k1L2m3N4o5P6q7R8")
PASSWORD = j("S3cr3t-", "Passw0rd")
PROMPT = j("[cloud] Why does the client fail with a 401?\n", f'GITHUB_TOKEN = "{TOKEN}"\n',
           f'DATABASE_URL = "postgres://app:{PASSWORD}@db.internal:5432/app"\n')
CHUNKS = ["Rotate ", "<SECR", "ET_1>; and the URL's pass", "word <SECRET_2", "> is fine."]
SHOWN = f"Rotate {TOKEN}; and the URL's password {PASSWORD} is fine."
CLOUDS = {"openai": FakeOpenAI, "anthropic": FakeAnthropic}


def _wire(fake) -> str:
    return "\n".join(r.body.decode("utf-8", "replace") + repr(r.headers) + r.path for r in fake.requests)


@pytest.mark.parametrize("provider", list(CLOUDS))
async def test_redacted_request_goes_to_the_cloud_without_the_values(provider, ledger, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    with FakeOllama() as ollama, CLOUDS[provider](chunks=CHUNKS) as cloud:
        eng = engine_for(make_settings(ollama, cloud, cache={"enabled": False}, privacy={"on_secret": "redact"}),
                         ledger)
        streamed: list[str] = []
        try:
            res = await eng.run(RunRequest(action="ask", text=PROMPT), on_text=streamed.append)
        finally:
            await eng.aclose()
        wire = _wire(cloud)
    assert res.tier == 3 and res.backend == provider, res
    assert "<SECRET_1>" in wire and "<SECRET_2>" in wire
    assert TOKEN not in wire and PASSWORD not in wire
    assert res.text == SHOWN and "".join(streamed) == SHOWN
    assert ollama.request_count == 0
    assert TOKEN not in caplog.text and PASSWORD not in caplog.text
    assert any("2 secret values" in n for n in res.notes), res.notes
    rows = sqlite3.connect(ledger.path).execute("SELECT redacted FROM requests WHERE kind = 'request'").fetchall()
    assert rows == [(2,)]
    raw = ledger.path.read_bytes()
    assert TOKEN.encode() not in raw and PASSWORD.encode() not in raw


async def test_local_stays_the_default(ledger):  # noqa: F811
    with FakeOllama() as ollama, FakeOpenAI() as cloud:
        eng = engine_for(make_settings(ollama, cloud, cache={"enabled": False}), ledger)
        try:
            res = await eng.run(RunRequest(action="ask", text=PROMPT))
        finally:
            await eng.aclose()
    assert res.tier != 3 and cloud.request_count == 0 and ollama.request_count >= 1


async def test_a_local_only_file_stays_local_when_redacting(tmp_path, ledger):  # noqa: F811
    env = tmp_path / "app" / ".env"
    with FakeOllama() as ollama, FakeOpenAI() as cloud:
        eng = engine_for(make_settings(ollama, cloud, cache={"enabled": False}, privacy={"on_secret": "redact"}),
                         ledger)
        try:
            await eng.run(RunRequest(action="explain", text="", document=f"GITHUB_TOKEN={TOKEN}\n", path=str(env),
                                     tier=3))
        finally:
            await eng.aclose()
    assert cloud.request_count == 0


@pytest.mark.parametrize("planted", corpus(), ids=lambda p: p.kind)
async def test_every_planted_secret_is_redacted_on_the_way_out(planted, ledger):  # noqa: F811
    with FakeOllama() as ollama, FakeOpenAI() as cloud:
        eng = engine_for(make_settings(ollama, cloud, cache={"enabled": False}, privacy={"on_secret": "redact"}),
                         ledger)
        try:
            await eng.run(RunRequest(action="ask", text="Why does this fail?\n" + planted.line, tier=3))
        finally:
            await eng.aclose()
        wire = _wire(cloud)
    assert cloud.request_count >= 1, "a redacted request should reach the cloud"
    assert not [p for p in planted.probes if p in wire]


async def test_a_fallback_to_ollama_gets_the_redacted_text_and_the_answer_is_restored(ledger):  # noqa: F811
    with FakeOllama(chunks=CHUNKS) as ollama, FakeOpenAI() as cloud:
        for _ in range(4):
            cloud.inject(Fault("500"))
        eng = engine_for(make_settings(ollama, cloud, cache={"enabled": False}, privacy={"on_secret": "redact"}),
                         ledger)
        try:
            res = await eng.run(RunRequest(action="ask", text=PROMPT))
        finally:
            await eng.aclose()
        local, wire = _wire(ollama), _wire(cloud) + _wire(ollama)
    assert cloud.request_count >= 1 and ollama.request_count >= 1 and res.backend == "ollama", res
    assert "<SECRET_1>" in local  # the local model got the redacted text too
    assert TOKEN not in wire and PASSWORD not in wire
    assert res.text == SHOWN


async def test_the_answer_signals_read_the_answer_as_shown(ledger):  # noqa: F811
    # `token = <SECRET_1>` does not parse; `token = ghp_...`, as shown, does: no escalation on it
    code = "```python\ntoken = <SECRET_1>\n```\n"
    with FakeOllama(answer=code) as ollama, FakeOpenAI() as cloud:
        eng = engine_for(make_settings(ollama, cloud, cache={"enabled": False}, privacy={"on_secret": "redact"},
                                       escalation={"signals": ["code-parse"]}), ledger)
        try:
            res = await eng.run(RunRequest(action="ask", text=PROMPT.replace("[cloud] ", ""), tier=1))
        finally:
            await eng.aclose()
    assert res.tier == 1 and not res.fallbacks, res
    assert ollama.request_count == 1 and cloud.request_count == 0
    assert res.text.strip() == code.replace("<SECRET_1>", TOKEN).strip()
