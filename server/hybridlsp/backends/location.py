"""The one answer to "does a prompt sent to this backend leave the machine?".

Built-in backends are named here; a backend registered later says it for itself
(`registry.register(..., cloud=True)`). Nothing else in the package keeps its own list: the policy
gets the cloud names passed in (`routing` never imports `backends`), the ledger prices a local
backend's hardware time, the budget reserves only for cloud hops. This module imports nothing, so
asking costs no start-up.
"""

from __future__ import annotations

__all__ = ["is_cloud", "is_local", "cloud_backends", "local_backends", "declare"]

# name -> True when prompts go to a provider over the network
_WHERE: dict[str, bool] = {"ollama": False, "embedded": False, "openai": True, "anthropic": True}


def declare(name: str, *, cloud: bool) -> None:
    """Say where a (newly registered) backend sends prompts."""
    _WHERE[name] = cloud


def is_cloud(name: str) -> bool:
    """True for a backend that sends prompts off the machine (an unknown name is not one: the
    registry refuses to create it)."""
    return _WHERE.get(name, False)


def is_local(name: str) -> bool:
    """True for a backend on the user's own hardware: no per-token bill."""
    return _WHERE.get(name) is False


def cloud_backends() -> frozenset[str]:
    return frozenset(n for n, cloud in _WHERE.items() if cloud)


def local_backends() -> frozenset[str]:
    return frozenset(n for n, cloud in _WHERE.items() if not cloud)
