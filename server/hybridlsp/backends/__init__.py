"""Backends: one small interface (`base`), four implementations (five kinds: `openai-compatible`
is the OpenAI wire format without a required key), named instances, a registry by name, and the
one answer to "is this cloud?" (`location`)."""
# Names load on first use (PEP 562): httpx and llama_cpp are not needed to answer `initialize`.

import sys

from .. import lazy_names

# httpx's __init__ imports its command-line client (click, pygments, rich) whenever click is
# installed, as the embedded tier's `llm` installs it: ~2 MB of every server's memory and the
# import of click and pygments, for a tool nothing here runs. A None entry makes that one import
# fail as it does where click is absent; httpx then keeps its stub `main`.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)

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
