"""Backends: one small interface (`base`), four implementations, and a registry by name."""
# Names load on first use (PEP 562): httpx and llama_cpp are not needed to answer `initialize`.

from importlib import import_module

__all__ = [
    "Backend",
    "ChatRequest",
    "Chunk",
    "Health",
    "Message",
    "Usage",
    "OllamaBackend",
    "OpenAIBackend",
    "AnthropicBackend",
    "EmbeddedBackend",
    "register",
    "unregister",
    "create_backend",
    "is_cloud",
    "credentials_present",
    "registered_names",
]

_WHERE = {
    "AnthropicBackend": "anthropic",
    "Backend": "base",
    "ChatRequest": "base",
    "Chunk": "base",
    "Health": "base",
    "Message": "base",
    "Usage": "base",
    "EmbeddedBackend": "embedded",
    "OllamaBackend": "ollama",
    "OpenAIBackend": "openai",
    "create_backend": "registry",
    "credentials_present": "registry",
    "is_cloud": "registry",
    "register": "registry",
    "registered_names": "registry",
    "unregister": "registry",
}


def __getattr__(name: str):
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
