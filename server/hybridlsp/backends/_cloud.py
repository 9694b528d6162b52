"""What the cloud backends (OpenAI-compatible, Anthropic) share: an API key read from the
environment at each request, and an `Upstream` whose fixes name their settings."""

from __future__ import annotations

import os
from typing import Mapping

import httpx

from ..config import Settings
from ..errors import MissingCredentials
from ._http import Upstream


class ApiKey:
    """The key in `$var`, read at each request so a key set after start-up is picked up.
    An optional key (a local OpenAI-compatible server) is "" when no variable is named or set."""

    def __init__(self, backend: str, var: str, env: Mapping[str, str] | None = None, *, required: bool = True):
        self.backend = backend
        self.var = var
        self.required = required
        self._env = env  # None: os.environ
        self.fix = (
            f"set {var} in the environment your editor starts hybridlsp from, "
            "or route this tier to a local backend"
        )

    def get(self) -> str:
        env = os.environ if self._env is None else self._env
        key = (env.get(self.var) or "").strip() if self.var else ""
        if not key and self.required:
            raise MissingCredentials(self.backend, f"no API key in ${self.var}", self.fix)
        return key


def cloud_upstream(
    backend: str, base_url: str, key_var: str, settings: Settings, transport: httpx.AsyncBaseTransport | None
) -> Upstream:
    return Upstream(
        backend,
        base_url,
        settings,
        unavailable_fix=f"check the network, or backends.{backend}.base_url (now {base_url})",
        auth_fix=f"check the key in {key_var}",
        transport=transport,
    )
