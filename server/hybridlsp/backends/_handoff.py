"""Items from a worker thread to the event loop, the loop woken once for all that are waiting.

`loop.call_soon_threadsafe` for every item (what an `asyncio.Queue` fed from a thread needs) wakes
the loop once an item: a write to its self-pipe, a turn of the loop and the GIL taken from the
worker each time. Here the worker appends to a deque and schedules a wake-up only when none is
pending, so a loop that is busy (blocked, or serving other requests) takes every item that piled
up meanwhile in one turn, and an idle loop still gets each item at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

__all__ = ["Handoff"]


class Handoff:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._items: deque = deque()
        self._lock = threading.Lock()
        self._wake_pending = False  # a `_wake` is scheduled on the loop and has not run yet
        self._waiter: asyncio.Future | None = None

    def put(self, item: object) -> bool:
        """From the worker thread. False once the loop is gone: nobody will take the item."""
        with self._lock:
            self._items.append(item)
            if self._wake_pending:
                return not self._loop.is_closed()
            self._wake_pending = True
        try:
            self._loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop is closed
            return False
        return True

    def _wake(self) -> None:
        with self._lock:
            self._wake_pending = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> list:
        """On the loop: every item put so far, in order; waits while there is none. An item put
        after the check below schedules (or finds pending) a `_wake`, which runs after the waiter
        exists, since both run on the loop."""
        while True:
            with self._lock:
                if self._items:
                    items = list(self._items)
                    self._items.clear()
                    return items
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
