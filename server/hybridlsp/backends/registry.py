"""Backends by name: one `register(...)` call per backend, and the questions the engine asks by name.

`routing` returns backend names; only the engine turns a name into a live backend, through here.
Each built-in backend's module (and httpx with it) is imported by its factory, when one is
created: `credentials_present` is asked by `hybridlsp route`, which calls no model. Whether a
backend is cloud is `location.is_cloud`'s answer; `register(..., cloud=True)` tells it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

from ..errors import ConfigError
from .location import declare

if TYPE_CHECKING:
    import httpx

    from ..config import Settings
    from .base import Backend

__all__ = ["register", "unregister", "create_backend", "credentials_present", "registered_names"]

# factory(settings, *, transport=None, env=None) -> Backend
Factory = Callable[..., "Backend"]


@dataclass(frozen=True)
class _Entry:
    factory: Factory
    key_env: Callable[[Settings], str] | None  # the setting that names the API-key variable


_REGISTRY: dict[str, _Entry] = {}


def register(
    name: str, factory: Factory, *, cloud: bool = False, key_env: Callable[[Settings], str] | None = None
) -> None:
    """Make a backend available by `name`. A cloud backend says where its key comes from."""
    _REGISTRY[name] = _Entry(factory, key_env)
    if cloud:
        declare(name, cloud=True)


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def registered_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(_REGISTRY)
        raise ConfigError("backend", f"unknown backend {name!r} (known: {known})") from None


def create_backend(
    name: str,
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Backend:
    """A new backend instance; the caller owns it and must `await backend.aclose()`."""
    return _entry(name).factory(settings, transport=transport, env=env)


def credentials_present(name: str, settings: Settings, env: Mapping[str, str] | None = None) -> bool:
    """True when `name` needs no key, or its key variable is set and not blank."""
    entry = _entry(name)
    if entry.key_env is None:
        return True
    env = os.environ if env is None else env
    return bool((env.get(entry.key_env(settings)) or "").strip())


def _ollama(settings, *, transport=None, env=None):
    from .ollama import OllamaBackend  # httpx (or llama_cpp) only once a ollama backend is created

    return OllamaBackend(settings, transport=transport)


def _openai(settings, *, transport=None, env=None):
    from .openai import OpenAIBackend  # httpx (or llama_cpp) only once a openai backend is created

    return OpenAIBackend(settings, env=env, transport=transport)


def _anthropic(settings, *, transport=None, env=None):
    from .anthropic import AnthropicBackend  # httpx (or llama_cpp) only once a anthropic backend is created

    return AnthropicBackend(settings, env=env, transport=transport)


def _embedded(settings, *, transport=None, env=None):
    from .embedded import EmbeddedBackend  # httpx (or llama_cpp) only once a embedded backend is created

    return EmbeddedBackend(settings)


register("ollama", _ollama)
register("openai", _openai, cloud=True, key_env=lambda s: s.backends.openai.api_key_env)
register("anthropic", _anthropic, cloud=True, key_env=lambda s: s.backends.anthropic.api_key_env)
register("embedded", _embedded)
