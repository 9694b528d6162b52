"""Backends: one small interface (`base`), four implementations, and a registry by name."""

from .anthropic import AnthropicBackend
from .base import Backend, ChatRequest, Chunk, Health, Message, Usage
from .embedded import EmbeddedBackend
from .ollama import OllamaBackend
from .openai import OpenAIBackend
from .registry import create_backend, credentials_present, is_cloud, register, registered_names, unregister

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
