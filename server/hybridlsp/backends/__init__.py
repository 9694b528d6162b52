"""Backends: one small interface (`base`), four implementations, a registry by name, and the one
answer to "is this backend cloud?" (`location`)."""
# Names load on first use (PEP 562): httpx and llama_cpp are not needed to answer `initialize`.

from .. import lazy_names

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
    "is_cloud": "location",
    "register": "registry",
    "registered_names": "registry",
    "unregister": "registry",
}


__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)
