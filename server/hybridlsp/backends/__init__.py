"""Backends: one small interface (`base`), four implementations (five kinds: `openai-compatible`
is the OpenAI wire format without a required key), named instances, a registry by name, and the
one answer to "is this cloud?" (`location`)."""
# Names load on first use (PEP 562): httpx and llama_cpp are not needed to answer `initialize`.

from .. import lazy_names

__all__ = [
    "Backend",
    "ChatRequest",
    "Chunk",
    "Health",
    "Message",
    "Usage",
    "FINISH_STOP",
    "FINISH_LENGTH",
    "FINISH_REFUSAL",
    "FINISH_FILTERED",
    "strip_thinking",
    "OllamaBackend",
    "OpenAIBackend",
    "AnthropicBackend",
    "EmbeddedBackend",
    "register",
    "unregister",
    "create_backend",
    "spec",
    "build_key",
    "is_cloud",
    "host_key",
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
    "FINISH_STOP": "base",
    "FINISH_LENGTH": "base",
    "FINISH_REFUSAL": "base",
    "FINISH_FILTERED": "base",
    "strip_thinking": "_reasoning",
    "spec": "registry",
    "build_key": "registry",
    "host_key": "registry",
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
