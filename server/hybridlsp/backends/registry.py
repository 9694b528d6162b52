"""Backends by name: the built-ins, the user's `[backends.NAME]` instances, and any backend added
with one `register(...)` call; and the questions the engine asks by name.

`routing` returns backend names; only the engine turns a name into a live backend, through here.
Each backend's module (and httpx with it) is imported by its factory, when one is created:
`credentials_present` is asked by `hybridlsp route`, which calls no model. Whether a backend is
cloud is `location.is_cloud`'s answer; `register(..., cloud=True)` tells it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

from ..errors import ConfigError
from ._hosts import host_key as _host_key
from ._hosts import ollama_base_url
from .location import declare, is_cloud, place

if TYPE_CHECKING:
    import httpx

    from ..config import Settings
    from .base import Backend

__all__ = [
    "Spec",
    "register",
    "unregister",
    "create_backend",
    "spec",
    "build_key",
    "is_cloud",  # location's, here too for callers that create backends as well
    "credentials_present",
    "host_key",
    "registered_names",
]

# factory(settings, *, transport=None, env=None) -> Backend
Factory = Callable[..., "Backend"]

# the API-key variable a kind uses when `api_key_env` leaves it out
_KEY_VAR = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


@dataclass(frozen=True)
class Spec:
    """What one backend instance is made from: when it changes, the instance is made again."""

    name: str
    kind: str  # ollama | openai-compatible | openai | anthropic | embedded | a registered name
    base_url: str
    location: str  # "local" | "cloud": the privacy gate, prices and budgets read it
    api_key_env: str  # "" = sends no key


@dataclass(frozen=True)
class _Entry:
    factory: Factory
    key_env: Callable[[Settings], str] | None  # the setting that names the API-key variable


_REGISTRY: dict[str, _Entry] = {}
_BUILTIN = ("ollama", "openai", "anthropic", "embedded")


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


def _named(name: str, settings: Settings | None):
    if settings is None or name in _BUILTIN:
        return None
    return settings.backends.named().get(name)


def spec(name: str, settings: Settings) -> Spec:
    """The instance `name` stands for in `settings`."""
    b = settings.backends
    inst = _named(name, settings)
    if inst is not None:
        kind = inst.kind
        base_url = inst.base_url or {
            "ollama": b.ollama.host, "openai": b.openai.base_url, "anthropic": b.anthropic.base_url,
        }.get(kind, "")
        if kind == "ollama":
            base_url = ollama_base_url(base_url)
        key = inst.api_key_env or _KEY_VAR.get(kind, "")
        return Spec(name, kind, base_url, place(name, settings)[1], key)
    if name == "ollama":
        return Spec(name, "ollama", ollama_base_url(b.ollama.host), "local", "")
    if name == "openai":
        return Spec(name, "openai", b.openai.base_url, "cloud", b.openai.api_key_env)
    if name == "anthropic":
        return Spec(name, "anthropic", b.anthropic.base_url, "cloud", b.anthropic.api_key_env)
    if name == "embedded":
        return Spec(name, "embedded", "", "local", "")
    entry = _entry(name, settings)
    return Spec(name, name, "", place(name)[1], entry.key_env(settings) if entry.key_env else "")


def build_key(name: str, settings: Settings) -> tuple:
    """Everything an instance of `name` is built from: a backend whose key changed with the settings
    is made again (a new host, key variable, timeout or keep-alive reaches it at once)."""
    s = spec(name, settings)
    extra: tuple = ()
    if s.kind == "ollama":
        extra = (settings.backends.ollama.keep_alive,)
    elif s.kind == "anthropic":
        extra = (settings.backends.anthropic.version,)
    elif s.kind == "embedded":
        extra = tuple(settings.embedded.model_dump().items())
    # the stream limits and timeouts are the backend's own (its Upstream reads them when made)
    return (s, tuple(settings.dispatch.model_dump().items()), extra)


def _entry(name: str, settings: Settings | None = None) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        named = sorted(settings.backends.named()) if settings is not None else []
        known = ", ".join([*_REGISTRY, *named])
        raise ConfigError("backend", f"unknown backend {name!r} (known: {known})") from None


def create_backend(
    name: str,
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Backend:
    """A new backend instance; the caller owns it and must `await backend.aclose()`."""
    if _named(name, settings) is None:
        return _entry(name, settings).factory(settings, transport=transport, env=env)
    s = spec(name, settings)
    if s.kind == "ollama":
        from .ollama import OllamaBackend

        return OllamaBackend(settings, transport=transport, name=name, host=s.base_url)
    if s.kind in ("openai", "openai-compatible"):
        from .openai import OpenAIBackend

        return OpenAIBackend(settings, env=env, transport=transport, name=name, kind=s.kind,
                             base_url=s.base_url, api_key_env=s.api_key_env)
    if s.kind == "anthropic":
        from .anthropic import AnthropicBackend

        return AnthropicBackend(settings, env=env, transport=transport, name=name, base_url=s.base_url,
                                api_key_env=s.api_key_env)
    return _entry("embedded").factory(settings, transport=transport, env=env)


def host_key(name: str, settings: Settings) -> str:
    """What a breaker and its cool-down are kept per: the host, so tiers on one server share them."""
    s = spec(name, settings)
    return _host_key(s.base_url) if s.base_url else s.name


def credentials_present(name: str, settings: Settings, env: Mapping[str, str] | None = None) -> bool:
    """True when `name` needs no key, or its key variable is set and not blank."""
    s = spec(name, settings)
    if s.kind in ("ollama", "openai-compatible", "embedded") or not s.api_key_env:
        return True  # a compatible server's key is optional: it says so itself (HTTP 401) if it wants one
    env = os.environ if env is None else env
    return bool((env.get(s.api_key_env) or "").strip())


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
