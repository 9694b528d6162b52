"""Backends by name: creation, cloud or local (`backends.location`, the one answer), and whether a
key is there."""

import pytest

from hybridlsp.backends import (
    AnthropicBackend,
    Backend,
    EmbeddedBackend,
    OllamaBackend,
    OpenAIBackend,
    create_backend,
    credentials_present,
    is_cloud,
    register,
    registered_names,
    unregister,
)
from hybridlsp.backends.location import cloud_backends, is_local
from hybridlsp.config import settings_from_mapping
from hybridlsp.errors import ConfigError

SETTINGS = settings_from_mapping({})


@pytest.mark.parametrize(
    "name, cls, cloud",
    [
        ("ollama", OllamaBackend, False),
        ("openai", OpenAIBackend, True),
        ("anthropic", AnthropicBackend, True),
        ("embedded", EmbeddedBackend, False),
    ],
)
async def test_create_backend_by_name(name, cls, cloud):
    backend = create_backend(name, SETTINGS, env={})
    try:
        assert type(backend) is cls and isinstance(backend, Backend)
        assert backend.name == name
        assert is_cloud(name) is cloud and is_local(name) is not cloud
    finally:
        await backend.aclose()


@pytest.mark.parametrize(
    "name, env, settings, present",
    [
        ("ollama", {}, {}, True),
        ("embedded", {}, {}, True),
        ("openai", {}, {}, False),
        ("openai", {"OPENAI_API_KEY": "  "}, {}, False),
        ("openai", {"OPENAI_API_KEY": "sk-x"}, {}, True),
        ("openai", {"OPENAI_API_KEY": "sk-x"}, {"backends": {"openai": {"api_key_env": "MY_KEY"}}}, False),
        ("openai", {"MY_KEY": "k"}, {"backends": {"openai": {"api_key_env": "MY_KEY"}}}, True),
        ("anthropic", {"OPENAI_API_KEY": "sk-x"}, {}, False),
        ("anthropic", {"ANTHROPIC_API_KEY": "sk-ant-x"}, {}, True),
    ],
)
def test_credentials_present(name, env, settings, present):
    assert credentials_present(name, settings_from_mapping(settings), env) is present


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(ConfigError, match="ollama"):
        create_backend("nope", SETTINGS)
    assert not is_cloud("nope") and not is_local("nope")  # neither: the registry refuses to create it


async def test_register_adds_a_backend():
    made = []

    def factory(settings, *, transport=None, env=None):
        made.append((settings, transport, env))
        return OllamaBackend(settings)

    register("test-local", factory)
    try:
        backend = create_backend("test-local", SETTINGS, env={"A": "1"})
        await backend.aclose()
        assert "test-local" in registered_names() and not is_cloud("test-local")
        assert made == [(SETTINGS, None, {"A": "1"})]
    finally:
        unregister("test-local")
    assert "test-local" not in registered_names()


async def test_a_registered_cloud_backend_is_cloud_everywhere():
    register("test-cloud", lambda settings, **kw: OllamaBackend(settings), cloud=True)
    try:
        assert is_cloud("test-cloud") and not is_local("test-cloud") and "test-cloud" in cloud_backends()
    finally:
        unregister("test-cloud")
