"""The notify stage: each answered request told to the observers registered on the engine
(telemetry exporters, status bars). An observer never breaks a request."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from ..request import RunRequest, RunResult

__all__ = ["Observer", "Observers"]

log = logging.getLogger(__name__)


class Observer(Protocol):
    def observe(self, req: RunRequest, result: RunResult) -> None:
        """Cheap and non-blocking: it runs on the request's path."""
        ...


class Observers:
    def __init__(self) -> None:
        self._all: list[Observer] = []

    def add(self, observer: Observer) -> None:
        self._all.append(observer)

    def remove(self, observer: Observer) -> None:
        if observer in self._all:
            self._all.remove(observer)

    def __iter__(self):
        return iter(list(self._all))

    def __len__(self) -> int:
        return len(self._all)

    def notify(self, req: RunRequest, result: RunResult) -> RunResult:
        for o in self._all:
            try:
                o.observe(req, result)
            except Exception:  # an exporter must never break a request
                log.exception("observer failed")
        return result

    async def aclose(self) -> None:
        """Shut down each observer that can be (an exporter flushes: blocking, so off the loop)."""
        while self._all:
            o = self._all.pop()
            shutdown = getattr(o, "shutdown", None)
            if shutdown is not None:
                try:
                    await asyncio.to_thread(shutdown)
                except Exception:
                    log.exception("observer shutdown failed")
