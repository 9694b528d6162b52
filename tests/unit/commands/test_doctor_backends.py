"""`hybridlsp doctor` per backend, against real fake servers on 127.0.0.1: each tier's host, Ollama's
pulled / loaded / context, a compatible server's model list, cloud keys; every FAIL counted."""

import io

from hybridlsp.config import settings_from_mapping
from hybridlsp.commands.doctor import run_doctor
from tests.fakes import FakeOllama, FakeOpenAI


def settings(**data):
    data.setdefault("embedded", {"enabled": False})
    return settings_from_mapping(data)


async def doctor(s, env=None) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_doctor(s, env=env or {}, out=out)
    return code, out.getvalue()


async def test_ollama_tiers_pulled_loaded_and_their_context():
    with FakeOllama(models=("qwen2.5-coder:14b", "llama3.3:70b"), loaded=("qwen2.5-coder:14b",)) as fake:
        fake.loaded_context = 8192
        code, out = await doctor(settings(backends={"ollama": {"host": fake.url}}))
    assert code == 0, out
    assert f"tier 1: ollama qwen2.5-coder:14b: ollama at {fake.url}, local" in out
    assert "tier 1: ollama qwen2.5-coder:14b: pulled, loaded with a 8,192-token context" in out
    assert "tier 2: ollama llama3.3:70b: pulled, not loaded yet" in out
    assert "OPENAI_API_KEY is not set" in out  # tier 3: a warning, not a failure


async def test_a_missing_model_is_a_fail_with_the_pull_line_and_a_nonzero_exit():
    with FakeOllama(models=("qwen2.5-coder:14b",)) as fake:
        code, out = await doctor(settings(backends={"ollama": {"host": fake.url}}))
    assert code == 1
    assert "[FAIL] tier 2: ollama llama3.3:70b: model not pulled\n       fix: ollama pull llama3.3:70b" in out
    assert "1 problem(s)" in out


async def test_a_model_loaded_with_another_context_is_a_warning_that_says_what_to_set():
    with FakeOllama(models=("qwen2.5-coder:14b", "llama3.3:70b"), loaded=("qwen2.5-coder:14b",)) as fake:
        fake.loaded_context = 4096
        code, out = await doctor(settings(backends={"ollama": {"host": fake.url}}))
    assert code == 0
    assert "[warn] tier 1: ollama qwen2.5-coder:14b: hybridlsp asks for num_ctx 8,192" in out
    assert "set tiers.tier1.num_ctx = 4096" in out


async def test_every_tier_on_a_down_host_is_a_fail():
    with FakeOllama() as fake:
        fake.down()
        code, out = await doctor(settings(backends={"ollama": {"host": fake.url}}))
    assert code == 1 and out.count("[FAIL]") == 2 and "2 problem(s)" in out
    assert "ollama serve" in out


async def test_a_compatible_server_is_asked_for_its_models_and_a_cloud_key_is_checked():
    with FakeOllama(models=("qwen2.5-coder:14b",)) as laptop, \
            FakeOpenAI(models=("qwen2.5-coder-32b-instruct",)) as lab:
        s = settings(
            backends={"ollama": {"host": laptop.url},
                      "lab": {"kind": "openai-compatible", "base_url": lab.base_url}},
            tiers={"tier2": {"backend": "lab", "model": "qwen2.5-coder-32b-instruct"}})
        code, out = await doctor(s, env={"OPENAI_API_KEY": "sk-test-0123456789"})
    assert code == 0, out
    assert f"tier 2: lab qwen2.5-coder-32b-instruct: openai-compatible at {lab.base_url}, local" in out
    assert "tier 2: lab qwen2.5-coder-32b-instruct: served" in out
    assert "tier 3: openai gpt-4.1: OPENAI_API_KEY is set" in out
    assert [r.path for r in lab.probes] == ["/v1/models"]


async def test_a_model_the_compatible_server_does_not_serve_is_a_fail():
    with FakeOllama(models=("qwen2.5-coder:14b",)) as laptop, FakeOpenAI(models=("other-model",)) as lab:
        s = settings(
            backends={"ollama": {"host": laptop.url},
                      "lab": {"kind": "openai-compatible", "base_url": lab.base_url}},
            tiers={"tier2": {"backend": "lab", "model": "qwen2.5-coder-32b-instruct"}})
        code, out = await doctor(s)
    assert code == 1
    assert "the server does not list qwen2.5-coder-32b-instruct (it serves other-model)" in out
