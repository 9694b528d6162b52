"""Cloud budget reservations, so requests running at the same time cannot overshoot a cap together.

The tier policy compares the spend already *recorded* in the ledger with the caps, and a request
is recorded only once it has answered: 50 requests started together would all see the same spend
and all go to the cloud. So before the dispatcher sends a request to a cloud hop it reserves the
most that request can cost (`budget.estimate_cloud_cost`: its input plus a full output budget)
against the monthly and daily caps, under one lock. The reservation is released once the
request's real cost is in the ledger. A hop whose reservation does not fit is skipped with the
reason "budget", and the chain goes on to the local tiers.

The bound: recorded spend + reservations never pass a cap, and a request cannot cost more than its
reservation unless the provider counts more input tokens than we reserved for (a tenth more than
our count, plus the chat format's per-message overhead) - so the overshoot stays below one
request's cost. Per process: two hybridlsp processes share the ledger but not their reservations.
An unpriced model (no catalogue price, no `ledger.price_overrides`) cannot be reserved for; the
ledger records it as unpriced, never as free.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from .backends.base import ChatRequest
from .budget import estimate_cloud_cost
from .routing.types import Hop

__all__ = ["BudgetGuard", "Hold", "REASON"]

REASON = "budget"  # the fallback reason a skipped cloud hop records

# Providers count tokens with their own tokenizers and add a few per message for the chat format.
_INPUT_MARGIN = 0.10
_TOKENS_PER_MESSAGE = 8

SpendFn = Callable[[], Awaitable[tuple[float, float]]]  # (this month's, today's) recorded cloud spend


class BudgetGuard:
    """One per engine: the cloud money reserved by requests in flight."""

    def __init__(self, settings_fn: Callable[[], object], spend_fn: SpendFn):
        self._settings = settings_fn
        self._spend = spend_fn
        self._reserved = 0.0
        self._holds = 0  # reservations outstanding; at 0 the float total is reset exactly
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    @property
    def reserved_usd(self) -> float:
        return self._reserved

    def hold(self, input_tokens: int) -> Hold:
        """The reservations of one request whose prompt is `input_tokens` tokens (our count)."""
        return Hold(self, input_tokens)

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def _reserve(self, hop: Hop, input_tokens: int, request: ChatRequest) -> tuple[float, str | None]:
        """(amount reserved, None), or (0, why there is no room)."""
        settings = self._settings()
        b = settings.budget
        if not (b.monthly_cloud_usd or b.daily_cloud_usd):
            return 0.0, None
        reserve_in = input_tokens + int(input_tokens * _INPUT_MARGIN) + _TOKENS_PER_MESSAGE * len(request.messages)
        est = estimate_cloud_cost(settings, reserve_in, request.max_tokens, tier=hop.tier) if hop.tier else None
        if not est:
            return 0.0, None
        async with self._loop_lock():
            # Read the reservations before the spend: a request that settles in between is then
            # counted twice (safe), never not at all.
            reserved = self._reserved
            month, day = await self._spend()
            for name, cap, spent in (("monthly", b.monthly_cloud_usd, month), ("daily", b.daily_cloud_usd, day)):
                if cap and spent + reserved + est > cap:
                    return 0.0, (
                        f"{name} cloud budget ${cap:.2f}: ${spent:.4f} spent + ${reserved:.4f} reserved by requests "
                        f"in flight + up to ${est:.4f} for this one would pass it -> {hop.label} skipped"
                    )
            self._reserved += est
            self._holds += 1
            return est, None

    def _release(self, amount: float) -> None:
        self._holds -= 1
        self._reserved = 0.0 if self._holds <= 0 else max(0.0, self._reserved - amount)


class Hold:
    """One request's reservations: `admit` is the dispatcher's hook before each hop; `release`
    once the request's cost is in the ledger (or it failed)."""

    def __init__(self, guard: BudgetGuard, input_tokens: int):
        self.guard = guard
        self.input_tokens = input_tokens
        self.amounts: list[float] = []

    async def admit(self, hop: Hop, request: ChatRequest) -> str | None:
        """None to go ahead, or why this cloud hop must be skipped."""
        from .backends.registry import is_cloud  # the registry imports every backend: only when asked

        if not is_cloud(hop.backend):
            return None
        amount, refused = await self.guard._reserve(hop, self.input_tokens, request)
        if refused is None and amount:
            self.amounts.append(amount)
        return refused

    def release(self) -> None:
        for amount in self.amounts:
            self.guard._release(amount)
        self.amounts.clear()
