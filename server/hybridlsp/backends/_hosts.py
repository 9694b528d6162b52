"""Hosts as users write them, without httpx: Ollama's OLLAMA_HOST forms, Ollama's cloud models,
and the key a host is known by (one breaker and cool-down per host, however many tiers use it)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from urllib.parse import urlsplit

__all__ = ["DEFAULT_PORT", "ollama_base_url", "runs_in_cloud", "host_key", "is_loopback"]

DEFAULT_PORT = 11434

# Each function below is a pure function of a string from the settings, asked for every request
# (a backend's spec, its breaker key, whether it is loopback): a handful of distinct strings, and
# parsing them (ipaddress, urlsplit) cost a request more than its routing decision.
_remembered = lru_cache(maxsize=128)


@_remembered
def ollama_base_url(value: str) -> str:
    """OLLAMA_HOST (or backends.ollama.host) read the way Ollama reads it.

    No scheme means http on port 11434; an explicit http:// or https:// without a port means 80 or
    443; `:8080` alone is 127.0.0.1; a path is kept (Ollama behind a reverse proxy). The bind-all
    addresses 0.0.0.0 and :: (how a server is told to listen everywhere) are reached on loopback.
    """
    raw = value.strip().strip("\"'").strip()
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest, port = "http", raw, str(DEFAULT_PORT)
    else:
        scheme = scheme.lower()
        port = "443" if scheme == "https" else "80"
    hostport, _, path = rest.partition("/")
    host = hostport
    if hostport.startswith("["):  # [v6] or [v6]:port
        inside, _, after = hostport[1:].partition("]")
        host = inside
        if after.startswith(":") and after[1:]:
            port = after[1:]
    elif hostport.count(":") == 1:
        host, _, given = hostport.partition(":")
        port = given or port
    elif hostport.count(":") > 1:  # a bare IPv6 address
        host = hostport
    if not port.isdigit() or not 0 < int(port) < 65536:
        port = str(DEFAULT_PORT) if not sep else ("443" if scheme == "https" else "80")
    host = host or "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and ip.is_unspecified:
        host = "127.0.0.1" if ip.version == 4 else "::1"
        ip = ipaddress.ip_address(host)
    shown = f"[{host}]" if ip is not None and ip.version == 6 else host
    path = path.rstrip("/")
    return f"{scheme}://{shown}:{port}" + (f"/{path}" if path else "")


def runs_in_cloud(model: str) -> bool:
    """Ollama's cloud models (`gpt-oss:120b-cloud`, `qwen3-coder:480b-cloud`, `glm-4.6:cloud`) are
    named through a local Ollama but run on ollama.com: the prompt leaves the machine."""
    tag = model.rpartition(":")[2] if ":" in model else model
    return tag == "cloud" or tag.endswith("-cloud")


@_remembered
def host_key(base_url: str) -> str:
    """`scheme://host:port` of a base URL, the port filled in: two tiers on one server share it."""
    parts = urlsplit(base_url if "://" in base_url else "http://" + base_url)
    scheme = (parts.scheme or "http").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or (443 if scheme == "https" else 80)
    host = (parts.hostname or "").lower()
    return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}"


@_remembered
def is_loopback(base_url: str) -> bool:
    """Whether a base URL names this machine (127.0.0.0/8, ::1, localhost)."""
    host = (urlsplit(base_url if "://" in base_url else "http://" + base_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
