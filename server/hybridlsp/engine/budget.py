"""The budget stage: the cloud spend the policy compares with the caps, the question before an
unusually expensive cloud request, and the status after a request (for a warning in the editor).
The reservations themselves are `budget.guard`'s."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from ..backends.location import is_cloud
from ..budget.status import BudgetStatus, budget_status, confirmation_message, estimate_cloud_cost, needs_confirmation
from ..routing.types import Decision

__all__ = ["has_caps", "cloud_spend", "needs_asking", "status"]

Confirm = Callable[[str], Awaitable[bool]]


def has_caps(settings) -> bool:
    b = settings.budget
    return bool(b.monthly_cloud_usd or b.daily_cloud_usd)


async def cloud_spend(ledger, settings) -> tuple[float, float]:
    """(month, day) cloud spend recorded so far; zeros when no cap is set (nothing to compare)."""
    if not has_caps(settings):
        return 0.0, 0.0
    return await asyncio.to_thread(lambda: (ledger.month_cloud_spend(), ledger.day_cloud_spend()))


def needs_asking(settings, decision: Decision) -> str | None:
    """The question to ask before sending `decision`, or None when it needs none."""
    if not decision.chain or not is_cloud(decision.chain[0].backend):
        return None
    est = estimate_cloud_cost(settings, decision.input_tokens, decision.max_output_tokens, tier=decision.tier)
    if not needs_confirmation(settings, est):
        return None
    return confirmation_message(est, decision.model, decision.input_tokens, decision.max_output_tokens)


async def status(ledger, settings) -> BudgetStatus | None:
    if not has_caps(settings):
        return None
    month, day = await cloud_spend(ledger, settings)
    return budget_status(settings, month, day)
