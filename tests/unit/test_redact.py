"""context.redaction: stable placeholders, restored in a streamed answer, and never on the wire.

The wire tests send a redacted prompt through each HTTP backend to its fake upstream on 127.0.0.1
(Ollama NDJSON, OpenAI SSE, Anthropic SSE), whose answer splits a placeholder across stream
chunks: the answer shown has the value back, and no request body, header or log line has it.
Secrets are assembled at run time: this file holds none a scanner would flag.
"""

import logging

import pytest
from hypothesis import given, settings, strategies as st

from hybridlsp.backends import AnthropicBackend, ChatRequest, Message, OllamaBackend, OpenAIBackend
from hybridlsp.context.redaction import Redactor
from hybridlsp.context.secrets import contains_secret, secret_spans
from tests.fakes import FakeAnthropic, FakeOllama, FakeOpenAI
from tests.fakes.fixtures import settings_for


def j(*parts: str) -> str:
    return "".join(parts)


GITHUB = j("gh", "p_", "a1B2c3D4e5F6g7H8i9J0", "k1L2m3N4o5P6q7R8")
PASSWORD = j("S3cr3t-", "Passw0rd")
STRIPE = j("sk", "_live_", "4eC39HqLyjWDarjtT1zdp7dc")
PROMPT = j(
    "Why does the client fail?\n",
    f'GITHUB_TOKEN = "{GITHUB}"\n',
    f'DATABASE_URL = "postgres://app:{PASSWORD}@db.internal:5432/app"\n',
    f"stripe.api_key = '{STRIPE}'\n",
    f'fallback_token = "{GITHUB}"\n',
)
VALUES = (GITHUB, PASSWORD, STRIPE)


def test_each_value_gets_one_stable_placeholder():
    r = Redactor()
    sent = r.redact(PROMPT, "app/settings.py")
    assert all(v not in sent for v in VALUES)
    assert sent.count("<SECRET_1>") == 2  # the same token twice: one placeholder
    assert "<SECRET_2>" in sent and "<SECRET_3>" in sent and "<SECRET_4>" not in sent
    assert r.count == 3 and sum(r.kinds.values()) == 3
    assert "app:<SECRET_2>@db.internal" in sent  # only the value goes, the rest stays readable
    # a second text of the same request (the diff, the file) reuses the placeholders
    assert r.redact(f"token: {GITHUB}\n", "ci.yaml") == "token: <SECRET_1>\n"
    assert r.restore(sent) == PROMPT


def test_a_redacted_text_passes_the_gate():
    sent = Redactor().redact(PROMPT, "app/settings.py")
    assert contains_secret(PROMPT, "app/settings.py") and not contains_secret(sent, "app/settings.py")


def test_kinds_never_carry_the_value():
    r = Redactor()
    r.redact(PROMPT)
    assert all(v not in repr(r.kinds) for v in VALUES)


def test_spans_cover_each_value_exactly():
    spans = secret_spans(PROMPT, "app/settings.py")
    assert sorted(PROMPT[s:e] for s, e, _ in spans) == sorted([GITHUB, GITHUB, PASSWORD, STRIPE])


def test_a_pem_block_is_one_placeholder():
    body = ["MIIEpAIBAAKCAQEA1c2FyZW5vdGhlcmtleWhlcmVmb3JleGFtcGxlb25seWRv", "bm90dXNlaW5wcm9kdWN0aW9uMTIz=="]
    pem = "\n".join([j("-----BEGIN RSA ", "PRIVATE KEY-----"), *body, j("-----END RSA ", "PRIVATE KEY-----")])
    r = Redactor()
    sent = r.redact(f"key = '''\n{pem}\n'''\n")
    assert sent == "key = '''\n<SECRET_1>\n'''\n" and r.restore(sent).count(body[0]) == 1


@pytest.mark.parametrize("text", ["no secret here", "a <b> tag and <SECRET_> and <SECRET_x>", "x < y <SECRET_9>"])
def test_text_without_known_placeholders_is_unchanged(text):
    r = Redactor()
    r.redact(PROMPT)
    assert r.restore(text) == text
    stream = r.restorer()
    assert stream.feed(text) + stream.flush() == text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=60), max_size=8))
