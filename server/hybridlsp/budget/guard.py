"""Cloud budget reservations, so requests running at the same time cannot overshoot a cap together.

The tier policy compares the spend already *recorded* in the ledger with the caps, and a request
is recorded only once it has answered: 50 requests started together would all see the same spend
and all go to the cloud. So before the dispatcher sends a request to a cloud hop it reserves the
most that request can cost (`budget.status.estimate_cloud_cost`: its input plus a full output budget)
against the monthly and daily caps. The reservation is a row in the ledger, taken in one write
transaction that also reads the recorded spend and every other reservation
(`Ledger.reserve_cloud`), so two editors' servers and a command line sharing the ledger cannot
both take the last room. It is released once the request's real cost is in the ledger; one left
by a killed process is dropped when its process is gone, or after `RESERVATION_TTL_S`. A hop
whose reservation does not fit is skipped with the reason "budget", and the chain goes on to the
local tiers.

The bound: recorded spend + reservations never pass a cap, and a request cannot cost more than its
reservation unless the provider counts more input tokens than we reserved for (a tenth more than
our count, plus the chat format's per-message overhead) - so the overshoot stays below one
request's cost. An unpriced model (no catalogue price, no `ledger.price_overrides`) cannot be
reserved for; the ledger records it as unpriced, never as free.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Callable

from ..backends.base import ChatRequest
from ..backends.location import is_cloud
from ..routing.types import Hop
from .status import estimate_cloud_cost

__all__ = ["BudgetGuard", "Hold"]

log = logging.getLogger(__name__)

# Providers count tokens with their own tokenizers and add a few per message for the chat format.
_INPUT_MARGIN = 0.10
_TOKENS_PER_MESSAGE = 8


class BudgetGuard:
    """One per engine: takes and releases this process's reservations in the shared ledger."""

    def __init__(self, settings_fn: Callable[[], object], ledger):
        self._settings = settings_fn
        self._ledger = ledger
        self._mine: dict[str, float] = {}  # this process's reservations in flight: id -> USD
        self._dropping: set[asyncio.Future] = set()  # released, their ledger rows not yet deleted

    @property
    def reserved_usd(self) -> float:
        """USD this process holds for its requests in flight."""
        return sum(self._mine.values())

    def hold(self, input_tokens: int) -> Hold:
        """The reservations of one request whose prompt is `input_tokens` tokens (our count)."""
        return Hold(self, input_tokens)

    async def _reserve(self, hop: Hop, input_tokens: int, request: ChatRequest) -> tuple[str | None, str | None]:
        """(reservation id or None when nothing needs reserving, None), or (None, why there is no room)."""
        settings = self._settings()
        b = settings.budget
        if not (b.monthly_cloud_usd or b.daily_cloud_usd):
            return None, None
        reserve_in = input_tokens + int(input_tokens * _INPUT_MARGIN) + _TOKENS_PER_MESSAGE * len(request.messages)
        est = estimate_cloud_cost(settings, reserve_in, request.max_tokens, tier=hop.tier) if hop.tier else None
        if not est:
            return None, None
        # off the loop: another process may hold the ledger's write lock for a moment
        try:
            r = await asyncio.to_thread(self._ledger.reserve_cloud, est, b.monthly_cloud_usd, b.daily_cloud_usd)
        except sqlite3.Error as e:  # locked past busy_timeout, read-only, damaged: the cap cannot be checked
            return None, f"cloud budget could not be checked ({e}) -> {hop.label} skipped"
        if r.id is None:
            cap = b.monthly_cloud_usd if r.refused_by == "monthly" else b.daily_cloud_usd
            spent = r.month_spent if r.refused_by == "monthly" else r.day_spent
            return None, (
                f"{r.refused_by} cloud budget ${cap:.2f}: ${spent:.4f} spent + ${r.reserved:.4f} reserved by requests "
                f"in flight + up to ${est:.4f} for this one would pass it -> {hop.label} skipped"
            )
        self._mine[r.id] = est
        return r.id, None

    def _release(self, reservation_id: str) -> None:
        self._mine.pop(reservation_id, None)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a command line's own thread): nothing else waits for this one
            self._drop(reservation_id)
            return
        # off the loop: another process may hold the ledger's write lock for up to its busy timeout,
        # and every request and notification of this server would wait that long
        dropping = loop.run_in_executor(None, self._drop, reservation_id)
        self._dropping.add(dropping)
        dropping.add_done_callback(self._dropping.discard)

    def _drop(self, reservation_id: str) -> None:
        try:
            self._ledger.release_cloud(reservation_id)
        except sqlite3.Error:  # the row lapses with its process or its time limit
            log.warning("could not release budget reservation %s; it lapses by itself", reservation_id, exc_info=True)

    async def settle(self) -> None:
        """Wait until every released reservation's row is out of the ledger."""
        while self._dropping:
            await asyncio.wait(set(self._dropping))


class Hold:
    """One request's reservations: `admit` is the dispatcher's hook before each hop; `release`
    once the request's cost is in the ledger (or it failed)."""

    def __init__(self, guard: BudgetGuard, input_tokens: int):
        self.guard = guard
        self.input_tokens = input_tokens
        self.ids: list[str] = []

    async def admit(self, hop: Hop, request: ChatRequest) -> str | None:
        """None to go ahead, or why this cloud hop must be skipped."""
        if not is_cloud(hop.backend, self.guard._settings(), hop.model):
            return None
        rid, refused = await self.guard._reserve(hop, self.input_tokens, request)
        if rid is not None:
            self.ids.append(rid)
        return refused

    def release(self) -> None:
        for rid in self.ids:
            self.guard._release(rid)
        self.ids.clear()
