"""OLLAMA_HOST read the way Ollama itself reads it, and which Ollama models run in its cloud."""

import pytest

from hybridlsp.backends.ollama import ollama_base_url, runs_in_cloud
from hybridlsp.backends.settings import load_settings
from hybridlsp.backends import OllamaBackend
from tests.fakes import FakeOllama


@pytest.mark.parametrize(
    "value, url",
    [
        ("", "http://127.0.0.1:11434"),
        ("0.0.0.0", "http://127.0.0.1:11434"),  # the server's listen-everywhere address
        ("0.0.0.0:11500", "http://127.0.0.1:11500"),
        ("localhost", "http://localhost:11434"),
        ("localhost:8080", "http://localhost:8080"),
        (":56789", "http://127.0.0.1:56789"),
        ("gpu-box", "http://gpu-box:11434"),
        ("10.1.2.3:11434", "http://10.1.2.3:11434"),
        ("http://gpu-box", "http://gpu-box:80"),  # Ollama: an explicit scheme means its own port
        ("https://ollama.example.com", "https://ollama.example.com:443"),
        ("https://ollama.example.com:8443/ollama/", "https://ollama.example.com:8443/ollama"),
        ("http://127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("gpu-box/", "http://gpu-box:11434"),
        ("'localhost:11434'", "http://localhost:11434"),  # quotes from a service file
        ("[::1]", "http://[::1]:11434"),
        ("[::]:11434", "http://[::1]:11434"),
        ("[fe80::1]:9000", "http://[fe80::1]:9000"),
        ("gpu-box:notaport", "http://gpu-box:11434"),
    ],
)
def test_ollama_host_forms(value, url):
    assert ollama_base_url(value) == url


@pytest.mark.parametrize("value, url", [("0.0.0.0", "http://127.0.0.1:11434"), ("localhost", "http://localhost:11434")])
async def test_ollama_host_from_the_environment_means_port_11434(tmp_path, value, url):
    settings, _ = load_settings(env={"OLLAMA_HOST": value, "HYBRIDLSP_HOME": str(tmp_path)})
    backend = OllamaBackend(settings)
    try:
        assert backend.host == url
    finally:
        await backend.aclose()


@pytest.mark.parametrize("form", [":{port}", "0.0.0.0:{port}", "127.0.0.1:{port}"])
async def test_ollama_host_forms_reach_the_server(tmp_path, form):
    with FakeOllama() as fake:
        env = {"OLLAMA_HOST": form.format(port=fake.port), "HYBRIDLSP_HOME": str(tmp_path)}
        settings, _ = load_settings(env=env)
        backend = OllamaBackend(settings)
        try:
            health = await backend.health()
        finally:
            await backend.aclose()
    assert health.reachable, health.detail


@pytest.mark.parametrize(
    "model, cloud",
    [
        ("gpt-oss:120b-cloud", True),
        ("qwen3-coder:480b-cloud", True),
        ("glm-4.6:cloud", True),
        ("deepseek-v3.1:671b-cloud", True),
        ("qwen2.5-coder:14b", False),
        ("llama3.3:70b", False),
        ("cloudy-model:7b", False),
        ("qwen3", False),
    ],
)
def test_ollama_cloud_models(model, cloud):
    assert runs_in_cloud(model) is cloud