def test_a_streamed_answer_is_restored_wherever_the_chunks_split(cuts):
    r = Redactor()
    r.redact(PROMPT)
    answer = "Set <SECRET_1> then <SECRET_2><SECRET_3> and compare a<b, <SECRET_ and <SECRET_12>."
    points = sorted({min(c, len(answer)) for c in cuts})
    pieces = [answer[a:b] for a, b in zip([0, *points], [*points, len(answer)])]
    stream = r.restorer()
    out = [stream.feed(p) for p in pieces] + [stream.flush()]
    assert "".join(out) == r.restore(answer)


# -- on the wire ----------------------------------------------------------------------------------

ANSWER_CHUNKS = ["Pass ", "<SEC", "RET_", "1> to ", "the client; the database password is <SECRET", "_2>."]
WIRES = {
    "ollama": (FakeOllama, lambda fake: OllamaBackend(settings_for(fake)), "qwen2.5-coder:7b"),
    "openai": (FakeOpenAI, lambda fake: OpenAIBackend(settings_for(fake), env={"OPENAI_API_KEY": "test-key-1"}),
               "gpt-4.1-mini"),
    "anthropic": (FakeAnthropic,
                  lambda fake: AnthropicBackend(settings_for(fake), env={"ANTHROPIC_API_KEY": "test-key-2"}),
                  "claude-sonnet-4-5"),
}


@pytest.mark.parametrize("wire", list(WIRES))
async def test_the_value_never_reaches_the_wire_or_the_log(wire, caplog):
    fake_class, make, model = WIRES[wire]
    caplog.set_level(logging.DEBUG)
    r = Redactor()
    with fake_class(chunks=ANSWER_CHUNKS) as fake:
        backend = make(fake)
        try:
            request = ChatRequest(model=model, max_tokens=64, temperature=0.1, messages=(
                Message("system", "Be brief."), Message("user", r.redact(PROMPT, "app/settings.py"))))
            stream = r.restorer()
            shown = [stream.feed(chunk.text) async for chunk in backend.stream(request)]
            shown.append(stream.flush())
        finally:
            await backend.aclose()
        recorded = list(fake.requests)
    assert "".join(shown) == (f"Pass {GITHUB} to the client; the database password is {PASSWORD}.")
    assert recorded, "the fake received no request"
    for req in recorded:
        wire_text = req.body.decode("utf-8", "replace") + repr(req.headers) + req.path
        assert "<SECRET_1>" in wire_text or req.path != fake.stream_path  # the redacted prompt went
        for value in VALUES:
            assert value not in wire_text
    for value in VALUES:
        assert value not in caplog.text


# -- the setting ----------------------------------------------------------------------------------


def test_on_secret_defaults_to_local_and_takes_redact():
    from hybridlsp.config import Settings, settings_from_mapping
    from hybridlsp.errors import ConfigError

    assert Settings().privacy.on_secret == "local"
    assert settings_from_mapping({"privacy": {"onSecret": "redact"}}).privacy.on_secret == "redact"
    with pytest.raises(ConfigError):
        settings_from_mapping({"privacy": {"on_secret": "cloud"}})


@pytest.mark.parametrize("user", ["local", "redact"])
def test_only_the_user_sets_on_secret(tmp_path, user):
    # it decides whether requests holding secrets go to the cloud: a repository's file cannot
    from hybridlsp.backends.settings import load_settings
    from hybridlsp.config import CREDENTIAL_KEYS

    assert ("privacy", "on_secret") in CREDENTIAL_KEYS  # so editor settings are refused too
    home, ws = tmp_path / "home", tmp_path / "ws"
    home.mkdir()
    ws.mkdir()
    (home / "config.toml").write_text(f'[privacy]\non_secret = "{user}"\n')
    other = "local" if user == "redact" else "redact"
    (ws / ".hybridlsp.toml").write_text(f'[privacy]\non_secret = "{other}"\n')
    settings, notes = load_settings(ws, env={"HYBRIDLSP_HOME": str(home)})
    assert settings.privacy.on_secret == user
    assert any("privacy.on_secret" in n and "ignored" in n for n in notes), notes
