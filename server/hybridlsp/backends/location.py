"""The one answer to "does a prompt sent to this backend (and model) leave the machine?".

Built-in backends are named here; a backend registered later says it for itself
(`registry.register(..., cloud=True)`); a user's `[backends.NAME]` says it with `location`, or
by its kind: `ollama` and `embedded` local, `openai` and `anthropic` cloud, `openai-compatible`
local on loopback and cloud elsewhere. An Ollama `*-cloud` model runs on ollama.com whichever
Ollama is asked for it. Nothing else in the package keeps its own list: the policy gets the cloud
tiers passed in (`routing` never imports `backends`), the ledger records each attempt's place, the
budget reserves only for cloud hops. This module imports only pure helpers, so asking costs no
start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._hosts import is_loopback, runs_in_cloud

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["is_cloud", "is_local", "place", "cloud_backends", "local_backends", "cloud_tiers", "declare"]

# name -> True when prompts go to a provider over the network
_WHERE: dict[str, bool] = {"ollama": False, "embedded": False, "openai": True, "anthropic": True}
_BUILTIN = ("ollama", "embedded", "openai", "anthropic")


def declare(name: str, *, cloud: bool) -> None:
    """Say where a (newly registered) backend sends prompts."""
    _WHERE[name] = cloud


def _named(name: str, settings: Settings | None):
    if settings is None or name in _BUILTIN:
        return None
    return settings.backends.named().get(name)


def place(name: str, settings: Settings | None = None) -> tuple[str, str]:
    """(kind, "local" | "cloud") of backend `name`, whatever model it is asked for."""
    inst = _named(name, settings)
    if inst is None:
        return name, "cloud" if _WHERE.get(name, False) else "local"
    if inst.location:
        return inst.kind, inst.location
    if inst.kind in ("ollama", "embedded"):
        return inst.kind, "local"
    base_url = inst.base_url or (settings.backends.openai.base_url if inst.kind != "anthropic" else "")
    if inst.kind == "openai-compatible" and is_loopback(base_url):
        return inst.kind, "local"  # LM Studio, llama.cpp's server, vLLM on this machine
    return inst.kind, "cloud"  # a host elsewhere is cloud until the user says `location = "local"`


def is_cloud(name: str, settings: Settings | None = None, model: str = "") -> bool:
    """True when a prompt sent to `model` on backend `name` leaves the machine (or the network the
    user called local). Without `settings`, only built-in and registered names are known (an
    unknown name is not cloud: the registry refuses to create it)."""
    kind, where = place(name, settings)
    return where == "cloud" or (kind == "ollama" and runs_in_cloud(model))


def is_local(name: str, settings: Settings | None = None, model: str = "") -> bool:
    """True for a backend on the user's own hardware (or team's): no per-token bill."""
    if settings is None and name not in _WHERE:
        return False
    return not is_cloud(name, settings, model)


def cloud_backends(settings: Settings | None = None) -> frozenset[str]:
    """The backend names that send prompts off the machine, a user's named ones too."""
    names = {n for n, cloud in _WHERE.items() if cloud}
    if settings is not None:
        names |= {n for n in settings.backends.named() if place(n, settings)[1] == "cloud"}
    return frozenset(names)


def local_backends() -> frozenset[str]:
    return frozenset(n for n, cloud in _WHERE.items() if not cloud)


def cloud_tiers(settings: Settings) -> frozenset[int]:
    """The tiers whose prompts leave the machine, their models counted (an Ollama `*-cloud` one)."""
    return frozenset(n for n in (1, 2, 3) if is_cloud(settings.tier(n).backend, settings, settings.tier(n).model))
