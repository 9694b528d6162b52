"""Which host a backend talks to, and a short memory of the hosts that let a request down.

Two tiers served by one Ollama share its fate: when it refused a connection, stalled or answered
5xx for one of them, asking the other costs the same wait again. `HostCooldown` remembers such a
host for `dispatch.cooldown_s`. The dispatcher skips every hop on it for the rest of the request,
and in later requests while its cool-down lasts - unless every hop of a request is on such a host:
then the chain is tried as usual rather than failed untried.

    hosts = HostCooldown(cooldown_s=30)
    skip = hosts.skips(origins)      # at a request's start: {origin: why} for its hops' hosts
    hosts.failed(origin, error)      # True when the error says the host is unwell
    hosts.trouble(origin)            # the HostTrouble in force, or None
    hosts.succeeded(origin)          # it answered: forget it

Pure bookkeeping: no I/O, a clock that tests can replace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import BackendError, ConfigError
from ._http import origin
from .registry import spec

__all__ = ["HOST_FAILURES", "is_host_failure", "HostTrouble", "HostCooldown", "origin_of"]

# The failures that are the host's, not the request's: a connection refused, a limit passed
# (connect, first token, silence, total), 5xx. A 429 is about a key, a 4xx about the request, and a
# connection closed before an answer is about that one connection.
HOST_FAILURES = frozenset({"unavailable", "timeout", "server-error"})


def is_host_failure(error: BackendError) -> bool:
    return error.reason in HOST_FAILURES and not getattr(error, "connected", False)


def origin_of(backend: str, settings) -> str | None:
    """The `scheme://host:port` backend `backend` (a built-in or a `[backends.NAME]`) is pointed
    at; None for in-process ones and names the settings do not know.

    Asked for every hop of every request (the host cool-down, the answer cache's key), and
    parsing the URL costs more than the rest of those steps: the answers for the settings object
    in force are remembered, and forgotten when another settings object is asked about."""
    memo = _memo
    if memo[0] is not settings:
        memo[0], memo[1] = settings, {}
    try:
        return memo[1][backend]
    except KeyError:
        pass
    try:
        url = spec(backend, settings).base_url
    except ConfigError:
        return None  # not remembered: the error is the caller's to see each time
    found = memo[1][backend] = origin(url) if url else None
    return found


# [settings object, {backend: origin}]: a change of settings arrives as a new object (the
# engine's `update_settings`, a client's options), so the object's identity stands for its content
_memo: list = [None, {}]


@dataclass(frozen=True)
class HostTrouble:
    origin: str
    reason: str  # the error's tag: unavailable | timeout | server-error
    detail: str  # the error's message, for the skip's explanation
    until: float  # clock time the cool-down ends

    def why(self, now: float) -> str:
        return f"{self.origin} {self.reason} ({self.detail}); skipped for {max(0.0, self.until - now):.0f} s more"


class HostCooldown:
    def __init__(self, cooldown_s: float, clock=time.monotonic):
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._trouble: dict[str, HostTrouble] = {}

    def failed(self, origin: str | None, error: BackendError) -> bool:
        """Remember `origin` as unwell when `error` is the host's fault; say whether it was."""
        if origin is None or not is_host_failure(error):
            return False
        self._trouble[origin] = HostTrouble(origin, error.reason, error.detail, self.clock() + self.cooldown_s)
        return True

    def trouble(self, origin: str | None) -> HostTrouble | None:
        if origin is None:
            return None
        t = self._trouble.get(origin)
        if t is not None and self.clock() >= t.until:
            del self._trouble[origin]
            return None
        return t

    def skips(self, origins) -> dict[str, str]:
        """Hosts a new request skips, with why: those cooling down, unless that is all of them.
        `origins` are the request's hops' hosts in chain order (None for an in-process backend)."""
        now = self.clock()
        origins = list(origins)
        cooling = {o: t.why(now) for o in origins if (t := self.trouble(o)) is not None}
        return {} if cooling and all(o in cooling for o in origins) else cooling

    def succeeded(self, origin: str | None) -> None:
        if origin is not None:
            self._trouble.pop(origin, None)
